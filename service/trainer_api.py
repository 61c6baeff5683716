"""The trainer as the service sees it (docs/people.md): what it is doing, and asking it to retrain.
The service never trains: it reads MODELS/.trainer-status.json and writes DATA/.retrain-requested."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from flask import Blueprint

from facecore.datafolder import TRAINER_STATUS_FILE
from service.people_api import guarded
from service.runtime import runtime

log = logging.getLogger(__name__)

trainer_api = guarded(Blueprint("trainer_api", __name__, url_prefix="/v1/trainer"))


@trainer_api.get("")
def status():
    """The trainer's own status file, or state `unknown` with the reason it cannot be read."""
    return read_status(runtime().config.model_base_path)


@trainer_api.post("/retrain")
def retrain():
    """Ask the trainer to retrain from the data folder at its next check."""
    now = time.time()
    runtime().store.request_retrain(now)
    return {"requested_at": now}, 202


def read_status(models: Path | None) -> dict:
    """MODELS/.trainer-status.json as the trainer wrote it, or {"state": "unknown", ...}."""
    if models is None:
        return unknown("MODEL_BASE_PATH is not set on this service, so the trainer's status is not visible")
    path = Path(models) / TRAINER_STATUS_FILE
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        return unknown(f"no {TRAINER_STATUS_FILE} in {models}: the trainer has not run against these models yet")
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return unknown(f"{path} is not readable: {exc}")
    if not isinstance(status, dict) or not isinstance(status.get("state"), str):
        return unknown(f"{path} does not hold a trainer status (an object with a `state`)")
    return status


def unknown(reason: str) -> dict:
    return {"state": "unknown", "job": None, "since": None, "progress": None, "last": None, "reason": reason}
