"""TF Serving's errors: a gRPC status code and TF Serving's message."""

from __future__ import annotations

import grpc

_CODES = {code.value[0]: code for code in grpc.StatusCode}
# http_rest_api_handler's ToHTTPStatusCode (util/net_http/server/public/httpserver_interface.h).
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.DEADLINE_EXCEEDED: 408, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409, grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}


class ServingError(Exception):
    """An error to answer with a gRPC status code, as TF Serving would."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        return str(self)

    @property
    def code_number(self) -> int:
        """The code as tensorflow.error.Code numbers it (the same numbers as gRPC's)."""
        return self.code.value[0]

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)

    def status_string(self) -> str:
        """`CODE: message`, as absl::Status::ToString() writes it into TF Serving's logs."""
        return f"{self.code.name}: {self}"

    @classmethod
    def from_code_number(cls, number: int, message: str) -> "ServingError":
        """The error for a tensorflow.error.Code number (e.g. a TensorFlow OpError's error_code)."""
        return cls(_CODES.get(number, grpc.StatusCode.UNKNOWN), message)
