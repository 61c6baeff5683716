"""Enrolment: a new version that knows one more person (or one fewer), without training.

A descriptor model scores a face by its cosine similarity to each person's centre (the mean
descriptor of their faces), so a new person needs only a centre: the mean of the descriptors
of their photos, computed by the published version's own network. The new version is the
newest one with that centre added as one more class (or a class taken out), the same
threshold rule, and is published through the registry like any version: under the model's
lock, behind the quality gate (its report is its parent's) and TF Serving's load check.

What it needs from the parent: `model.keras` (the Keras model behind the SavedModel, kept in
every version folder since enrolment exists) and its ModelInfo. The people, centres, thresholds
and records change as a Gallery (trainer/publishing/gallery.py); `trainer update` builds its
versions from the same pieces (trainer/publishing/update.py). Enrolled people are listed in
ModelInfo.extra["enrolled"]: {name: {"photos": n, "after_version": v}}, their photos in
extra["sources"].

So that the next scheduled run keeps an enrolled person, the photos whose face was used are
kept in WORK/enrolled/<person>/, which `trainer run` trains on beside DATA, or with `data_dir`
in DATA/<person>/ itself (trainer/data/enrolled.py); `remove_person` moves both aside
(facecore/datafolder.py's `set_aside`).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from facecore.datafolder import NAME_RULE, is_usable_name, set_aside
from facecore.modelinfo import (
    DEFAULT_MIN_FACE_SIZE, EMBEDDING_KEY, ENROLLED_KEY, MODEL_INFO_FILE, TRAIN_CONFIG_KEY, ModelInfo,
)
from facecore.versions import REPORT_PAGE, complete_versions
from trainer.config import PublishConfig, from_dict
from trainer.data.enrolled import ENROLLED_PREFIX, enrolled_dir, keep_photos
from trainer.data.extract import ExtractParams, largest_faces
from trainer.errors import BadInput, Refused
from trainer.model.network import CosineSimilarity, build_model, inference_model
from trainer.publishing.gallery import Gallery
from trainer.publishing import registry
from trainer.publishing.export import export_model
from trainer.publishing.loadcheck import FreshProcessCheck
from trainer.publishing.release import KERAS_FILE


MIN_NAMED_SHARE = 0.8  # of the enrolment photos the new version must name as the person
BATCH = 64  # faces per call of the network


class EnrolmentRefused(Refused):
    """The photos or the published version do not allow this enrolment (nothing was published)."""


@dataclass
class Enrolment:
    """What an enrolment did: the new version, the photos used and refused (with reasons)."""

    person: str
    version: int = 0
    used: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    named: float = 0.0  # share of the used photos the new version names as the person
    nearest_other: tuple[str, float] | None = None  # the closest other person's centre, its similarity


@dataclass(frozen=True)
class Parent:
    """The newest published version, as enrolment starts from it."""

    version: int
    folder: Path
    info: ModelInfo
    model: keras.Model


def load_parent(model_dir: Path) -> Parent:
    """The newest complete version with its Keras model (EnrolmentRefused if it has none)."""
    published = complete_versions(model_dir)
    if not published:
        raise EnrolmentRefused(f"no published version in {model_dir}: run `python -m trainer run` first")
    version = max(published)
    folder = published[version]
    if not (folder / KERAS_FILE).exists():
        raise EnrolmentRefused(f"version {version} was published without {KERAS_FILE} (before enrolment "
                               "existed): publish a new version with `python -m trainer run` first")
    info = ModelInfo.from_json((folder / "assets.extra" / MODEL_INFO_FILE).read_text())
    return Parent(version, folder, info, keras.models.load_model(folder / KERAS_FILE))


def photo_inputs(paths: list[Path], info: ModelInfo, min_face_size: int,
                 progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Model inputs [N, S, S, channels] of the largest face of each photo, under the version's own
    detector and preprocessing; the photos used and those refused, with the reason."""
    return largest_faces(paths, ExtractParams(info.detector, info.preprocess, min_face_size), progress)


