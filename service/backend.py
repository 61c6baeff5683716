"""The one interface to a model, whether served by TF Serving or loaded in this process.

Types only: the backends are service/tfserving.py and service/local.py, chosen by the app
factory (service/app.py) from SERVING_BACKEND.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import numpy as np

from facecore.modelinfo import (
    EXPLAIN_SIGNATURE, HEATMAP_KEY, PROBABILITIES_KEY, SCORE_KEY, SERVING_SIGNATURE, THRESHOLD_KEY, ModelInfo,
)


@dataclass(frozen=True)
class ServedModel:
    """One version of the model and what it says about itself."""

    name: str
    version: int
    info: ModelInfo
    handle: Any = None  # the loaded model, for the local backend
    explainable: bool = False  # it has the `explain` signature (heatmaps per face)

    @property
    def exported_at(self) -> float | None:
        value = self.info.extra.get("exported_at")
        return float(value) if value is not None else None

    def summary(self) -> dict:
        """The version as /readyz shows it: a few fields, the same size with 19 people or 10,000
        (probes call it every few seconds; /v1/models has every name and threshold)."""
        return {"name": self.name, "version": self.version, "classes": len(self.info.class_names),
                "unknown_threshold": self.info.unknown_threshold, "exported_at": self.exported_at}

    def describe(self) -> dict:
        """The version as /v1/models shows it: its own metadata."""
        info = self.info
        return {
            "name": self.name,
            "version": self.version,
            "class_names": list(info.class_names),
            "input_size": info.preprocess.input_size,
            "input_shape": list(info.input_shape),
            "unknown_threshold": info.unknown_threshold,
            "class_thresholds": dict(zip(info.class_names, info.thresholds())),
            "exported_at": self.exported_at,
            "preprocess": info.preprocess.to_dict(),
            "detector": info.detector.to_dict(),
        }


@dataclass(frozen=True)
class Scores:
    """What the model says about N faces, and the version that said it: class probabilities
    [N, C], and the open-set rule's score and threshold [N] (unknown: score < threshold); asked
    to explain, a heatmap [N, S, S] per face in model-input pixels."""

    OUTPUTS: ClassVar[tuple[str, ...]] = (PROBABILITIES_KEY, SCORE_KEY, THRESHOLD_KEY)

    probabilities: np.ndarray
    score: np.ndarray
    threshold: np.ndarray
    version: int
    heatmaps: np.ndarray | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, np.ndarray], version: int) -> "Scores":
        """From the serving (or explain) signature's outputs (`outputs(explain)`)."""
        return cls(outputs[PROBABILITIES_KEY], outputs[SCORE_KEY], outputs[THRESHOLD_KEY], version,
                   outputs.get(HEATMAP_KEY))

    @classmethod
    def signature(cls, explain: bool) -> tuple[str, tuple[str, ...]]:
        """The signature to call and the outputs to ask it for."""
        return (EXPLAIN_SIGNATURE, (*cls.OUTPUTS, HEATMAP_KEY)) if explain else (SERVING_SIGNATURE, cls.OUTPUTS)


class ModelBackend(Protocol):
    """What the service needs from a model server. A backend points the model gauges
    (Metrics.model_serving) at each version it starts using."""

    def current(self) -> ServedModel:
        """The version in use (raises ModelUnavailable when there is none)."""

    def refresh(self) -> ServedModel:
        """Ask the model server now which version serves, and return it."""

    def describe(self, version: int) -> ServedModel:
        """A specific version (e.g. one that just answered a prediction)."""

    def predict(self, faces: np.ndarray, version: int | None = None, explain: bool = False) -> Scores:
        """Probabilities for faces [N, S, S, channels] float32, from `version` or the current one;
        with `explain`, from its `explain` signature, heatmaps too."""

    def check_ready(self) -> ServedModel:
        """Verify the model is loaded and its signature matches, else raise NotReady."""

    def close(self) -> None:
        """Release channels and models."""
