"""Would TF Serving load this version and answer it? The check behind `python -m trainer verify`.

TF Serving (with --enable_batching, as deployed) loads the SavedModel's `serve` MetaGraph,
wraps every signature in a batching session and replays the version's warm-up requests through
it; any failure fails the load. A batching session refuses a Run() without an input, with an
input or output that has no 0th (batch) dimension, with inputs whose 0th dimensions differ,
larger than max_batch_size, or whose outputs' 0th dimension is not the batch's size.

So this check, on the folder about to be published: loads it; holds every signature to those
rules, first on its SignatureDef, then on a batch of zeros (a signature no warm-up request
touches would otherwise fail only its first client); and replays every warm-up request as TF
Serving does. Its own code, not tests/support/tfserving_standin's: the stand-in copies TF
Serving and stays independent of the trainer; a test holds broken exports to both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import saved_model_pb2

from facecore.tfserving_api import serving_api
from facecore.versions import SAVED_MODEL_FILE
from trainer.publishing.export import WARMUP_FILE
from trainer.publishing.loadcheck import NotServable

SERVE_TAG = "serve"
INIT_OP_SIGNATURE = "__saved_model_init_op"  # tf.saved_model's, TF Serving's kSavedModelInitOpSignatureKey
DEFAULT_SIGNATURE = "serving_default"
MAX_BATCH_SIZE = 1000  # TF's batch scheduler default; k8s/base/tfserving/batching.config allows 128
MAX_WARMUP_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords
PROBE_BATCH = 2


def check_version(version_dir: Path, max_batch_size: int = MAX_BATCH_SIZE) -> int:
    """Raise NotServable unless TF Serving would load `version_dir`; the warm-up requests replayed."""
    version_dir = Path(version_dir)
    signature_defs, functions = _load(version_dir)
    for name, signature in signature_defs.items():
        _check_signature(name, signature, functions[name])
    return _replay_warmup(version_dir / "assets.extra" / WARMUP_FILE, signature_defs, functions, max_batch_size)


def _load(version_dir: Path) -> tuple[dict, dict]:
    """The `serve` MetaGraph's SignatureDefs and the loaded model's functions, by name."""
    try:
        saved = saved_model_pb2.SavedModel.FromString((version_dir / SAVED_MODEL_FILE).read_bytes())
        meta_graphs = [graph for graph in saved.meta_graphs if SERVE_TAG in graph.meta_info_def.tags]
        if not meta_graphs:
            raise NotServable(f"its SavedModel has no MetaGraph tagged {SERVE_TAG!r}")
        loaded = tf.saved_model.load(str(version_dir), tags=[SERVE_TAG])
    except (OSError, DecodeError, ValueError, tf.errors.OpError) as exc:
        raise NotServable(f"its SavedModel does not load: {_first_line(exc)}") from None
    # The init op's entry runs once at load; TF Serving serves every other one.
    signature_defs = {name: signature for name, signature in meta_graphs[0].signature_def.items()
                      if name != INIT_OP_SIGNATURE}
    if not signature_defs:
        raise NotServable("its SavedModel has no signature")
    return signature_defs, dict(loaded.signatures)


def _check_signature(name: str, signature, function) -> None:
    """The batching session's rules, on the SignatureDef, then on a probe batch of zeros."""
    inputs = {key: _dims(info) for key, info in signature.inputs.items()}
    if not inputs:
        raise NotServable(f"signature {name!r} has no input (batching: a Run() must have at least one input tensor)")
    for kind, tensors in (("input", inputs), ("output", {k: _dims(v) for k, v in signature.outputs.items()})):
        for key, dims in tensors.items():
            if dims == []:
                raise NotServable(f"signature {name!r}: {kind} {key!r} is a scalar (batching needs a 0th dimension)")
    sizes = {dims[0] for dims in inputs.values() if dims and dims[0] >= 0}
    if len(sizes) > 1:
        raise NotServable(f"signature {name!r}: inputs have different fixed 0th dimensions {sorted(sizes)}")
    batch = sizes.pop() if sizes else PROBE_BATCH
    feeds = {key: tf.zeros(_probe_shape(dims, batch), signature.inputs[key].dtype) for key, dims in inputs.items()}
    outputs = _run(name, function, feeds, "a batch of zeros")
    _check_outputs(name, outputs, batch, "a batch of zeros")


