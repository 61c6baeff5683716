"""GetModelMetadata, shared by gRPC and REST (get_model_metadata_impl.cc)."""

from __future__ import annotations

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2

from tfserving_standin.errors import ServingError
from tfserving_standin.versions import ModelVersions

SIGNATURE_DEF = "signature_def"  # GetModelMetadataImpl::kSignatureDef, the only field TF Serving answers


def model_metadata(versions: ModelVersions, request) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The response to a GetModelMetadataRequest, or TF Serving's error; runs no session."""
    if not request.HasField("model_spec"):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    # ValidateGetModelMetadataRequest: the fields are checked before the servable is looked up.
    if not request.metadata_field:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           "GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
    servable = versions.find(request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = versions.name  # the servable's id, not the request's spec
    response.model_spec.version.value = servable.version
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for key, value in servable.signature_defs.items():
        signatures.signature_def[key].CopyFrom(value)
    response.metadata[SIGNATURE_DEF].Pack(signatures)
    return response
