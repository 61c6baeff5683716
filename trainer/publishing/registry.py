"""Published model versions: `<models>/<name>/<int>/`, as TF Serving polls them
(facecore/versions.py: which folders are versions and which are complete).

A version appears by one rename of a finished temporary folder beside it (same filesystem),
so a poller never sees half a version. Every change to the folder (publish, prune, rollback,
clean-up of abandoned temporary folders) holds the folder's lock `.registry.lock`, from any
process, container or host that shares the volume. Each version folder holds the SavedModel plus
`report.json`, `train_config.json` and `publish.json` (where it came from).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from facecore.versions import REPORT_FILE, complete_versions, version_folders
from trainer.config import MIN_KEEP
from trainer.errors import Refused, TrainerError
from trainer.jsonfiles import write_json
from trainer.publishing.runlock import ModelsBusy, file_lock

log = logging.getLogger(__name__)

CONFIG_FILE = "train_config.json"
PUBLISH_FILE = "publish.json"
TEMP_PREFIX = ".publishing-"
LOCK_FILE = ".registry.lock"  # TF Serving and facecore.versions skip names that are not numbers
# A publish holds the lock through export and load check (a minute or two on a CPU); a
# rollback or prune started meanwhile waits for it rather than failing.
LOCK_WAIT_S = 900.0


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


def publish(model_dir: Path, write: Callable[[Path], None], keep: int, provenance: dict, *,
            verify: Callable[[Path], None] | None) -> int:
    """Make a new version from what `write(folder)` puts in a fresh folder; return its number.

    Under the model's lock. `verify(folder)` (e.g. loadcheck.check_in_fresh_process) then
    checks the finished folder; the folder is renamed into place only once both have returned,
    and on any error it is removed. Pruning afterwards never fails the publish.
    """
    _check_keep(keep)
    with models_lock(model_dir):
        return _publish_locked(Path(model_dir), write, keep, provenance, verify)


@contextlib.contextmanager
def models_lock(model_dir: Path) -> Iterator[Path]:
    """Hold `<model_dir>/.registry.lock`: every change to the folder (publish, prune, rollback,
    staging clean-up) happens under it. Waits up to LOCK_WAIT_S, then raises ModelsBusy."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(model_dir / LOCK_FILE, ModelsBusy, LOCK_WAIT_S) as path:
        yield path


def _publish_locked(model_dir: Path, write: Callable[[Path], None], keep: int, provenance: dict,
                    verify: Callable[[Path], None] | None) -> int:
    _remove_staging(model_dir)
    staging = model_dir / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    try:
        write(staging)
        if verify is not None:
            verify(staging)
        version = _rename_into_place(staging, model_dir, provenance)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        _prune(model_dir, keep)
    except OSError as exc:  # the version is published; the next publish prunes again
        log.warning("published version %d, but pruning %s failed: %s", version, model_dir, exc)
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


def _remove_staging(model_dir: Path) -> None:
    """Delete every staging folder: called under the model's lock, which every writer of a
    staging folder holds from creating it to renaming or removing it, so any folder found here
    was left by a writer that died.

    Not by PID (the old rule): PIDs repeat across containers and hosts sharing the volume (a
    `docker compose run` container's PID 1 or 7 is another container's too), so a live writer
    elsewhere looked dead and lost its folder mid-write, and a dead PID 1 looked alive forever.
    Not by host id and start time either (containers may share a host id and boot id, and clocks
    differ), nor by age (a slow export on a busy node would lose its folder). The lock is the
    one fact every writer shares.
    """
    for path in model_dir.glob(f"{TEMP_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


def prune(model_dir: Path, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions, under the model's lock; return those deleted."""
    _check_keep(keep)
    with models_lock(model_dir):
        return _prune(Path(model_dir), keep)


def _check_keep(keep: int) -> None:
    """Refuse, before anything changes, to keep fewer versions than TF Serving needs to fall back on."""
    if keep < MIN_KEEP:
        raise ValueError(f"keep must be >= {MIN_KEEP}, got {keep}")


def _prune(model_dir: Path, keep: int) -> list[int]:
    """Each doomed version is renamed away first (TF Serving never sees half a folder); one
    already gone is skipped."""
    deleted = []
    for version, folder in list(version_folders(model_dir).items())[:-keep]:
        hidden = model_dir / f"{TEMP_PREFIX}old-{version}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, hidden)
        except FileNotFoundError:
            continue
        shutil.rmtree(hidden, ignore_errors=True)
        deleted.append(version)
    return deleted


def rollback(model_dir: Path, keep: int, *, verify: Callable[[Path], None] | None) -> tuple[int, int]:
    """Publish a copy of the version before the newest one's origin; return (new, restored).

    The choice and the copy happen under the model's lock, so a publish or prune in between
    cannot change which version is restored or delete it mid-copy.
    """
    _check_keep(keep)
    with models_lock(model_dir):
        return _rollback_locked(Path(model_dir), keep, verify)


def _rollback_locked(model_dir: Path, keep: int, verify: Callable[[Path], None] | None) -> tuple[int, int]:
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
    return _publish_locked(model_dir, copy, keep, provenance, verify), restored
