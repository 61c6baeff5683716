"""TF Serving's gRPC services: PredictionService (Predict, GetModelMetadata) and ModelService
(GetModelStatus)."""

from __future__ import annotations

import time

import grpc
from tensorflow_serving.apis import (
    get_model_status_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc,
)

from tfserving_standin.batching import Batching
from tfserving_standin.errors import ServingError
from tfserving_standin.metadata import model_metadata
from tfserving_standin.metrics import Metrics
from tfserving_standin.predict import predict
from tfserving_standin.versions import ModelVersions


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; `delay_s` sleeps before each Predict (for deadline tests);
    `as_content`: --enable_serialization_as_tensor_content."""

    def __init__(self, versions: ModelVersions, metrics: Metrics, batching: Batching | None = None,
                 delay_s: float = 0.0, as_content: bool = False) -> None:
        self.versions = versions
        self.metrics = metrics
        self.batching = batching
        self.delay_s = delay_s
        self.as_content = as_content

    def Predict(self, request, context):
        started = time.monotonic()
        time.sleep(self.delay_s)
        try:
            return self._answer(context, request, lambda: predict(self.versions.find(request.model_spec), request,
                                                                  self.batching, self.as_content))
        finally:
            self.metrics.observe_latency(request.model_spec.name, "Predict", time.monotonic() - started)

    def GetModelMetadata(self, request, context):
        return self._answer(context, request, lambda: model_metadata(self.versions, request))

    def _answer(self, context, request, call):
        """call(), counted by status; a ServingError becomes the call's gRPC status."""
        try:
            response = call()
        except ServingError as exc:
            self.metrics.count(request.model_spec.name, exc.code)
            context.abort(exc.code, str(exc))
        self.metrics.count(request.model_spec.name, grpc.StatusCode.OK)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus."""

    def __init__(self, versions: ModelVersions) -> None:
        self.versions = versions

    def GetModelStatus(self, request, context):
        try:
            statuses = self.versions.statuses(request.model_spec)
        except ServingError as exc:
            context.abort(exc.code, str(exc))
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=statuses)
