"""Published model versions: `<models>/<name>/<int>/`, as TF Serving polls them
(facecore/versions.py: which folders are versions and which are complete).

A version appears by one rename of a finished temporary folder beside it (same filesystem),
so a poller never sees half a version. Each version folder holds the SavedModel plus
`report.json`, `train_config.json` and `publish.json` (where it came from).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from facecore.versions import complete_versions, version_folders
from trainer.errors import Refused, TrainerError
from trainer.jsonfiles import write_json

REPORT_FILE = "report.json"
CONFIG_FILE = "train_config.json"
PUBLISH_FILE = "publish.json"
TEMP_PREFIX = ".publishing-"


class GateRefused(Refused):
    """The new model scores too far below the published one."""


class NothingToRollBack(TrainerError):
    """There is no earlier version to restore."""


def versions(model_dir: Path) -> list[int]:
    """Version numbers taken, complete or not, ascending (other names are ignored)."""
    return list(version_folders(model_dir))


def read_json(version_dir: Path, name: str) -> dict:
    path = Path(version_dir) / name
    return json.loads(path.read_text()) if path.exists() else {}


def check_gate(model_dir: Path, macro_f1: float, tolerance: float) -> None:
    """Raise GateRefused if `macro_f1` is below the newest complete version's by more than `tolerance`."""
    published = complete_versions(model_dir)
    if not published:
        return
    newest = max(published)
    current = read_json(published[newest], REPORT_FILE).get("macro_f1")
    if current is not None and macro_f1 < current - tolerance:
        raise GateRefused(
            f"new model's test macro-F1 {macro_f1:.4f} is below version {newest}'s "
            f"{current:.4f} by more than the tolerance {tolerance:.4f}; nothing was published "
            "(use --force to publish anyway)"
        )


def publish(model_dir: Path, write: Callable[[Path], None], keep: int, provenance: dict) -> int:
    """Make a new version from what `write(folder)` puts in a fresh folder; return its number.

    The folder is renamed into place only once `write` has returned; on any error it is removed.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(model_dir)
    staging = model_dir / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(staging)
        version = _rename_into_place(staging, model_dir, provenance)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    prune(model_dir, keep)
    return version


def _rename_into_place(staging: Path, model_dir: Path, provenance: dict) -> int:
    """Give `staging` the next free version number; retry if another publisher took it."""
    while True:
        version = (versions(model_dir) or [0])[-1] + 1
        record = {**provenance, "version": version, "published_at": time.time()}
        write_json(staging / PUBLISH_FILE, record, sort_keys=True)
        _sync_tree(staging)
        try:
            os.rename(staging, model_dir / str(version))
            return version
        except OSError:
            if not (model_dir / str(version)).exists():
                raise


def _sync_tree(folder: Path) -> None:
    """Flush every file's data to disk, so the rename never exposes unwritten contents."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _remove_abandoned(model_dir: Path) -> None:
    """Delete staging folders whose publishing process is gone (a killed publish)."""
    for path in model_dir.glob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX):].split("-")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(model_dir: Path, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions (each renamed away first); return those deleted."""
    folders = version_folders(model_dir)
    doomed = list(folders)[:-keep] if keep > 0 else []
    for version in doomed:
        hidden = Path(model_dir) / f"{TEMP_PREFIX}{os.getpid()}-old-{version}"
        os.rename(folders[version], hidden)
        shutil.rmtree(hidden, ignore_errors=True)
    return doomed


def rollback(model_dir: Path, keep: int) -> tuple[int, int]:
    """Publish a copy of the version before the newest one's origin; return (new, restored)."""
    published = complete_versions(model_dir)
    if not published:
        raise NothingToRollBack(f"no published versions in {model_dir}")
    newest = max(published)
    origin = read_json(published[newest], PUBLISH_FILE).get("restored_from", newest)
    earlier = [v for v in published if v < origin]
    if not earlier:
        raise NothingToRollBack(f"no version older than {origin} left in {model_dir} to roll back to")
    restored = earlier[-1]

    def copy(folder: Path) -> None:
        shutil.copytree(published[restored], folder)

    provenance = {"source": "rollback", "restored_from": restored, "replaced": newest}
    return publish(model_dir, copy, keep, provenance), restored
