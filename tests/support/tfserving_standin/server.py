"""The stand-in server: gRPC and REST ports over one model's versions, polled in the background."""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from pathlib import Path
from typing import Sequence

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from tfserving_standin.batching import Batching
from tfserving_standin.errors import ServingError
from tfserving_standin.grpc_api import ModelServicer, PredictionServicer
from tfserving_standin.metrics import Metrics
from tfserving_standin.predict import predict
from tfserving_standin.rest import make_rest_server
from tfserving_standin.servable import Servable, load_servable
from tfserving_standin.versions import LoadRetries, ModelVersions
from tfserving_standin.warmup import warm_up

log = logging.getLogger("tfserving_standin")
# server.cc: builder.SetMaxMessageSize(INT32_MAX), the receive limit; gRPC's send limit stays unlimited.
MAX_RECEIVE_BYTES = 2**31 - 1


class StartError(RuntimeError):
    """The first version failed to load, so the server does not start (server.cc)."""


class StandIn:
    """The server: start() it, read `.address`, stop() it; polls the model folder meanwhile.

    poll_s is --file_system_poll_wait_seconds: > 0 polls that often, 0 polls once at start,
    < 0 never polls. With wait_for_version, start() opens the ports only once a version is
    AVAILABLE, as tensorflow_model_server does; without it, at once (for in-process tests).
    retries: a failed load's retries (in process, none by default; the command line has TF
    Serving's 5, 60 s apart). as_content: --enable_serialization_as_tensor_content.
    channel_arguments: --grpc_channel_arguments, as flags.channel_arguments reads them.
    """

    def __init__(self, model_name: str, base: Path, poll_s: float = 0.2, delay_s: float = 0.0, *,
                 batching: Batching | None = None, warmup: bool = True, metrics_path: str | None = None,
                 host: str = "127.0.0.1", wait_for_version: bool = False, retries: LoadRetries = LoadRetries(),
                 as_content: bool = False, channel_arguments: Sequence[tuple[str, int | str]] = ()) -> None:
        self.versions = ModelVersions(model_name, base, self._load, retries)
        self.metrics = Metrics()
        self.predictions = PredictionServicer(self.versions, self.metrics, batching, delay_s, as_content)
        self.batching, self.warmup, self.metrics_path = batching, warmup, metrics_path
        self.poll_s, self.host, self.wait_for_version = poll_s, host, wait_for_version
        self.channel_arguments = list(channel_arguments)
        self.port: int | None = None
        self.rest_port: int | None = None
        self._stop = threading.Event()
        self._grpc = None
        self._rest = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def _load(self, path: Path, version: int) -> Servable:
        """Load a version and replay its warm-up requests through the Predict path."""
        servable = load_servable(path, version)
        if self.batching:  # then the session is wrapped for batching, before warm-up
            self.batching.check_queue()
        if self.warmup:
            warm_up(path, lambda request: predict(servable, request, self.batching))
        return servable

    def start(self, port: int = 0, rest_port: int | None = None) -> "StandIn":
        """Poll, (wait for a version,) then open gRPC on `port` and REST on `rest_port` (None: none).

        A restart after stop() binds the same ports again unless others are given.
        """
        self._stop = stop = threading.Event()
        if self.poll_s >= 0:  # a negative --file_system_poll_wait_seconds disables polling entirely
            self.versions.poll()
        if self.poll_s > 0:
            threading.Thread(target=self._poll_forever, args=(stop,), daemon=True).start()
        if self.wait_for_version:
            self._wait_for_version(stop)
        self._open_grpc(port or self.port or 0)
        if rest_port is not None or self.rest_port is not None:
            self._open_rest(rest_port or self.rest_port or 0)
        return self

    def _poll_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.poll_s):
            self.versions.poll()

    def _wait_for_version(self, stop: threading.Event) -> None:
        """Until the first load ends (ServerCore::Create waits for it, with no timeout)."""
        while self.versions.first_load is None:
            if stop.wait(0.05):
                raise StartError("stopped before a version was available")
        first = self.versions.first_load
        if first.error is not None:
            raise StartError(_not_available_message(self.versions.name, first.version, first.error))

    def _open_grpc(self, port: int) -> None:
        options = [("grpc.max_receive_message_length", MAX_RECEIVE_BYTES), *self.channel_arguments]
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self.predictions, self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.versions), self._grpc)
        self.port = self._grpc.add_insecure_port(f"{self.host}:{port}")
        self._grpc.start()
        log.info("Running gRPC ModelServer at %s:%d ...", self.host, self.port)

    def _open_rest(self, port: int) -> None:
        self._rest = make_rest_server(self.host, port, self.versions, self.metrics, self.metrics_path)
        self.rest_port = self._rest.server_address[1]
        threading.Thread(target=self._rest.serve_forever, daemon=True).start()
        log.info("Exporting HTTP/REST API at:localhost:%d ...", self.rest_port)

    def stop(self) -> None:
        """Close both ports and stop polling; loaded versions stay in memory for a restart."""
        self._stop.set()
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest = None

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _not_available_message(name: str, version: int, error: ServingError) -> str:
    """ServerCore's start-up error when the first version does not become available."""
    return (f"UNKNOWN: 1 servable(s) did not become available: "
            f"{{{{name: {name} version: {version}}} due to error: {error.status_string()}}}, }}")
