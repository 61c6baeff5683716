"""The app factory: everything a worker needs is built here, after gunicorn has forked."""

from __future__ import annotations

import logging

from flask import Flask
from prometheus_client import CollectorRegistry

from service.api import api
from service.backend import ModelBackend
from service.config import Config, ConfigError
from service.errors import ServiceError, register_error_handlers
from service.inference import Recognizer
from service.metrics import Metrics, instrument
from service.people import PhotoStore
from service.people_api import people_api
from service.probes import probes
from service.runtime import EXTENSION, Runtime
from service.screening import Screen
from service.trainer_api import trainer_api
from service.web import web

log = logging.getLogger(__name__)


def create_app(config: Config, backend: ModelBackend | None = None) -> Flask:
    """A Flask app serving `config`'s model; `backend` replaces the configured one (tests)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.json.sort_keys = False
    metrics = Metrics(CollectorRegistry())
    backend = backend or create_backend(config, metrics)
    recognizer = Recognizer(backend, metrics, config.max_image_pixels, config.detect_max_side)
    app.extensions[EXTENSION] = Runtime(config, metrics, backend, recognizer, create_store(config),
                                        Screen(config.max_image_pixels))
    for blueprint in (api, people_api, trainer_api, probes, web):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    instrument(app, metrics)
    _announce(app.extensions[EXTENSION])
    return app


def create_backend(config: Config, metrics: Metrics) -> ModelBackend:
    """The backend SERVING_BACKEND names (imported here: only `local` needs TensorFlow)."""
    if config.backend == "tfserving":
        from service.tfserving import TFServingBackend

        return TFServingBackend(config, metrics)
    try:
        from service.local import LocalBackend
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("tensorflow"):
            raise
        raise ConfigError("SERVING_BACKEND=local loads the model in this process and needs TensorFlow "
                          "(pip install 'faceid[service-local]'); this installation has only the "
                          "tfserving backend") from None
    return LocalBackend(config, metrics)


def create_store(config: Config) -> PhotoStore | None:
    """The people store on DATA_DIR; with ENROLMENT=on the folder must exist (a missing mount
    must not turn into an empty folder inside the container)."""
    if config.data_dir is None:
        return None
    if config.enrolment and not config.data_dir.is_dir():
        raise ConfigError(f"DATA_DIR {config.data_dir} is not a folder (ENROLMENT=on keeps photos there)")
    return PhotoStore(config.data_dir, config.max_image_pixels)


def _announce(state: Runtime) -> None:
    """Check the model once at start; a model server still starting is not fatal (see /readyz)."""
    try:
        served = state.backend.check_ready()
        log.info("ready: %s version %d via %s", served.name, served.version, state.config.backend)
    except ServiceError as exc:
        log.warning("not ready yet: %s", exc)
