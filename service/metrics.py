"""The service's Prometheus metrics, declared once, correct under several gunicorn workers.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is imported (see
gunicorn.conf.py); each worker writes its samples there and /metrics merges them.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess,
)

STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FACE_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34)
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """All metrics of one app, registered in `registry` (a fresh one per app keeps tests apart)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter("faceid_http_requests", "HTTP requests by route and status.",
                                ["route", "status"], registry=registry)
        self.request_seconds = Histogram("faceid_http_request_duration_seconds", "HTTP request latency.",
                                         ["route"], registry=registry)
        self.stage_seconds = Histogram("faceid_stage_duration_seconds", "Latency of each prediction stage.",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=registry)
        self.faces = Histogram("faceid_faces_per_request", "Faces answered per prediction request.",
                               buckets=FACE_BUCKETS, registry=registry)
        # By outcome, not by person: a label per enrolled person would grow without bound (one
        # series per name per worker) and put people's names into the monitoring system.
        self.predictions = Counter("faceid_predictions", "Faces predicted, by outcome (known or unknown).",
                                   ["outcome"], registry=registry)
        self.model_server_errors = Counter("faceid_model_server_errors", "Model server errors by gRPC code.",
                                           ["code"], registry=registry)
        self.in_flight = Gauge("faceid_http_requests_in_flight", "HTTP requests being served.",
                               registry=registry, multiprocess_mode="livesum")
        self.model_info = Gauge("faceid_model_info", "The model version serving (1) or served before (0).",
                                ["name", "version"], registry=registry, multiprocess_mode="livemax")
        self.model_published = Gauge("faceid_model_published_timestamp_seconds",
                                     "Export time of the model version serving, in Unix seconds.",
                                     registry=registry, multiprocess_mode="livemax")
        self.people_writes = Counter("faceid_people_writes", "Changes to people through the API, by operation "
                                     "and outcome (done, or the problem's slug).", ["operation", "outcome"],
                                     registry=registry)
        self._shown: tuple[str, str] | None = None

    def model_serving(self, name: str, version: int, exported_at: float | None) -> None:
        """Point the model gauges at `name`/`version` (the previous one drops to 0)."""
        labels = (name, str(version))
        if labels == self._shown:
            return
        if self._shown is not None:
            self.model_info.labels(*self._shown).set(0)
        self.model_info.labels(*labels).set(1)
        if exported_at is not None:
            self.model_published.set(exported_at)
        self._shown = labels

    def count_people_write(self, operation: str, response: Response) -> None:
        """Count one change to people. Labels stay bounded: `operation` is a view's name and the
        outcome `done` or a problem slug, one of the service's own error types."""
        outcome = "done"
        if response.status_code >= 400:
            body = response.get_json(silent=True)
            slug = str(body.get("type", "")).rpartition(":")[2] if isinstance(body, dict) else ""
            outcome = slug or str(response.status_code)
        self.people_writes.labels(operation, outcome).inc()

    def exposition(self, multiproc_dir: Path | None) -> tuple[bytes, str]:
        """The text format of every worker's samples (or this process's, outside gunicorn)."""
        registry = self.registry
        if multiproc_dir is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))
        return generate_latest(registry), CONTENT_TYPE_LATEST


def instrument(app: Flask, metrics: Metrics) -> None:
    """Count, time and track in-flight requests for every route of `app`."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()
        metrics.in_flight.inc()

    @app.after_request
    def _record(response):
        rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        metrics.requests.labels(rule, str(response.status_code)).inc()
        metrics.request_seconds.labels(rule).observe(time.perf_counter() - g.metrics_started)
        return response

    @app.teardown_request
    def _finish(_exc) -> None:
        if "metrics_started" in g:
            metrics.in_flight.dec()


def mark_process_dead(pid: int, multiproc_dir: Path | None) -> None:
    """Drop a dead worker's live gauges (gunicorn's child_exit)."""
    if multiproc_dir is not None:
        multiprocess.mark_process_dead(pid, str(multiproc_dir))
