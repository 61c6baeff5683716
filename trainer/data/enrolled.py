"""Photos of enrolled people, kept where the next training finds them.

`trainer enrol` keeps the photos it used in WORK/enrolled/<person>/ (the trainer's own writable
folder, beside its records and runs), or in DATA/<person>/ when told to write to the data folder.
`trainer run` trains on DATA plus WORK/enrolled: when anyone is enrolled it reads a folder of
links, WORK/training-data/<person>/<file>, rebuilt each run, so an enrolled person stays known
although the data folder itself may be read-only. Each photo is written under a temporary name
and renamed, so a run listing the folder meanwhile sees only whole files. `training_photos` names
each person's photos as training sees them: the names a version records it was made from
(trainer/publishing/changes.py compares them with the folders).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

from trainer.data.listing import scan

WORK_ENV = "TRAINER_WORK_DIR"
DEFAULT_WORK = ".trainer-work"  # under MODELS
ENROLLED = "enrolled"
TRAINING_DATA = "training-data"
ENROLLED_PREFIX = "enrolled-"  # an enrolled photo's name in the training folder


def work_folder(models_dir: Path, given: Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The trainer's work folder: `given`, else $TRAINER_WORK_DIR, else MODELS/.trainer-work."""
    return Path(given or environ.get(WORK_ENV) or Path(models_dir) / DEFAULT_WORK)


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


def training_photos(data_dir: Path, work: Path) -> dict[str, dict[str, Path]]:
    """Each person's photos as training sees them, {person: {name: path}}: DATA/<person>/'s under
    their path in that folder, WORK/enrolled/<person>/'s as enrolled-<path>. These names are what
    a version records it was made from (ModelInfo.extra["sources"])."""
    people: dict[str, dict[str, Path]] = {}
    roots = [(Path(data_dir), "")] + ([(enrolled_dir(work), ENROLLED_PREFIX)] if enrolled_dir(work).is_dir() else [])
    for root, prefix in roots:
        for item in scan(root).files:
            people.setdefault(item.person, {})[prefix + item.source.split("/", 1)[1]] = item.path
    return {person: dict(sorted(photos.items())) for person, photos in sorted(people.items())}


def training_folder(data_dir: Path, work: Path) -> Path:
    """DATA itself, or with enrolled people a folder of links to DATA's and their photos."""
    enrolled = enrolled_dir(work)
    if not (enrolled.is_dir() and scan(enrolled).files):
        return Path(data_dir)
    merged = Path(work) / TRAINING_DATA
    shutil.rmtree(merged, ignore_errors=True)
    for person, photos in training_photos(data_dir, work).items():
        for name, path in photos.items():
            link = merged / person / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
    return merged
