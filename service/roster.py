"""Who the service knows of: the data folder's people and the serving model's, side by side."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from facecore.modelinfo import ENROLLED_KEY
from facecore.versions import REPORT_FILE, version_folders
from service.backend import ServedModel
from service.people import NotFound, PhotoStore

log = logging.getLogger(__name__)

QUALITY_KEYS = ("precision", "recall", "f1", "support")


def people(store: PhotoStore | None, served: ServedModel, quality: dict[str, dict]) -> list[dict]:
    """Everyone in the data folder or known to the serving version, by name."""
    photos = store.people() if store is not None else {}
    known = set(served.info.class_names)
    enrolled = served.info.extra.get(ENROLLED_KEY, {})
    return [{
        "name": name,
        "photos": photos.get(name, 0),
        "known": name in known,
        "enrolled_after_version": enrolled.get(name, {}).get("after_version"),
        "quality": quality.get(name) if name in known else None,
    } for name in sorted(known | set(photos))]


def person_photos(store: PhotoStore | None, served: ServedModel, name: str) -> list[dict]:
    """A person's photos; none for a person the model knows without a folder in the data folder."""
    photos = None
    if store is not None:
        with contextlib.suppress(NotFound):
            photos = store.photos(name)
    if photos is None and name not in served.info.class_names:
        raise NotFound(f"{name} is neither in the data folder nor known to the serving model")
    return [{"id": photo, "bytes": size} for photo, size in photos or []]


def version_quality(model_base_path: Path | None, served: ServedModel) -> dict[str, dict]:
    """Per-person test figures of the serving version, from its folder's report.json; empty
    when the folder is not readable here (e.g. TF Serving's models are not mounted)."""
    if model_base_path is None:
        return {}
    folder = version_folders(Path(model_base_path) / served.name).get(served.version)
    if folder is None:
        return {}
    try:
        per_class = json.loads((folder / REPORT_FILE).read_text()).get("per_class", {})
        return {name: {key: figures[key] for key in QUALITY_KEYS} for name, figures in per_class.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        log.info("no per-person figures for version %d: %s", served.version, exc)
        return {}
