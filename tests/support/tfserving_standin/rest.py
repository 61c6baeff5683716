"""TF Serving's REST API, the part this system uses: model status and Prometheus metrics."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from tfserving_standin.errors import ServingError
from tfserving_standin.metrics import Metrics
from tfserving_standin.versions import ModelVersions

# http_rest_api_handler.cc: kPathRegex and modelstatus_api_regex_ (RE2 FullMatch, case-insensitive).
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+))?", re.IGNORECASE)


def model_status_json(versions: ModelVersions, path: str) -> str:
    """The body of `GET path` (a /v1/ path), or ServingError as TF Serving answers it."""
    match = _STATUS_PATH.fullmatch(path)
    if match is None:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: GET {path}")
    name, version = match.groups()
    if not name:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing model name in request.")
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        spec.version.value = int(version)
    response = get_model_status_pb2.GetModelStatusResponse(model_version_status=versions.statuses(spec))
    # JsonPrintOptions add_whitespace and always_print_primitive_fields: 1-space indents, int64 as strings.
    return json_format.MessageToJson(response, indent=1, always_print_fields_with_no_presence=True)


def error_json(error: ServingError) -> str:
    """FillJsonErrorMsg: `{ "error": "<escaped message>" }`."""
    return '{ "error": ' + json.dumps(error.message) + " }"


def make_rest_server(host: str, port: int, versions: ModelVersions, metrics: Metrics,
                     metrics_path: str | None) -> ThreadingHTTPServer:
    """A threaded HTTP server answering model status and, at `metrics_path`, Prometheus metrics."""

    class Handler(_Handler):
        pass

    Handler.versions, Handler.metrics, Handler.metrics_path = versions, metrics, metrics_path
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    versions: ModelVersions
    metrics: Metrics
    metrics_path: str | None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if self.metrics_path and path == self.metrics_path:
            self._send(200, "text/plain; charset=utf-8", self.metrics.exposition())
        elif _API_PATH.fullmatch(path):
            self._send_status(path)
        else:  # no handler registered for the path: the HTTP server's own 404
            self._send(404, "text/plain; charset=utf-8", "")

    def _send_status(self, path: str) -> None:
        try:
            body, code = model_status_json(self.versions, path), 200
        except ServingError as exc:
            body, code = error_json(exc), exc.http_status
        self._send(code, "application/json", body)

    def _send(self, code: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        """Quiet: TF Serving does not log each HTTP request."""
