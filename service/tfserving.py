"""The model served by TF Serving, over gRPC: one channel per worker, a deadline on every call.

Needs no TensorFlow: messages come from facecore.tfserving_api, tensors from facecore.tensors.
"""

from __future__ import annotations

import json
import threading

import grpc
import numpy as np

from facecore.modelinfo import (
    EXPLAIN_SIGNATURE, INPUT_KEY, METADATA_SIGNATURE, MODEL_INFO_KEY, SERVING_SIGNATURE, ModelInfo,
    info_from_output, metadata_inputs,
)
from facecore.tensors import to_array
from facecore.tfserving_api import serving_api
from service.backend import Scores, ServedModel
from service.errors import ModelServerError, ModelTimeout, ModelUnavailable, NotReady, ServiceError
from service.signature import signature_problems

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# How the channel finds TF Serving again after a restart (docs/service.md, "Backends";
# benchmarks/restart_benchmark.py measures it). gRPC's defaults (doc/connection-backoff.md) space
# reconnect attempts 1 s, 1.6 s, 2.6 s, ... up to 120 s apart: a worker kept failing for 7.9 s
# after TF Serving was back, and for longer the longer it had been away.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # First retry 0.1 s after a failed connect (gRPC's floor): a server that refused one
    # connection during a brief blip is found again at once.
    ("grpc.initial_reconnect_backoff_ms", 100),
    # Attempts at most 0.5 s apart (+-20% jitter): a worker is connected again at most ~0.6 s after
    # TF Serving opens its port (goal: 2 s). While it is away each worker tries twice a second,
    # one refused TCP connect each: nothing for TF Serving or the network.
    ("grpc.max_reconnect_backoff_ms", 500),
    # Despite its name, the connect timeout (gRPC's default 20 s). Calls wait for the first
    # connection after a lost one; to a peer that neither accepts nor refuses (a node gone) they
    # would wait until their deadline, 504s. 1 s is ample for a TCP and HTTP/2 handshake on a
    # cluster network, even to a busy TF Serving, and the next attempt may reach a live replica.
    ("grpc.min_reconnect_backoff_ms", 1000),
    # Keepalive pings no more often than TF Serving's gRPC server accepts by default (5 min; more
    # often, it answers GOAWAY too_many_pings), only while calls are in flight. Turning keepalive
    # on also sets TCP_USER_TIMEOUT to keepalive_timeout_ms on the connection: data unacknowledged
    # for 20 s (a peer that vanished without a FIN or RST) closes it and the channel reconnects,
    # where TCP alone would retransmit for ~15 min, every call meanwhile a 504.
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
# Calls spread over every address TFSERVING_ADDRESS resolves to (docs/deployment.md, "Scaling TF
# Serving"). kube-proxy balances connections, not calls, and a worker keeps one HTTP/2 connection:
# behind a ClusterIP all of a worker's calls go to one replica. round_robin keeps a connection to
# each address (a headless Service's DNS answer: one per ready pod) and sends each call to the next
# one that is connected. New pods are found when gRPC resolves the name again: when a connection
# closes, which TF Serving's --grpc_channel_arguments=grpc.max_connection_age_ms makes happen
# every 30 s (k8s/base/tfserving.yaml).
# A call that fails with UNAVAILABLE (its replica died or closed with the call in flight, or it
# never reached one) is tried again, on the next replica: Predict and the metadata calls only read,
# so a second try cannot do anything twice. A rolling restart then fails no request, even where a
# replica stops abruptly (tensorflow_model_server has no SIGTERM handler). Three tries in all,
# 50-200 ms apart, within the call's one deadline (TFSERVING_TIMEOUT_S).
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": PREDICTION_SERVICE}, {"service": MODEL_SERVICE}],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "0.2s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }],
}
BALANCING_OPTIONS = [
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
    # Ours, not whatever a DNS TXT record might say.
    ("grpc.service_config_disable_resolution", 1),
    # gRPC keeps a request for a retry only up to this size (default 256 KiB: one face of the
    # descriptor's 232x232 grey float32 input is 215 KB, two are over it, and a bigger call is
    # never retried).
    ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES),
]
VERSION_STATE = "tensorflow.serving.ModelVersionStatus.State"
KEPT_DESCRIPTIONS = 4


