"""Model warm-up: replay a version's recorded requests while it loads (saved_model_warmup_util.cc)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import grpc
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import prediction_log_pb2

from tfserving_standin.errors import ServingError

log = logging.getLogger("tfserving_standin")
WARMUP_PATH = ("assets.extra", "tf_serving_warmup_requests")  # kSavedModelAssetsExtraDirectory, kRequestsFileName
MAX_RECORDS = 1000  # WarmupConsts::kMaxNumRecords
_LOG_TYPE_NUMBERS = {field.name: field.number
                     for field in prediction_log_pb2.PredictionLog.DESCRIPTOR.oneofs_by_name["log_type"].fields}


def warm_up(version_path: Path, predict: Callable[[object], object]) -> int:
    """Run every request in the version's warm-up file through `predict`; the number of records.

    Any failure raises ServingError, which fails the version's load, as in TF Serving.
    """
    path = Path(version_path).joinpath(*WARMUP_PATH)
    if not path.exists():
        log.info("No warmup data file found at %s", path)  # warm-up data is optional: OK
        return 0
    started = time.monotonic()
    try:
        count = _replay(path, predict)
    except tf.errors.DataLossError as exc:
        raise ServingError(grpc.StatusCode.DATA_LOSS,
                           f"{exc.message}. Please verify your warmup data is in TFRecord format.") from None
    log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d. "
             "Elapsed time (microseconds): %d.", path, count, (time.monotonic() - started) * 1e6)
    return count


def _replay(path: Path, predict: Callable[[object], object]) -> int:
    count = 0
    for record in tf.data.TFRecordDataset(str(path)):
        _replay_one(_parse(record.numpy(), path), predict)
        count += 1
        if count > MAX_RECORDS:  # checked after running the record, as TF Serving does
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    return count


def _parse(record: bytes, path: Path):
    entry = prediction_log_pb2.PredictionLog()
    try:
        entry.ParseFromString(record)
    except DecodeError:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Failed to parse warmup record: {record!r} from {path}") from None
    return entry


def _replay_one(entry, predict: Callable[[object], object]) -> None:
    """Run one PredictionLog (its request's model_spec.name is not checked: warm-up runs the
    version's session directly)."""
    kind = entry.WhichOneof("log_type")
    if kind != "predict_log":
        # TF Serving also replays classify, regress and multi-inference logs; this system's
        # export writes only predict logs, so the stand-in refuses the others like unknown ones.
        raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                           f"Unsupported log_type for warmup: {_LOG_TYPE_NUMBERS.get(kind, 0)}")
    predict(entry.predict_log.request)
