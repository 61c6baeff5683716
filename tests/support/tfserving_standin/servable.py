"""One loaded version of a model: its SavedModel and SignatureDefs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2

from facecore.versions import SAVED_MODEL_FILE, is_complete
from tfserving_standin.errors import ServingError


@dataclass
class Servable:
    """One loaded version."""

    version: int
    model: object
    signature_defs: dict


def load_servable(path: Path, version: int) -> Servable:
    """Load the SavedModel in `path`, or raise the ServingError TF Serving's load fails with."""
    path = Path(path)
    if not is_complete(path):  # the project's rule for a complete version is TF Serving's
        raise ServingError(grpc.StatusCode.NOT_FOUND,
                           "Specified file path does not appear to contain a SavedModel bundle (should have "
                           f"a file called `{SAVED_MODEL_FILE}`)\nSpecified file path: {path}")
    try:
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / SAVED_MODEL_FILE).read_bytes())
        model = tf.saved_model.load(str(path))
    except tf.errors.OpError as exc:
        raise ServingError.from_code_number(exc.error_code, exc.message) from None
    except (DecodeError, OSError, ValueError) as exc:
        raise ServingError(grpc.StatusCode.DATA_LOSS, f"Could not load the SavedModel at {path}: {exc}") from None
    return Servable(version, model, dict(saved.meta_graphs[0].signature_def))
