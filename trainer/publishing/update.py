"""One new version that matches the data folder, without training (`trainer update`, docs/people.md).

From the newest version's network, centres and thresholds (trainer/publishing/enrolment.py):
people new in the data folder are enrolled from all their photos, people whose photos changed
are re-centred on all their current photos (replaced, not merged), people whose folder is gone
are removed, and each threshold is lifted from its base above the stranger faces nearest that
person (DATA/.strangers/**, the largest face of each photo; trainer/publishing/gallery.py).

A person with fewer than `min_photos` usable faces, or whose faces the new centre would not
name, is left out (a person already known keeps their previous centre); their photos are still
recorded, so the same photos are not tried again. Published like any version: under the
registry's lock, behind the gate (the parent's report) and TF Serving's load check.
TensorFlow is loaded inside `publish_update` only: this module's import stays cheap.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facecore.datafolder import stranger_photos
from trainer.config import TrainerConfig
from trainer.data.enrolled import training_photos
from trainer.errors import Refused
from trainer.publishing import registry
from trainer.publishing.changes import MIN_PHOTOS, people_changes
from trainer.publishing.gallery import Gallery
from trainer.publishing.loadcheck import FreshProcessCheck

Stage = Callable[[str, int, int], None]  # (stage, done, total), e.g. trainer.status.Job.stage


class UpdateRefused(Refused):
    """The data folder would leave the model with fewer than two people (nothing was published)."""


@dataclass
class Update:
    """What an update did: the new version and who changed how."""

    version: int = 0
    enrolled: list[str] = field(default_factory=list)
    recentred: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    lifted: dict[str, tuple[float, float]] = field(default_factory=dict)  # person: (base, lifted threshold)
    strangers: int = 0  # stranger faces scored


def publish_update(data_dir: Path, models_dir: Path, work: Path, config: TrainerConfig,
                   min_photos: int = MIN_PHOTOS, stage: Stage = lambda *_: None) -> Update:
    """Publish one version with the data folder's people and strangers (see the module docstring)."""
    from trainer.publishing import enrolment  # TensorFlow from here

    model_dir, result = Path(models_dir) / config.publish.model_name, Update()

    def write(folder: Path) -> None:
        parent = enrolment.load_parent(model_dir)  # the newest version, now that the registry is locked
        gallery = enrolment.gallery_of(parent)
        photos = training_photos(data_dir, work)
        new, changed, gone = people_changes({p: sorted(names) for p, names in photos.items()}, parent.info)
        for person in gone:
            gallery.remove(person)
            result.removed.append(person)
        gallery = _recentre(enrolment, parent, gallery, {p: list(photos[p].values()) for p in new + changed},
                            min_photos, result, stage)
        _record_sources(gallery, photos)
        _lift(enrolment, parent, gallery, data_dir, result, stage)
        if len(gallery.names) < 2:
            raise UpdateRefused(f"the data folder leaves {len(gallery.names)} known people; a model needs at least 2")
        stage("publishing", 0, 0)
        enrolment.write_version(folder, parent, *enrolment.build_version(parent, gallery), config.publish.model_name)

    provenance = {"source": "update", "data_dir": str(data_dir)}
    with FreshProcessCheck() as verify:  # loading TensorFlow while the version is written
        result.version = registry.publish(model_dir, write, config.publish.keep, provenance, verify=verify)
    return result


def _recentre(enrolment, parent, gallery: Gallery, people: dict[str, list[Path]], min_photos: int,
              result: Update, stage: Stage) -> Gallery:
    """The gallery with each of `people` centred on all their photos' faces, or left out."""
    total, done = sum(len(paths) for paths in people.values()), 0
    for person, paths in people.items():
        def counted(n: int, _: int, start: int = done) -> None:  # the count over everyone's photos
            stage("reading photos", start + n, total)

        inputs, _, refused = enrolment.photo_inputs(paths, parent.info, parent.info.min_face_size, counted)
        done += len(paths)
        if len(inputs) < min_photos:
            result.left_out[person] = (f"{len(inputs)} photos show a usable face, {min_photos} needed "
                                       f"({enrolment.reasons(refused)})")
            continue
        vectors, trial = enrolment.embeddings(parent.model, inputs), copy.deepcopy(gallery)
        known = person in trial.names
        trial.put(person, vectors, parent.version)
        try:
            enrolment.check_named(trial, person, vectors)
        except Refused as exc:
            result.left_out[person] = str(exc)
            continue
        gallery = trial
        (result.recentred if known else result.enrolled).append(person)
    return gallery


def _record_sources(gallery: Gallery, photos: dict[str, dict[str, Path]]) -> None:
    """Record every current person's photos as what this version was made from (those left out
    too, so the same photos are not tried again)."""
    gallery.sources = {person: sorted(names) for person, names in photos.items()}


def _lift(enrolment, parent, gallery: Gallery, data_dir: Path, result: Update, stage: Stage) -> None:
    """Lift the thresholds above the largest face of every stranger photo; record those photos."""
    strangers = stranger_photos(data_dir)
    inputs, _, _ = enrolment.photo_inputs(list(strangers.values()), parent.info, parent.info.min_face_size,
                                          lambda done, total: stage("reading stranger photos", done, total))
    result.lifted = gallery.lift(enrolment.embeddings(parent.model, inputs))
    result.strangers = len(inputs)
    gallery.strangers = list(strangers)
