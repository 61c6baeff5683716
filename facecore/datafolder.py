"""The data folder as the trainer and the service share it (docs/people.md), defined once.

DATA/<person>/<photo> are a known person's photos, DATA/.strangers/<id>/<photo> faces marked as
nobody known, DATA/.removed/<person>-<UTC time>/ people set aside, DATA/.retrain-requested a
request to retrain (written by the service, read by the trainer). Hidden (`.`-prefixed) entries
are never people or photos: a file still being written is hidden until it is whole. The trainer
answers in MODELS/.trainer-status.json (written by trainer/status.py, read by the service).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path, PurePath

from facecore.modelinfo import UNKNOWN_LABEL

STRANGERS = ".strangers"
REMOVED = ".removed"
RETRAIN_REQUEST = ".retrain-requested"
TRAINER_STATUS_FILE = ".trainer-status.json"  # in MODELS, beside the model folders
MAX_NAME_BYTES = 200  # a folder name, with room for the time suffix of a removed person's folder
NAME_RULE = f"a plain folder name: not hidden, not '{UNKNOWN_LABEL}', printable, at most {MAX_NAME_BYTES} bytes"


def is_usable_name(name: str) -> bool:
    """Whether `name` can be a person's name, their folder's (NAME_RULE)."""
    return (bool(name) and name == name.strip() and "/" not in name and not name.startswith(".")
            and name != UNKNOWN_LABEL and name.isprintable() and encoded_length(name) <= MAX_NAME_BYTES)


def encoded_length(name: str) -> int:
    """The bytes `name` takes as a file name (UTF-8); a lone surrogate, which no file name can hold,
    counts as far too many."""
    try:
        return len(name.encode())
    except UnicodeEncodeError:
        return 10**9


def is_hidden(relative: PurePath) -> bool:
    """Whether a path relative to a folder of the data folder is hidden, or lies in a hidden folder."""
    return any(part.startswith(".") for part in relative.parts)


def visible_files(folder: Path) -> list[Path]:
    """The files under `folder` at any depth, sorted, but none hidden or in a hidden folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not is_hidden(p.relative_to(folder)))


def strangers_dir(data_dir: Path) -> Path:
    return Path(data_dir) / STRANGERS


def stranger_photos(data_dir: Path) -> dict[str, Path]:
    """Every stranger photo by its path relative to DATA/.strangers (forward slashes), sorted."""
    root = strangers_dir(data_dir)
    return dict(sorted((path.relative_to(root).as_posix(), path) for path in visible_files(root)))


def set_aside(folder: Path) -> Path | None:
    """Move a person's folder to <its parent>/.removed/<name>-<UTC time>/ (-2, -3, ... when two are
    set aside within a second); return where it went, or None if there was no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    aside = _free_name(folder.parent / REMOVED / f"{folder.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, aside)
    return aside


def request_retrain(data_dir: Path, now: float, by: str) -> None:
    """Write DATA/.retrain-requested, {"requested_at": now, "by": by}, whole or not at all."""
    target = Path(data_dir) / RETRAIN_REQUEST
    partial = target.with_name(f"{RETRAIN_REQUEST}.{uuid.uuid4().hex}.partial")
    with open(partial, "xb") as file:
        file.write(json.dumps({"requested_at": now, "by": by}).encode())
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, target)


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


def _free_name(path: Path) -> Path:
    """`path`, or `path`-2, -3, ... if it is taken."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate
