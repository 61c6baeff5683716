"""What the trainer has yet to do for the data folder (docs/people.md): `pending`.

Cheap and free of TensorFlow, since the scheduler asks every few seconds: it lists the photos
and reads the newest version's model_info.json and the status file. A retrain is pending when
DATA/.retrain-requested is newer than the last `run`'s start (the status file's
`last_run_started_at`), or when there is no version yet. Otherwise people changed when the
photos training would read (DATA/<person>/ and WORK/enrolled/<person>/, trainer/data/enrolled.py)
differ from what the newest version records it was made from (extra["sources"]), and strangers
changed when DATA/.strangers differs from extra["strangers"]. A person the version knows but has
no record of (a version made before these records) counts as in sync; one it does not know counts
once they have MIN_PHOTOS photos (the API adds photos one by one: no update for the first two).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facecore.datafolder import retrain_requested_at, stranger_photos
from facecore.modelinfo import MODEL_INFO_FILE, ModelInfo
from facecore.versions import complete_versions
from trainer.data.enrolled import training_photos
from trainer.publishing.gallery import SOURCES_KEY, STRANGERS_KEY
from trainer.status import read_status

MIN_PHOTOS = 3  # photos a person needs to be enrolled (as `trainer enrol`)


@dataclass(frozen=True)
class Changes:
    """What `trainer update` would do; false when nothing."""

    retrain: bool = False
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    strangers: bool = False
    state: str = ""  # a digest of what was compared: the same pending work, the same digest

    def __bool__(self) -> bool:
        return self.retrain or bool(self.new or self.changed or self.gone) or self.strangers

    def describe(self) -> str:
        if self.retrain:
            return "retrain requested (or no version yet)"
        parts = [f"{what}: {', '.join(names)}" for what, names in
                 (("new", self.new), ("changed", self.changed), ("gone", self.gone)) if names]
        return "; ".join(parts + (["strangers changed"] if self.strangers else [])) or "nothing to do"


def newest_version(model_dir: Path) -> tuple[int, ModelInfo] | None:
    """The newest complete version's number and ModelInfo, or None when there is none."""
    published = complete_versions(model_dir)
    if not published:
        return None
    version = max(published)
    return version, ModelInfo.from_json((published[version] / "assets.extra" / MODEL_INFO_FILE).read_text())


def current_sources(data_dir: Path, work: Path) -> dict[str, list[str]]:
    """Each person's photo names as training would read them now."""
    return {person: sorted(photos) for person, photos in training_photos(data_dir, work).items()}


def pending(data_dir: Path, models_dir: Path, work: Path, model_name: str = "faces",
            min_photos: int = MIN_PHOTOS) -> Changes:
    """What the data folder asks of the trainer now (see the module docstring)."""
    people, strangers = current_sources(data_dir, work), sorted(stranger_photos(data_dir))
    newest = newest_version(Path(models_dir) / model_name)
    requested = retrain_requested_at(data_dir)
    started = read_status(models_dir).get("last_run_started_at")
    retrain = (newest is None and bool(people)) or (requested is not None and (started is None or requested > started))
    state = _digest(people, strangers, requested if retrain else None, newest[0] if newest else None)
    if retrain or newest is None:
        return Changes(retrain=retrain, state=state)
    info = newest[1]
    new, changed, gone = people_changes(people, info)

    def ready(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(p for p in names if p in info.class_names or len(people[p]) >= min_photos)

    return Changes(False, ready(new), ready(changed), gone, strangers != sorted(info.extra.get(STRANGERS_KEY, [])),
                   state)


def people_changes(people: dict[str, list[str]], info: ModelInfo) -> tuple[tuple[str, ...], ...]:
    """(new, changed, gone): people to add, to re-centre and to remove, by name."""
    recorded = info.extra.get(SOURCES_KEY, {})
    known = set(info.class_names) | set(recorded)
    new = tuple(p for p in people if p not in known)
    changed = tuple(p for p in people if p in recorded and sorted(recorded[p]) != people[p])
    gone = tuple(sorted(p for p in recorded if p not in people))
    return new, changed, gone


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def watcher(data_dir: Path, models_dir: Path, work: Path, model_name: str = "faces") -> Callable[[], str | None]:
    """`pending` as the scheduler's watch: the pending work's digest, or None when there is none
    (also while there is no data folder: a schedule of `run` jobs only, or a volume not there yet)."""

    def check() -> str | None:
        if not Path(data_dir).is_dir():
            return None
        changes = pending(data_dir, models_dir, work, model_name)
        return changes.state if changes else None

    return check
