"""What one app instance holds after start-up, reachable from views through `runtime()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from service.backend import ModelBackend
from service.config import Config
from service.inference import Recognizer
from service.metrics import Metrics

EXTENSION = "faceid"


@dataclass
class Runtime:
    """The config, metrics, model backend and recognizer of one app (one per gunicorn worker)."""

    config: Config
    metrics: Metrics
    backend: ModelBackend
    recognizer: Recognizer

    def close(self) -> None:
        self.backend.close()


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]
