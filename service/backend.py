"""The one interface to a model, whether served by TF Serving or loaded in this process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import numpy as np

from facecore.modelinfo import ModelInfo
from service.config import ConfigError

# Canonical status codes, shared by gRPC and TensorFlow errors: number -> name.
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


@dataclass(frozen=True)
class ServedModel:
    """One version of the model and what it says about itself."""

    name: str
    version: int
    info: ModelInfo
    handle: Any = None  # the loaded model, for the local backend

    @property
    def exported_at(self) -> float | None:
        value = self.info.extra.get("exported_at")
        return float(value) if value is not None else None


@dataclass(frozen=True)
class Scores:
    """Class probabilities [N, C] and the version that computed them."""

    probabilities: np.ndarray
    version: int


class ModelBackend(Protocol):
    """What the service needs from a model server."""

    def current(self) -> ServedModel:
        """The version in use (raises ModelUnavailable when there is none)."""

    def refresh(self) -> ServedModel:
        """Ask the model server now which version serves, and return it."""

    def describe(self, version: int) -> ServedModel:
        """A specific version (e.g. one that just answered a prediction)."""

    def predict(self, faces: np.ndarray, version: int | None = None) -> Scores:
        """Probabilities for faces [N, S, S, 1] float32, from `version` or the current one."""

    def check_ready(self) -> ServedModel:
        """Verify the model is loaded and its signature matches, else raise NotReady."""

    def close(self) -> None:
        """Release channels and models."""


def create_backend(config, metrics) -> ModelBackend:
    """The backend chosen by SERVING_BACKEND (imported here: only `local` needs TensorFlow)."""
    if config.backend == "tfserving":
        from service.tfserving import TFServingBackend

        return TFServingBackend(config, metrics)
    try:
        from service.savedmodel import SavedModelBackend
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("tensorflow"):
            raise
        raise ConfigError("SERVING_BACKEND=local loads the model in this process and needs TensorFlow "
                          "(pip install 'faceid[service-local]'); this installation has only the "
                          "tfserving backend") from None
    return SavedModelBackend(config, metrics)
