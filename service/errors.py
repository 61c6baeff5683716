"""The service's errors and their one translation into application/problem+json responses."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from facecore.errors import ImageError, ImageTooLarge, UndecodableImage, UnsupportedImageType
from service.people import BadName, DataUnavailable, DuplicatePhoto, NotFound, PeopleError
from service.screening import FaceTooSmall, NoFace, SeveralFaces

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = 5


class ServiceError(Exception):
    """An error with an HTTP status; `slug` names the problem type."""

    status = 500
    slug = "internal-error"
    title = "Internal error"
    retry_after: int | None = None


class BadOption(ServiceError):
    status, slug, title = 400, "bad-option", "Bad request option"


class MissingImage(ServiceError):
    status, slug, title = 400, "missing-image", "No image in the request"


class SeveralImages(ServiceError):
    """A multipart request with more than one `image` part: one photo per request, never one picked."""

    status, slug, title = 400, "several-images", "Several images in one request"


class UnsupportedMediaType(ServiceError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unauthorized(ServiceError):
    status, slug, title = 401, "unauthorized", "Missing or wrong API key"


class Forbidden(ServiceError):
    status, slug, title = 403, "forbidden", "This key may not do that"


class EnrolmentOff(ServiceError):
    """A change to people while ENROLMENT is off."""

    status, slug, title = 403, "enrolment-off", "Enrolment is off"


class CannotExplain(ServiceError):
    """explain=true asked of a version exported without the `explain` signature."""

    status, slug, title = 409, "cannot-explain", "The serving version cannot explain its answers"


class ReportNotFound(ServiceError):
    """No run report for that model version here; the message says why."""

    status, slug, title = 404, "report-not-found", "No report for this version"


class ModelUnavailable(ServiceError):
    """The model server cannot be reached or has no usable version (retry later)."""

    status, slug, title, retry_after = 503, "model-unavailable", "Model server unavailable", RETRY_AFTER_S


class NotReady(ModelUnavailable):
    """The readiness check failed; the message says why."""

    slug, title = "not-ready", "Not ready"


class ModelTimeout(ServiceError):
    status, slug, title = 504, "model-timeout", "Model server deadline exceeded"


class ModelServerError(ServiceError):
    """The model server answered with an error that is not the caller's fault."""

    status, slug, title = 502, "model-server-error", "Model server error"


# Errors of the shared face package -> (status, slug, title).
IMAGE_ERRORS = {
    UndecodableImage: (400, "undecodable-image", "Undecodable image"),
    UnsupportedImageType: (415, "unsupported-image-type", "Unsupported image type"),
    ImageTooLarge: (422, "image-too-large", "Image has too many pixels"),
}

# Refusals of the people store and the photo checks -> (status, slug, title).
PEOPLE_ERRORS = {
    BadName: (400, "bad-name", "Not a usable name"),
    NotFound: (404, "not-found", "Not Found"),
    DuplicatePhoto: (409, "duplicate-photo", "The photo is kept already"),
    NoFace: (422, "no-face", "No face in the photo"),
    SeveralFaces: (422, "several-faces", "Several faces in the photo"),
    FaceTooSmall: (422, "face-too-small", "The face is too small"),
    DataUnavailable: (503, "data-unavailable", "The data folder cannot be written"),
}


def problem(status: int, slug: str, title: str, detail: str, retry_after: int | None = None,
            members: dict | None = None) -> Response:
    """An RFC 9457 problem document; `members` are its extension members."""
    body = {"type": f"urn:faceid:problem:{slug}", "title": title, "status": status, "detail": detail,
            "instance": request.path, **(members or {})}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _service_error(exc: ServiceError) -> Response:
    return problem(exc.status, exc.slug, exc.title, str(exc), exc.retry_after)


def _image_error(exc: ImageError) -> Response:
    status, slug, title = next(v for k, v in IMAGE_ERRORS.items() if isinstance(exc, k))
    return problem(status, slug, title, str(exc))


def _people_error(exc: PeopleError) -> Response:
    status, slug, title = next(v for k, v in PEOPLE_ERRORS.items() if isinstance(exc, k))
    return problem(status, slug, title, str(exc), members=exc.members())


def _http_error(exc: HTTPException) -> Response:
    slug = (exc.name or "error").lower().replace(" ", "-")
    detail = exc.description or exc.name
    if exc.code == 413:
        slug, detail = "body-too-large", f"the request body is over the limit of {request.max_content_length} bytes"
    response = problem(exc.code or 500, slug, exc.name, detail)
    for name, value in exc.get_headers():  # e.g. a 405's Allow (RFC 9110 requires it)
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, ServiceError.slug, ServiceError.title, "the service failed; see its logs")


def register_error_handlers(app: Flask) -> None:
    """Every error leaves the service as problem+json: never an HTML page or a traceback."""
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(ImageError, _image_error)
    app.register_error_handler(PeopleError, _people_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
