"""A TF Serving stand-in: a real gRPC server with TF Serving's PredictionService and ModelService,
and the REST status and Prometheus endpoints, serving the SavedModels under `<base>/<version>/`.

It is only worth what it copies: wherever TF Serving has a rule this system depends on (which
folders are versions, loading the new version before unloading the old, load retries, warm-up,
batching's checks, when the ports open, Predict outputs in typed fields, the REST status and
metadata answers, which flags and values start the server, gRPC channel arguments), the
stand-in enforces it too, each rule with a comment giving TF Serving's source. In process:

    from tfserving_standin import StandIn
    with StandIn("faces", models / "faces") as server: ...   # server.address

As a process, with tensorflow_model_server's command line (see `__main__.py`):

    PYTHONPATH=tests/support python -m tfserving_standin --port=8500 --model_name=faces --model_base_path=/models/faces

Exports are imported on first use, so reading a config file (`tfserving_standin.configs`)
does not start TensorFlow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "StandIn": "tfserving_standin.server",
    "StartError": "tfserving_standin.server",
    "ServingError": "tfserving_standin.errors",
    "Batching": "tfserving_standin.batching",
    "ModelVersions": "tfserving_standin.versions",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfserving_standin' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
