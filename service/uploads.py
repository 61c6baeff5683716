"""Reading the photo and the options out of a request: a prediction's (in any of its three forms),
a correction's box and person."""

from __future__ import annotations

import base64
import binascii

from flask import Request

from facecore.detect import Box
from service.errors import BadOption, MissingImage, SeveralImages, UnsupportedMediaType
from service.inference import Options

RAW_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "application/octet-stream"})
# option -> (smallest, largest) accepted value
OPTION_RANGES = {"top_k": (1, 100), "max_faces": (1, 100), "min_face_size": (0, 100_000)}
SWITCHES = {"true": True, "false": False}  # option `explain`: JSON booleans, or these words
BOX_FIELDS = {"x": 0, "y": 0, "width": 1, "height": 1}  # field -> smallest value
MAX_BOX_SIDE = 100_000


def read_image(request: Request) -> bytes:
    """The photo bytes: multipart field `image`, JSON {"image": base64}, or the raw body."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        data = _multipart_image(request)
    elif mimetype == "application/json":
        data = _base64_image(request)
    elif mimetype in RAW_TYPES:
        data = request.get_data(cache=False)
    else:
        accepted = ", ".join(sorted(RAW_TYPES | {"multipart/form-data", "application/json"}))
        raise UnsupportedMediaType(f"content type {mimetype or 'none'!r} is not accepted; use one of {accepted}")
    if not data:
        raise MissingImage("the image is empty")
    return data


def _multipart_image(request: Request) -> bytes:
    """The one `image` part; several are refused rather than one answered silently."""
    uploads = request.files.getlist("image")
    if not uploads:
        raise MissingImage("multipart field 'image' is missing")
    if len(uploads) > 1:
        raise SeveralImages(f"multipart field 'image' appears {len(uploads)} times; send one photo per request")
    return uploads[0].read()


def _base64_image(request: Request) -> bytes:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("image"), str):
        raise MissingImage('the JSON body must be an object with "image": "<base64>"')
    try:
        return base64.b64decode(body["image"], validate=True)
    except (binascii.Error, ValueError):
        raise BadOption('"image" is not valid base64') from None


def read_options(request: Request) -> Options:
    """Options from the query string, multipart form fields or JSON body (in that order)."""
    sources = [request.args]
    if request.mimetype == "multipart/form-data":
        sources.append(request.form)
    elif request.mimetype == "application/json" and isinstance(request.get_json(silent=True), dict):
        sources.append(request.get_json())
    values = {}
    for name, (low, high) in OPTION_RANGES.items():
        # every value given is checked, so a bad one is refused even where an earlier source wins
        given = [_bounded_int(name, source[name], low, high) for source in sources if name in source]
        if given:
            values[name] = given[0]
    explain = [_switch("explain", source["explain"]) for source in sources if "explain" in source]
    if explain:
        values["explain"] = explain[0]
    return Options(**values)


def _switch(name: str, raw) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in SWITCHES:
        return SWITCHES[raw.lower()]
    raise BadOption(f"{name} must be true or false, got {raw!r}")


def _bounded_int(name: str, raw, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise BadOption(f"{name} must be an integer, got {raw!r}")
    try:
        value = int(raw)
    except ValueError:
        raise BadOption(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadOption(f"{name} must be between {low} and {high}, got {value}")
    return value


def read_box(request: Request) -> Box:
    """The face box of a correction: form fields x, y, width and height, in the photo's pixels."""
    values = {}
    for name, low in BOX_FIELDS.items():
        if name not in request.form:
            raise BadOption(f"form field {name!r} is missing (the face's box as the prediction gave it)")
        values[name] = _bounded_int(name, request.form[name], low, MAX_BOX_SIDE)
    return Box(**values)


def read_person(request: Request) -> str | None:
    """The correction's person: form field `person`; empty or absent means nobody known."""
    return request.form.get("person") or None