def face_inputs(photos_dir: Path, info: ModelInfo, min_face_size: int) -> tuple[np.ndarray, Enrolment]:
    """`photo_inputs` of every photo in a folder (hidden files left out)."""
    if not Path(photos_dir).is_dir():
        raise BadInput(f"{photos_dir} is not a folder of photos")
    paths = sorted(p for p in Path(photos_dir).iterdir() if p.is_file() and not p.name.startswith("."))
    inputs, used, refused = photo_inputs(paths, info, min_face_size)
    return inputs, Enrolment(person="", used=used, refused=refused)


def embeddings(model: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """The model's embeddings [N, E] of inputs [N, S, S, channels], BATCH faces a call."""
    width = model.output[EMBEDDING_KEY].shape[-1]
    parts = [np.asarray(model(inputs[start:start + BATCH], training=False)[EMBEDDING_KEY])
             for start in range(0, len(inputs), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, width), np.float32)


def gallery_of(parent: Parent) -> Gallery:
    """The parent's people, centres and thresholds, to change."""
    return Gallery.of(parent.info, centres_of(parent.model))


def centres_of(model: keras.Model) -> np.ndarray:
    """The cosine head's centres [E, C] (EnrolmentRefused for a model without one)."""
    return np.asarray(_centres_layer(model).get_weights()[0], np.float32)


def build_version(parent: Parent, gallery: Gallery) -> tuple[keras.Model, ModelInfo]:
    """The parent's network with `gallery`'s people: the model to export and its ModelInfo."""
    info = gallery.model_info(parent.info)
    return _rebuilt(parent, info, gallery.centres), info


def enrol_person(models_dir: Path, person: str, photos_dir: Path, config: PublishConfig, work_dir: Path,
                 min_photos: int = 3, min_face_size: int = DEFAULT_MIN_FACE_SIZE,
                 data_dir: Path | None = None) -> Enrolment:
    """Publish a version that also knows `person` from the faces in `photos_dir`; keep the photos
    used for the next training (WORK/enrolled/<person>/, or DATA/<person>/ with `data_dir`)."""
    check_name(person)
    model_dir = Path(models_dir) / config.model_name
    result = Enrolment(person)

    def write(folder: Path) -> None:
        parent = load_parent(model_dir)
        inputs, found = face_inputs(photos_dir, parent.info, min_face_size)
        result.used, result.refused = found.used, found.refused
        if len(inputs) < min_photos:
            raise EnrolmentRefused(f"{len(inputs)} of the photos in {photos_dir} show a usable face; "
                                   f"{person} needs at least {min_photos} ({reasons(found.refused)})")
        vectors, gallery = embeddings(parent.model, inputs), gallery_of(parent)
        known = person in gallery.names
        gallery.put(person, vectors, parent.version,
                    weight=gallery.enrolled.get(person, {}).get("photos", len(vectors)) if known else 0)
        prefix = "" if data_dir is not None else ENROLLED_PREFIX
        gallery.sources[person] = sorted({*gallery.sources.get(person, []),
                                          *(prefix + Path(path).name for path in result.used)})
        gallery.strangers = []  # not scored against the new centre: the next `trainer update` lifts again
        result.named, result.nearest_other = check_named(gallery, person, vectors)
        write_version(folder, parent, *build_version(parent, gallery), config.model_name)

    provenance = {"source": "enrol", "person": person, "photos": str(photos_dir)}
    with FreshProcessCheck() as verify:  # loading TensorFlow while the version is written
        result.version = registry.publish(model_dir, write, config.keep, provenance, verify=verify)
    keep_photos(result.used, (Path(data_dir) if data_dir is not None else enrolled_dir(work_dir)) / person)
    return result


def remove_person(models_dir: Path, person: str, config: PublishConfig, work_dir: Path,
                  data_dir: Path | None = None) -> int:
    """Publish a version that no longer knows `person`; move their photos aside (WORK/enrolled,
    and DATA with `data_dir`) so that the next training does not bring them back."""
    model_dir = Path(models_dir) / config.model_name

    def write(folder: Path) -> None:
        parent = load_parent(model_dir)
        if person not in parent.info.class_names:
            raise BadInput(f"version {parent.version} does not know {person!r}")
        if len(parent.info.class_names) < 3:
            raise EnrolmentRefused("a model must keep at least 2 people")
        gallery = gallery_of(parent)
        gallery.remove(person)
        gallery.strangers = []  # their strangers now nearest someone else: the next `trainer update` lifts again
        write_version(folder, parent, *build_version(parent, gallery), config.model_name)

    with FreshProcessCheck() as verify:
        version = registry.publish(model_dir, write, config.keep, {"source": "remove", "person": person},
                                   verify=verify)
    set_aside(enrolled_dir(work_dir) / person)
    if data_dir is not None:
        set_aside(Path(data_dir) / person)
    return version


def check_name(person: str) -> None:
    """BadInput unless `person` can be a person's name (facecore.datafolder.NAME_RULE, the service's too)."""
    if not is_usable_name(person):
        raise BadInput(f"{person!r} cannot be a person's name ({NAME_RULE})")


def reasons(refused: dict[str, str]) -> str:
    """The refused photos and why, on one line."""
    return "; ".join(f"{Path(p).name}: {why}" for p, why in refused.items()) or "no photos found"


def check_named(gallery: Gallery, person: str, vectors: np.ndarray) -> tuple[float, tuple[str, float] | None]:
    """Refuse unless `gallery` names most of `person`'s faces (embeddings [N, E]) as them; also
    return the closest other person's centre and its similarity (a look-alike or a second enrolment)."""
    named = gallery.named(person, vectors)
    if named < MIN_NAMED_SHARE:
        raise EnrolmentRefused(f"the new version would name only {named:.0%} of {person}'s photos as {person} "
                               f"(at least {MIN_NAMED_SHARE:.0%} needed): are they all the same person, "
                               "with a clear, frontal face?")
    return named, gallery.nearest_other(person)


def with_gallery(parent: Parent, names: tuple[str, ...], centres: np.ndarray) -> tuple[keras.Model, ModelInfo]:
    """The parent's network with another gallery: `names` and their centres [E, len(names)], under
    the parent's global threshold (benchmarks build large synthetic galleries with it)."""
    info = dataclasses.replace(parent.info, class_names=tuple(names), class_thresholds=(),
                               extra={**parent.info.extra, ENROLLED_KEY: {}, "exported_at": time.time()})
    return _rebuilt(parent, info, np.asarray(centres, np.float32)), info


def write_version(folder: Path, parent: Parent, model: keras.Model, info: ModelInfo, model_name: str) -> None:
    """What a version made without training holds: the SavedModel, its Keras model, and the
    parent's report and training config."""
    export_model(model, info, folder, model_name)
    model.save(folder / KERAS_FILE)
    for name in (registry.REPORT_FILE, REPORT_PAGE, registry.CONFIG_FILE):
        if (parent.folder / name).exists():
            shutil.copyfile(parent.folder / name, folder / name)


def _centres_layer(model: keras.Model) -> CosineSimilarity:
    """The cosine head, inside the flip-averaging wrapper if there is one."""
    for layer in _inner(model).layers:
        if isinstance(layer, CosineSimilarity):
            return layer
    raise EnrolmentRefused("this model has no cosine head (a softmax model cannot enrol people): retrain it "
                           "with model.head = \"cosine\"")


def _rebuilt(parent: Parent, info: ModelInfo, centres: np.ndarray) -> keras.Model:
    """The parent's architecture for len(centres) people: every weight copied, the centres replaced."""
    config = from_dict(info.extra[TRAIN_CONFIG_KEY]).model
    spec = info.preprocess
    model = build_model(config, spec, centres.shape[1], pretrained=False)
    old = {layer.name: layer for layer in _inner(parent.model).layers}
    for layer in model.layers:
        if isinstance(layer, CosineSimilarity):
            layer.set_weights([centres])
        elif layer.weights:
            layer.set_weights(old[layer.name].get_weights())
    return inference_model(model, config)


def _inner(model: keras.Model) -> keras.Model:
    """The model under the flip-averaging wrapper, or the model itself."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)
              and any(isinstance(sub, CosineSimilarity) for sub in layer.layers)]
    return nested[0] if nested else model
