"""TF Serving's REST API, the part this system uses: model status, model metadata (the k8s
readiness probe asks it) and Prometheus metrics."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from tfserving_standin.atoi import simple_atoi
from tfserving_standin.errors import ServingError
from tfserving_standin.metadata import SIGNATURE_DEF, model_metadata
from tfserving_standin.metrics import Metrics
from tfserving_standin.versions import ModelVersions

# http_rest_api_util.h kHTTPRestApiHandlerPathRegex and http_rest_api_util.cc kModelStatusApiRegex
# (RE2 FullMatch, case-insensitive): name, version or label, then an optional /metadata.
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_GET_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
                       re.IGNORECASE)


def get_json(versions: ModelVersions, path: str) -> str:
    """The body of `GET path` (a /v1/ path): model status or metadata, or ServingError as TF
    Serving answers it (HttpRestApiHandler::ProcessRequest)."""
    match = _GET_PATH.fullmatch(path)
    if match is None:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: GET {path}")
    name, version, label, subresource = match.groups()
    if not name:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing model name in request.")
    spec = _model_spec(unquote(name), version, label)
    if subresource == "metadata":  # the regex matches any case, the comparison only this one
        return _metadata_json(versions, spec)
    response = get_model_status_pb2.GetModelStatusResponse(model_version_status=versions.statuses(spec))
    # JsonPrintOptions add_whitespace and always_print_primitive_fields: 1-space indents, int64 as strings.
    return json_format.MessageToJson(response, indent=1, always_print_fields_with_no_presence=True)


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    """ParseModelInfo and FillModelSpecWithNameVersionAndLabel (the regex allows only one of the two)."""
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        number = simple_atoi(version)
        if number is None:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Failed to convert version: {version} to numeric.")
        spec.version.value = number
    if label is not None:
        spec.version_label = unquote(label)
    return spec


def _metadata_json(versions: ModelVersions, spec) -> str:
    """ToJsonString(GetModelMetadataResponse): model_spec and the SignatureDefMap printed apart
    (proto field names kept, fields without presence printed) and joined by hand."""
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[SIGNATURE_DEF])
    response = model_metadata(versions, request)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF].Unpack(signatures)
    options = {"indent": 1, "preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
    model_spec = json_format.MessageToJson(response.model_spec, **options)
    signature_defs = json_format.MessageToJson(signatures, **options)
    return f'{{\n"model_spec":{model_spec},\n"metadata": {{"signature_def": {signature_defs}}}\n}}\n'


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
            self._send_model_json(path)
        else:  # no handler registered for the path: the HTTP server's own 404
            self._send(404, "text/plain; charset=utf-8", "")

    def _send_model_json(self, path: str) -> None:
        try:
            body, code = get_json(self.versions, path), 200
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
