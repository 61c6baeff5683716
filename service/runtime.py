"""What one app instance holds after start-up, reachable from views through `runtime()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from service.backend import ModelBackend
from service.config import Config
from service.inference import Recognizer
from service.metrics import Metrics
from service.people import PhotoStore
from service.screening import Screen

EXTENSION = "faceid"


@dataclass
class Runtime:
    """The config, metrics, model backend, recognizer and people store (None without DATA_DIR)
    of one app (one per gunicorn worker)."""

    config: Config
    metrics: Metrics
    backend: ModelBackend
    recognizer: Recognizer
    store: PhotoStore | None
    screen: Screen

    def close(self) -> None:
        self.backend.close()


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]
