"""Liveness, readiness and metrics: the endpoints machines call."""

from __future__ import annotations

from flask import Blueprint, Response

from service.errors import NotReady
from service.runtime import runtime

probes = Blueprint("probes", __name__)


@probes.get("/healthz")
def healthz():
    """The process answers; no downstream calls."""
    return {"status": "alive"}


@probes.get("/readyz")
def readyz():
    """Model server reachable, model AVAILABLE, signature matching, not draining (else 503
    problem+json); the model's summary (its full metadata is /v1/models)."""
    state = runtime()
    if state.config.drain_file.exists():
        raise NotReady(f"draining: the service is stopping ({state.config.drain_file} exists); "
                       "requests are still answered")
    served = state.backend.check_ready()
    return {"status": "ready", "backend": state.config.backend, "model": served.summary()}


@probes.get("/metrics")
def metrics():
    state = runtime()
    body, content_type = state.metrics.exposition(state.config.prometheus_multiproc_dir)
    return Response(body, content_type=content_type)
