"""The versioned API: /v1/predict, /v1/models and each version's run report."""

from __future__ import annotations

import time

from flask import Blueprint, request, send_file

from service.auth import authenticate_predict
from service.reports import REPORT_POLICY, find_report, read_version
from service.runtime import runtime
from service.uploads import read_image, read_options

api = Blueprint("api", __name__, url_prefix="/v1")


@api.before_request
def _authenticate() -> None:
    authenticate_predict(request, runtime().config)


@api.post("/predict")
def predict():
    """Faces in the photo, each with a box and a name (or unknown)."""
    started = time.perf_counter()
    state = runtime()
    options = read_options(request)
    result = state.recognizer.recognize(read_image(request), options)
    served = result.model
    _count(state.metrics, result.faces)
    timings = {**result.timings_ms, "total": round((time.perf_counter() - started) * 1000.0, 3)}
    return {
        "model": {"name": served.name, "version": served.version, "unknown_threshold": served.info.unknown_threshold},
        "image": {"width": result.width, "height": result.height},
        "faces": result.faces,
        "timings_ms": timings,
    }


@api.get("/models")
def models():
    """The model serving now, as its own metadata describes it."""
    state = runtime()
    return {"models": [state.backend.refresh().describe()]}


@api.get("/models/<name>/report")
def report(name: str):
    """The run report (report.html) of the serving version, or of `?version=N`."""
    state = runtime()
    version = read_version(request.args)
    if version is None and name == state.config.model_name:
        version = state.backend.current().version
    response = send_file(find_report(state.config, name, version), mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response


def _count(metrics, faces: list[dict]) -> None:
    metrics.faces.observe(len(faces))
    for face in faces:
        metrics.predictions.labels("unknown" if face["unknown"] else "known").inc()
