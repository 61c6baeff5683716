"""Does a SavedModel's signature accept what the service sends? One check for both backends.

Both TF Serving's GetModelMetadata and the SavedModel file hold the same SignatureDef protos; the
check reads them through their own descriptors, so messages of TensorFlow's classes and of
facecore.tfserving_api's do alike, and this module imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facecore.modelinfo import (
    INPUT_KEY, METADATA_INPUT_KEY, METADATA_SIGNATURE, MODEL_INFO_KEY, PROBABILITIES_KEY, SCORE_KEY,
    SERVING_SIGNATURE, THRESHOLD_KEY, ModelInfo,
)
from facecore.tensors import dtype_name

SignatureDefs = Mapping[str, Any]  # signature name -> tensorflow.SignatureDef message


def signature_problems(signatures: SignatureDefs, info: ModelInfo) -> list[str]:
    """Sentences describing every way the model differs from the service's requests (empty: fine)."""
    serving = signatures.get(SERVING_SIGNATURE)
    if serving is None:
        return [f"the model has no '{SERVING_SIGNATURE}' signature"]
    problems = _tensor_problems(serving.inputs, INPUT_KEY, "DT_FLOAT", (-1, *info.input_shape), "input")
    problems += _tensor_problems(serving.outputs, PROBABILITIES_KEY, "DT_FLOAT",
                                 (-1, len(info.class_names)), "output")
    rule = [problem for key in (SCORE_KEY, THRESHOLD_KEY)
            for problem in _tensor_problems(serving.outputs, key, "DT_FLOAT", (-1,), "output")]
    if rule:  # models exported before the open-set rule moved into the SavedModel
        problems += rule + ["the model carries no unknown-face rule: retrain and publish it with this trainer"]
    extra = sorted(set(serving.inputs) - {INPUT_KEY})
    if extra:
        problems.append(f"the model also expects input(s) {', '.join(extra)} that the service does not send")
    metadata = signatures.get(METADATA_SIGNATURE)
    if metadata is None:
        problems.append(f"the model has no '{METADATA_SIGNATURE}' signature")
    else:
        problems += _tensor_problems(metadata.inputs, METADATA_INPUT_KEY, "DT_INT32", (-1,),
                                     f"'{METADATA_SIGNATURE}' input")
        problems += _tensor_problems(metadata.outputs, MODEL_INFO_KEY, "DT_STRING", (-1,),
                                     f"'{METADATA_SIGNATURE}' output")
    return problems


def _tensor_problems(tensors, key: str, dtype: str, shape: tuple[int, ...], kind: str) -> list[str]:
    if key not in tensors:
        return [f"{kind} '{key}' is missing (has: {', '.join(sorted(tensors)) or 'none'})"]
    tensor = tensors[key]
    problems = []
    if dtype_name(tensor) != dtype:
        problems.append(f"{kind} '{key}' is {dtype_name(tensor)}, expected {dtype}")
    if not tensor.tensor_shape.unknown_rank:
        dims = tuple(d.size for d in tensor.tensor_shape.dim)
        if len(dims) != len(shape) or any(d != s and -1 not in (d, s) for d, s in zip(dims, shape)):
            problems.append(f"{kind} '{key}' has shape {list(dims)}, expected {list(shape)}")
    return problems
