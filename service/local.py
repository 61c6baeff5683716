"""The model loaded in this process from $MODEL_BASE_PATH/$MODEL_NAME/<version>/, for use without
TF Serving. Like TF Serving, it serves the newest version and picks up newly published ones."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from facecore.modelinfo import EXPLAIN_SIGNATURE, INPUT_KEY, SERVING_SIGNATURE, read_model_info
from facecore.versions import SAVED_MODEL_FILE, complete_versions
from service.backend import Scores, ServedModel
from service.errors import ModelServerError, ModelUnavailable, NotReady
from service.signature import SignatureDefs, signature_problems

log = logging.getLogger(__name__)
RETRY_FAILED_S = 30.0
# Canonical status codes, shared by gRPC and TensorFlow errors: number -> name.
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


class LocalBackend:
    """Serves the newest (or the MODEL_VERSION) SavedModel; polls for new versions between requests."""

    def __init__(self, config, metrics) -> None:
        self._base = Path(config.model_base_path) / config.model_name
        self._pinned = config.model_version
        self._poll_s = config.model_poll_s
        self._metrics = metrics
        self._lock = threading.Lock()
        self._current: ServedModel | None = None
        self._failed: dict[int, float] = {}  # version -> when it failed to load
        self._problem = "no model loaded yet"
        self._next_poll = 0.0
        self._poll()

    def current(self) -> ServedModel:
        if time.monotonic() >= self._next_poll:
            self._poll()
        served = self._current
        if served is None:
            raise ModelUnavailable(self._problem)
        return served

    def refresh(self) -> ServedModel:
        self._next_poll = 0.0
        return self.current()

    def describe(self, version: int) -> ServedModel:
        served = self.current()
        if served.version != version:
            raise ModelUnavailable(f"version {version} is no longer loaded (now {served.version})")
        return served

    def predict(self, faces: np.ndarray, version: int | None = None, explain: bool = False) -> Scores:
        served = self.current() if version is None else self.describe(version)
        signature, keys = Scores.signature(explain)
        serve = served.handle.signatures[signature]
        try:
            outputs = serve(**{INPUT_KEY: tf.constant(faces)})  # faces: [N, S, S, channels] float32
        except tf.errors.OpError as exc:
            code = CODE_NAMES.get(exc.error_code, "UNKNOWN")
            self._metrics.model_server_errors.labels(code).inc()
            raise ModelServerError(f"the model failed: {code}: {exc.message}") from None
        return Scores.from_outputs({key: outputs[key].numpy() for key in keys}, served.version)

    def check_ready(self) -> ServedModel:
        try:
            return self.refresh()
        except ModelUnavailable as exc:
            raise NotReady(str(exc)) from exc

    def close(self) -> None:
        self._current = None

    def _poll(self) -> None:
        """Load the wanted version if it is new; one thread polls, the others keep serving."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._next_poll = time.monotonic() + self._poll_s
            wanted = self._wanted_version()
            if wanted is not None and (self._current is None or wanted != self._current.version):
                self._switch_to(wanted)
        finally:
            self._lock.release()

    def _wanted_version(self) -> int | None:
        versions = self._versions()
        if self._pinned is not None:
            versions = [v for v in versions if v == self._pinned]
        retry_before = time.monotonic() - RETRY_FAILED_S
        versions = [v for v in versions if self._failed.get(v, -1e18) < retry_before]
        if not versions and self._current is None:
            self._problem = self._problem_without_versions()
        return max(versions, default=None)

    def _versions(self) -> list[int]:
        """The complete versions (facecore/versions.py), as TF Serving's file system source sees them."""
        return list(complete_versions(self._base))

    def _problem_without_versions(self) -> str:
        if self._failed:
            return self._problem
        wanted = f"version {self._pinned}" if self._pinned is not None else "no version"
        return f"{wanted} found under {self._base}"

    def _switch_to(self, version: int) -> None:
        try:
            served = self._load(version)
        except (OSError, ValueError, KeyError, tf.errors.OpError, NotReady) as exc:
            self._failed[version] = time.monotonic()
            self._problem = f"cannot load {self._base / str(version)}: {exc}"
            log.warning("%s; still serving %s", self._problem, self._current and self._current.version)
            return
        log.info("serving %s version %d", served.name, version)
        self._current = served
        self._metrics.model_serving(served.name, served.version, served.exported_at)

    def _load(self, version: int) -> ServedModel:
        path = complete_versions(self._base)[version]
        loaded = tf.saved_model.load(str(path))
        info = read_model_info(loaded)
        signatures = read_signature_defs(path)
        problems = signature_problems(signatures, info)
        if problems:
            raise NotReady(f"version {version} does not match the service: " + "; ".join(problems))
        explainable = EXPLAIN_SIGNATURE in signatures
        for name in (SERVING_SIGNATURE, EXPLAIN_SIGNATURE) if explainable else (SERVING_SIGNATURE,):
            loaded.signatures[name](**{INPUT_KEY: tf.zeros((1, *info.input_shape))})  # warm-up
        return ServedModel(self._base.name, version, info, handle=loaded, explainable=explainable)


def read_signature_defs(version_dir: Path) -> SignatureDefs:
    """The SignatureDefs of the SavedModel in `version_dir`."""
    saved = saved_model_pb2.SavedModel.FromString((Path(version_dir) / SAVED_MODEL_FILE).read_bytes())
    return dict(saved.meta_graphs[0].signature_def)
