"""The data folder's hidden entries the trainer reads (docs/people.md): the faces marked as nobody
known, DATA/.strangers/<id>/<photo>, and the retrain request, DATA/.retrain-requested.

People's folders are listed by trainer/data/listing.py (hidden entries are never people).
"""

from __future__ import annotations

import json
from pathlib import Path

STRANGERS = ".strangers"
RETRAIN_REQUEST = ".retrain-requested"


def strangers_dir(data_dir: Path) -> Path:
    return Path(data_dir) / STRANGERS


def stranger_photos(data_dir: Path) -> dict[str, Path]:
    """Every stranger photo by its path relative to DATA/.strangers (forward slashes), sorted;
    hidden files (an upload still being written) and hidden folders are left out."""
    root = strangers_dir(data_dir)
    if not root.is_dir():
        return {}
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()] = path
    return dict(sorted(found.items()))


def calibration_strangers(data_dir: Path) -> Path | None:
    """DATA/.strangers when it holds a photo: the calibration strangers `trainer run` takes by default."""
    return strangers_dir(data_dir) if stranger_photos(data_dir) else None


def retrain_requested_at(data_dir: Path) -> float | None:
    """When a retrain was last requested (epoch seconds), or None without a request. A request
    file that cannot be parsed counts from its modification time."""
    path = Path(data_dir) / RETRAIN_REQUEST
    try:
        text, modified = path.read_text(), path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        return float(json.loads(text)["requested_at"])
    except (ValueError, KeyError, TypeError):
        return modified
