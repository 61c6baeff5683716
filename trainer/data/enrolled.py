"""Photos of enrolled people, kept where the next training finds them.

`trainer enrol` keeps the photos it used in WORK/enrolled/<person>/ (the trainer's own writable
folder, beside its records and runs), or in DATA/<person>/ when told to write to the data folder.
`trainer run` trains on DATA plus WORK/enrolled: when anyone is enrolled it reads a folder of
links, WORK/training-data/<person>/<file>, rebuilt each run, so an enrolled person stays known
although the data folder itself may be read-only. Each photo is written under a temporary name
and renamed, so a run listing the folder meanwhile sees only whole files.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

ENROLLED = "enrolled"
TRAINING_DATA = "training-data"
REMOVED = ".removed"


def enrolled_dir(work: Path) -> Path:
    return Path(work) / ENROLLED


def keep_photos(paths: list[str], folder: Path) -> list[Path]:
    """Copy photos into `folder` (one person's), each whole or not at all; return the copies."""
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for source in map(Path, paths):
        target = folder / source.name
        if target.exists():
            target = folder / f"{source.stem}-{uuid.uuid4().hex[:8]}{source.suffix}"
        partial = folder / f".{target.name}.{uuid.uuid4().hex}.partial"
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        kept.append(target)
    return kept


def set_aside(folder: Path) -> Path | None:
    """Move a person's folder to <its parent>/.removed/<name>-<time>/ (hidden folders are never
    read as people); return where it went, or None if there was none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    aside = folder.parent / REMOVED / f"{folder.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, aside)
    return aside


def training_folder(data_dir: Path, work: Path) -> Path:
    """DATA itself, or with enrolled people a folder of links to DATA's and their photos."""
    enrolled = enrolled_dir(work)
    people = sorted(p for p in enrolled.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if enrolled.is_dir() else []
    if not people:
        return Path(data_dir)
    merged = Path(work) / TRAINING_DATA
    shutil.rmtree(merged, ignore_errors=True)
    for source in (Path(data_dir), enrolled):
        for person in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
            _link_files(person, merged / person.name, prefix="" if source == Path(data_dir) else "enrolled-")
    return merged


def _link_files(person: Path, target: Path, prefix: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(person.iterdir()):
        if not path.name.startswith("."):
            (target / f"{prefix}{path.name}").symlink_to(path.resolve())