class TFServingBackend:
    """Predictions, metadata and status from TF Serving's PredictionService and ModelService."""

    def __init__(self, config, metrics) -> None:
        self._config = config
        self._metrics = metrics
        self._api = serving_api()
        self._channel = grpc.insecure_channel(config.tfserving_address, options=CHANNEL_OPTIONS + BALANCING_OPTIONS)
        self._connectivity = Connectivity(self._channel)
        self._predict = self._api.method(self._channel, PREDICTION_SERVICE, "Predict")
        self._get_metadata = self._api.method(self._channel, PREDICTION_SERVICE, "GetModelMetadata")
        self._get_status = self._api.method(self._channel, MODEL_SERVICE, "GetModelStatus")
        self._lock = threading.Lock()
        self._described: dict[int, ServedModel] = {}
        self._current: ServedModel | None = None

    def current(self) -> ServedModel:
        """The version in use; fails at once, before any work on the photo, while no model server
        can be reached (a call would fail too, but only after decoding and detection)."""
        if self._connectivity.failing():
            raise ModelUnavailable(f"TF Serving at {self._config.tfserving_address}: no connection "
                                   f"(reconnecting)")
        return self._current or self.refresh()

    def refresh(self) -> ServedModel:
        """Which version serves now (GetModelMetadata), available (GetModelStatus) and usable."""
        metadata = self._call(self._get_metadata, self._metadata_request())
        version = metadata.model_spec.version.value
        self._require_available(version)
        return self._use(self._describe(version, metadata))

    def check_ready(self) -> ServedModel:
        try:
            return self.refresh()
        except NotReady:
            raise
        except ServiceError as exc:
            raise NotReady(f"{exc.title.lower()}: {exc}") from exc

    def describe(self, version: int) -> ServedModel:
        return self._use(self._described.get(version) or self._describe(version, None))

    def predict(self, faces: np.ndarray, version: int | None = None, explain: bool = False) -> Scores:
        signature, keys = Scores.signature(explain)
        request = self._api.predict_request(self._spec(signature, version),
                                            {INPUT_KEY: faces}, list(keys))  # [N, S, S, channels] float32
        response = self._call(self._predict, request)
        return Scores.from_outputs({key: to_array(response.outputs[key]) for key in keys},
                                   response.model_spec.version.value)

    def close(self) -> None:
        self._connectivity.close()
        self._channel.close()

    def _use(self, served: ServedModel) -> ServedModel:
        """Make `served` the current version; the model gauges follow it."""
        self._current = served
        self._metrics.model_serving(served.name, served.version, served.exported_at)
        return served

    def _describe(self, version: int, metadata) -> ServedModel:
        """ModelInfo and signature check of one version; only matching versions are kept."""
        if version in self._described:
            return self._described[version]
        if metadata is None:
            metadata = self._call(self._get_metadata, self._metadata_request(version))
        info = self._model_info(version)
        signatures = self._message("SignatureDefMap")
        metadata.metadata["signature_def"].Unpack(signatures)
        problems = signature_problems(signatures.signature_def, info)
        if problems:
            raise NotReady(f"{self._config.model_name} version {version} does not match the service: "
                           + "; ".join(problems))
        served = ServedModel(self._config.model_name, version, info,
                             explainable=EXPLAIN_SIGNATURE in signatures.signature_def)
        with self._lock:
            if len(self._described) >= KEPT_DESCRIPTIONS:
                self._described.pop(min(self._described))
            self._described[version] = served
        return served

    def _model_info(self, version: int) -> ModelInfo:
        """The ModelInfo JSON from the model's `metadata` signature (one row, batching-safe)."""
        request = self._api.predict_request(self._spec(METADATA_SIGNATURE, version), metadata_inputs())
        response = self._call(self._predict, request)
        if MODEL_INFO_KEY not in response.outputs:
            raise NotReady(f"the '{METADATA_SIGNATURE}' signature has no '{MODEL_INFO_KEY}' output")
        return info_from_output(to_array(response.outputs[MODEL_INFO_KEY]))

    def _require_available(self, version: int) -> None:
        request = self._message("GetModelStatusRequest", model_spec=self._spec(None, version))
        statuses = self._call(self._get_status, request).model_version_status
        states = {status.version: status.state for status in statuses}
        value = self._api.enum(VERSION_STATE).values_by_number.get(states.get(version, 0))
        state = value.name if value is not None else "UNKNOWN"
        if state != "AVAILABLE":
            raise NotReady(f"{self._config.model_name} version {version} is {state}, not AVAILABLE")

    def _metadata_request(self, version: int | None = None):
        return self._message("GetModelMetadataRequest", model_spec=self._spec(SERVING_SIGNATURE, version),
                             metadata_field=["signature_def"])

    def _spec(self, signature: str | None, version: int | None):
        """The ModelSpec of the model, pinned to `version`, else to MODEL_VERSION, else latest."""
        spec = self._message("ModelSpec", name=self._config.model_name, signature_name=signature or "")
        if version is not None:
            spec.version.value = version
        elif self._config.model_version is not None:
            spec.version.value = self._config.model_version
        return spec

    def _message(self, type_name: str, /, **fields):
        """A new tensorflow.serving.`type_name` message."""
        return self._api.message(f"tensorflow.serving.{type_name}")(**fields)

    def _call(self, method, request):
        try:
            # Fail fast (gRPC's default, said here because the 503s depend on it): while the channel
            # is in TRANSIENT_FAILURE (a connect failed; it retries in the background) a call fails at
            # once with UNAVAILABLE (503 + Retry-After), where wait_for_ready would hold it until its
            # deadline (504 after TFSERVING_TIMEOUT_S).
            return method(request, timeout=self._config.tfserving_timeout_s, wait_for_ready=False)
        except grpc.RpcError as exc:
            code = exc.code()
            self._metrics.model_server_errors.labels(code.name).inc()
            raise self._translate(code, exc.details()) from None

    def _translate(self, code: grpc.StatusCode, details: str) -> ServiceError:
        where = f"TF Serving at {self._config.tfserving_address}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return ModelTimeout(f"{where} did not answer within {self._config.tfserving_timeout_s} s")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED):
            return ModelUnavailable(f"{where}: {code.name}: {details}")
        return ModelServerError(f"{where}: {code.name}: {details}")


class Connectivity:
    """The channel's connectivity state as gRPC reports it, watched in the background from the
    start (so the first connection is made before the first request)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel
        self._state = grpc.ChannelConnectivity.IDLE
        channel.subscribe(self._changed, try_to_connect=True)

    def failing(self) -> bool:
        """No model server reachable: every address failed its last connection attempt (with
        round_robin, one connected replica keeps the channel READY)."""
        return self._state == grpc.ChannelConnectivity.TRANSIENT_FAILURE

    def close(self) -> None:
        self._channel.unsubscribe(self._changed)

    def _changed(self, state: grpc.ChannelConnectivity) -> None:
        self._state = state
