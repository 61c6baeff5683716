"""The upload page at / and the OpenAPI document at /openapi.json."""

from __future__ import annotations

import json
from importlib import resources

from flask import Blueprint, current_app

web = Blueprint("web", __name__)


@web.get("/")
def index():
    return current_app.send_static_file("index.html")


@web.get("/openapi.json")
def openapi():
    return json.loads(resources.files("service").joinpath("openapi.json").read_text())
