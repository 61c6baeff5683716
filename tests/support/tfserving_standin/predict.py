"""The Predict path, shared by gRPC Predict and warm-up: signature, inputs, batching, run."""

from __future__ import annotations

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tfserving_standin.batching import Batching
from tfserving_standin.errors import ServingError
from tfserving_standin.servable import Servable
from tfserving_standin.tensors import output_proto

DEFAULT_SIGNATURE = "serving_default"


def predict(servable: Servable, request, batching: Batching | None = None, as_content: bool = False):
    """The PredictResponse of `request` on `servable`, or TF Serving's error (predict_util.cc).

    Outputs in typed fields, or in tensor_content with `as_content`
    (--enable_serialization_as_tensor_content); see tfserving_standin.tensors.
    """
    name, signature = _signature(servable, request.model_spec.signature_name)
    wanted = _wanted_outputs(request, signature)
    size = batching.check_inputs(_shapes(request)) if batching else None  # the session's Run() checks first
    for key, proto in request.inputs.items():
        _check_input(key, proto, signature.inputs[key])
    inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
    outputs = {key: value for key, value in _run(servable, name, inputs).items() if key in wanted}
    if batching:
        batching.check_outputs(outputs, size)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = name
    for key in wanted:
        response.outputs[key].CopyFrom(output_proto(outputs[key], as_content))
    return response


def _signature(servable: Servable, name: str):
    name = name or DEFAULT_SIGNATURE
    if name not in servable.signature_defs:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature key "{name}" not found.')
    return name, servable.signature_defs[name]


def _wanted_outputs(request, signature) -> list[str]:
    """The output aliases to answer with, after PreProcessPrediction's alias checks."""
    if set(request.inputs) != set(signature.inputs):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input tensor alias not found in signature: {sorted(request.inputs)}. "
                           f"Inputs expected to be in the set {{{','.join(sorted(signature.inputs))}}}.")
    wanted = list(request.output_filter) or list(signature.outputs)
    unknown = [key for key in wanted if key not in signature.outputs]
    if unknown:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"output tensor alias not found in signature: {unknown[0]}")
    return wanted


def _shapes(request) -> list[list[int]]:
    return [[dim.size for dim in proto.tensor_shape.dim] for proto in request.inputs.values()]


def _check_input(key: str, proto, expected) -> None:
    """Dtype and shape against the SignatureDef, as TensorFlow's session checks its feeds."""
    if proto.dtype != expected.dtype:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Expects arg '{key}' to be {tf.dtypes.as_dtype(expected.dtype).name} "
                           f"but {tf.dtypes.as_dtype(proto.dtype).name} is provided")
    if expected.tensor_shape.unknown_rank:
        return
    got = [d.size for d in proto.tensor_shape.dim]
    want = [d.size for d in expected.tensor_shape.dim]
    if len(got) != len(want) or any(w not in (-1, g) for g, w in zip(got, want)):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input '{key}' has shape {got}, the signature expects {want}")


def _run(servable: Servable, signature: str, inputs: dict) -> dict:
    try:
        outputs = servable.model.signatures[signature](**inputs)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(exc).splitlines()[0]) from None
    return {key: value.numpy() for key, value in outputs.items()}