def _replay_warmup(path: Path, signature_defs: dict, functions: dict, max_batch_size: int) -> int:
    """Replay every PredictLog of the warm-up file (none is fine); the number replayed."""
    if not path.exists():
        return 0
    log_class = serving_api().message("tensorflow.serving.PredictionLog")
    count = 0
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise NotServable(f"its warm-up file holds more than {MAX_WARMUP_RECORDS} records")
            entry = _parse(log_class, record.numpy(), count)
            _replay(entry.predict_log.request, signature_defs, functions, max_batch_size, f"warm-up request {count}")
    except tf.errors.DataLossError as exc:
        raise NotServable(f"its warm-up file is not in TFRecord format: {_first_line(exc)}") from None
    return count


def _parse(log_class, record: bytes, count: int):
    try:
        entry = log_class.FromString(record)
    except DecodeError:
        raise NotServable(f"warm-up record {count} is not a PredictionLog") from None
    if entry.WhichOneof("log_type") != "predict_log":
        raise NotServable(f"warm-up record {count} is a {entry.WhichOneof('log_type')}, not a predict_log")
    return entry


def _replay(request, signature_defs: dict, functions: dict, max_batch_size: int, what: str) -> None:
    """One PredictRequest, checked as TF Serving's Predict and batching session check it."""
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    if name not in signature_defs:
        raise NotServable(f"{what} asks for signature {name!r}, which the model lacks")
    signature = signature_defs[name]
    if set(request.inputs) != set(signature.inputs):
        raise NotServable(f"{what} gives inputs {sorted(request.inputs)}, signature {name!r} takes "
                          f"{sorted(signature.inputs)}")
    unknown = [key for key in request.output_filter if key not in signature.outputs]
    if unknown:
        raise NotServable(f"{what} asks for output {unknown[0]!r}, which signature {name!r} lacks")
    feeds = {key: _tensor(proto, signature.inputs[key], f"{what}, input {key!r}")
             for key, proto in request.inputs.items()}
    batch = _batch_size([feed.shape for feed in feeds.values()], max_batch_size, f"{what} ({name!r})")
    outputs = _run(name, functions[name], feeds, what)
    _check_outputs(name, {k: v for k, v in outputs.items() if k in (request.output_filter or outputs)}, batch, what)


def _tensor(proto, expected, what: str) -> tf.Tensor:
    """The request's tensor, after the dtype and shape checks of the session's feed."""
    array = tf.make_ndarray(tensor_pb2.TensorProto.FromString(proto.SerializeToString()))
    value = tf.constant(array)
    if value.dtype != tf.dtypes.as_dtype(expected.dtype):
        raise NotServable(f"{what} is {value.dtype.name}, the signature expects "
                          f"{tf.dtypes.as_dtype(expected.dtype).name}")
    want = _dims(expected)
    if want is not None and (len(want) != value.shape.rank or any(w not in (-1, g) for g, w in zip(value.shape, want))):
        raise NotServable(f"{what} has shape {value.shape.as_list()}, the signature expects {want}")
    return value


def _batch_size(shapes: list, max_batch_size: int, what: str) -> int:
    if any(len(shape) == 0 for shape in shapes):
        raise NotServable(f"{what}: an input is a scalar (batching needs a 0th dimension)")
    sizes = {shape[0] for shape in shapes}
    if len(sizes) > 1:
        raise NotServable(f"{what}: inputs' 0th dimensions differ ({sorted(sizes)}), which batching refuses")
    size = sizes.pop()
    if size > max_batch_size:
        raise NotServable(f"{what}: batch {size} is larger than the maximum input batch size {max_batch_size}")
    return size


def _run(name: str, function, feeds: dict, what: str) -> dict[str, np.ndarray]:
    try:
        outputs = function(**feeds)
    except (tf.errors.OpError, ValueError, TypeError) as exc:
        raise NotServable(f"signature {name!r} fails on {what}: {_first_line(exc)}") from None
    return {key: value.numpy() for key, value in outputs.items()}


def _check_outputs(name: str, outputs: dict[str, np.ndarray], batch: int, what: str) -> None:
    """Batching splits every output along its 0th dimension back into the requests it merged."""
    for key, value in outputs.items():
        if np.ndim(value) == 0 or np.shape(value)[0] != batch:
            raise NotServable(f"signature {name!r} on {what} of {batch}: output {key!r} has shape "
                              f"{list(np.shape(value))}, not a 0th dimension of {batch} (batching refuses it)")


def _dims(info) -> list[int] | None:
    """A TensorInfo's dimensions (-1: any), or None when even its rank is unknown."""
    shape = info.tensor_shape
    return None if shape.unknown_rank else [dim.size for dim in shape.dim]


def _probe_shape(dims: list[int] | None, batch: int) -> list[int]:
    return [batch] if dims is None else [batch, *[size if size >= 0 else 1 for size in dims[1:]]]


def _first_line(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
