"""Enrolment: a new version that knows one more person (or one fewer), without training.

A descriptor model scores a face by its cosine similarity to each person's centre (the mean
descriptor of their faces), so a new person needs only a centre: the mean of the descriptors
of their photos, computed by the published version's own network. The new version is the
newest one with that centre added as one more class (or a class taken out), the same
threshold rule, and is published through the registry like any version: under the model's
lock, behind the quality gate (its report is its parent's) and TF Serving's load check.

What it needs from the parent: `model.keras` (the Keras model behind the SavedModel, kept in
every version folder since enrolment exists) and its ModelInfo. Enrolled people are listed in
ModelInfo.extra["enrolled"]: {name: {"photos": n, "after_version": v}}.

So that the next scheduled run keeps an enrolled person, the photos whose face was used are
kept in WORK/enrolled/<person>/, which `trainer run` trains on beside DATA, or with `data_dir`
in DATA/<person>/ itself (trainer/data/enrolled.py); `remove_person` moves both aside.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from facecore.detect import FaceDetector
from facecore.modelinfo import CLASS_SCORES_KEY, EMBEDDING_KEY, MODEL_INFO_FILE, ModelInfo
from facecore.preprocess import model_inputs
from facecore.images import decode_image
from facecore.versions import complete_versions
from trainer.config import PublishConfig, from_dict
from trainer.data.enrolled import enrolled_dir, keep_photos, set_aside
from trainer.data.extract import USED, ExtractParams, extract
from trainer.errors import BadInput, Refused
from trainer.model.network import CosineSimilarity, build_model, centre_of, inference_model, unit_columns
from trainer.publishing import registry
from trainer.publishing.export import export_model
from trainer.publishing.loadcheck import check_in_fresh_process
from trainer.publishing.release import KERAS_FILE

ENROLLED_KEY = "enrolled"
MIN_NAMED_SHARE = 0.8  # of the enrolment photos the new version must name as the person


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


def face_inputs(photos_dir: Path, info: ModelInfo, min_face_size: int) -> tuple[np.ndarray, Enrolment]:
    """Model inputs [N, S, S, channels] of the largest face of every photo, exactly as `prepare`
    crops them; photos without a usable face are refused with the reason."""
    params = ExtractParams(info.detector, info.preprocess, min_face_size)
    detector = FaceDetector(info.detector)
    enrolment, crops = Enrolment(person=""), []
    if not Path(photos_dir).is_dir():
        raise BadInput(f"{photos_dir} is not a folder of photos")
    for path in sorted(p for p in Path(photos_dir).iterdir() if p.is_file() and not p.name.startswith(".")):
        found = extract(path.read_bytes(), params, detector)
        if found.outcome == USED:
            crops.append(decode_image(found.png))
            enrolment.used.append(str(path))
        else:
            enrolment.refused[str(path)] = f"{found.outcome}: {found.reason}"
    return model_inputs(crops, info.preprocess), enrolment


def enrol_person(models_dir: Path, person: str, photos_dir: Path, config: PublishConfig, work_dir: Path,
                 min_photos: int = 3, min_face_size: int = 40, data_dir: Path | None = None) -> Enrolment:
    """Publish a version that also knows `person` from the faces in `photos_dir`; keep the photos
    used for the next training (WORK/enrolled/<person>/, or DATA/<person>/ with `data_dir`)."""
    _check_name(person)
    model_dir = Path(models_dir) / config.model_name
    result = Enrolment(person)

    def write(folder: Path) -> None:
        parent = load_parent(model_dir)
        inputs, found = face_inputs(photos_dir, parent.info, min_face_size)
        result.used, result.refused = found.used, found.refused
        if len(inputs) < min_photos:
            raise EnrolmentRefused(f"{len(inputs)} of the photos in {photos_dir} show a usable face; "
                                   f"{person} needs at least {min_photos} ({_reasons(found.refused)})")
        vectors = np.asarray(parent.model(inputs, training=False)[EMBEDDING_KEY])  # [N, E]
        model, info = _with_person(parent, person, vectors)
        result.named, result.nearest_other = _check_named(model, info, person, inputs)
        _write_version(folder, parent, model, info, config.model_name)

    provenance = {"source": "enrol", "person": person, "photos": str(photos_dir)}
    result.version = registry.publish(model_dir, write, config.keep, provenance, verify=check_in_fresh_process)
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
        model, info = _without_person(parent, person)
        _write_version(folder, parent, model, info, config.model_name)

    version = registry.publish(model_dir, write, config.keep, {"source": "remove", "person": person},
                               verify=check_in_fresh_process)
    set_aside(enrolled_dir(work_dir) / person)
    if data_dir is not None:
        set_aside(Path(data_dir) / person)
    return version


def _check_name(person: str) -> None:
    if not person or person != person.strip() or "/" in person or person.startswith(".") or person == "unknown":
        raise BadInput(f"{person!r} cannot be a person's name (a plain folder name, not 'unknown')")


def _reasons(refused: dict[str, str]) -> str:
    return "; ".join(f"{Path(p).name}: {why}" for p, why in refused.items()) or "no photos found"


def _centres_layer(model: keras.Model) -> CosineSimilarity:
    """The cosine head, inside the flip-averaging wrapper if there is one."""
    for layer in _inner(model).layers:
        if isinstance(layer, CosineSimilarity):
            return layer
    raise EnrolmentRefused("this model has no cosine head (a softmax model cannot enrol people): retrain it "
                           "with model.head = \"cosine\"")


def _with_person(parent: Parent, person: str, vectors: np.ndarray) -> tuple[keras.Model, ModelInfo]:
    """The parent's model and info with `person`'s centre added (or, if known, merged with theirs)."""
    info = parent.info
    centres = unit_columns(np.array(_centres_layer(parent.model).get_weights()[0], np.float32))  # [E, C]
    enrolled = dict(info.extra.get(ENROLLED_KEY, {}))
    if person in info.class_names:
        index = info.class_names.index(person)
        weight = enrolled.get(person, {}).get("photos", len(vectors))
        mean = (weight * centres[:, index] + len(vectors) * vectors.mean(axis=0)) / (weight + len(vectors))
        centres[:, index] = unit_columns(mean[:, None])[:, 0]
        names, thresholds = info.class_names, info.class_thresholds
        photos = weight + len(vectors)
    else:
        centres = np.concatenate([centres, centre_of(vectors)[:, None]], axis=1)
        names = (*info.class_names, person)
        thresholds = (*info.class_thresholds, info.unknown_threshold) if info.class_thresholds else ()
        photos = len(vectors)
    enrolled[person] = {"photos": int(photos), "after_version": parent.version}
    new_info = dataclasses.replace(info, class_names=tuple(names), class_thresholds=tuple(thresholds),
                                   extra={**info.extra, ENROLLED_KEY: enrolled, "exported_at": time.time()})
    return _rebuilt(parent, new_info, centres), new_info


def _without_person(parent: Parent, person: str) -> tuple[keras.Model, ModelInfo]:
    info = parent.info
    index = info.class_names.index(person)
    keep = [i for i in range(len(info.class_names)) if i != index]
    centres = np.array(_centres_layer(parent.model).get_weights()[0], np.float32)[:, keep]
    enrolled = {k: v for k, v in info.extra.get(ENROLLED_KEY, {}).items() if k != person}
    new_info = dataclasses.replace(
        info, class_names=tuple(info.class_names[i] for i in keep),
        class_thresholds=tuple(info.class_thresholds[i] for i in keep) if info.class_thresholds else (),
        extra={**info.extra, ENROLLED_KEY: enrolled, "exported_at": time.time()})
    return _rebuilt(parent, new_info, centres), new_info


def with_gallery(parent: Parent, names: tuple[str, ...], centres: np.ndarray) -> tuple[keras.Model, ModelInfo]:
    """The parent's network with another gallery: `names` and their centres [E, len(names)], under
    the parent's global threshold (benchmarks build large synthetic galleries with it)."""
    info = dataclasses.replace(parent.info, class_names=tuple(names), class_thresholds=(),
                               extra={**parent.info.extra, ENROLLED_KEY: {}, "exported_at": time.time()})
    return _rebuilt(parent, info, np.asarray(centres, np.float32)), info


def write_version(folder: Path, parent: Parent, model: keras.Model, info: ModelInfo, model_name: str) -> None:
    """What a version from enrolment holds (see `_write_version`)."""
    _write_version(folder, parent, model, info, model_name)


def _rebuilt(parent: Parent, info: ModelInfo, centres: np.ndarray) -> keras.Model:
    """The parent's architecture for len(centres) people: every weight copied, the centres replaced."""
    config = from_dict(info.extra["train_config"]).model
    spec = info.preprocess
    model = build_model(config, spec.input_size, centres.shape[1], spec.channels, pretrained=False)
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


def _check_named(model: keras.Model, info: ModelInfo, person: str, inputs: np.ndarray
                 ) -> tuple[float, tuple[str, float] | None]:
    """Refuse unless the new version names most enrolment photos as `person`; also return the
    closest other person's centre and its similarity (a look-alike or a second enrolment)."""
    scores = np.asarray(model(inputs, training=False)[CLASS_SCORES_KEY])  # [N, C]
    index = info.class_names.index(person)
    thresholds = np.asarray(info.thresholds())
    named = float(np.mean((scores.argmax(axis=1) == index) & (scores[:, index] >= thresholds[index])))
    if named < MIN_NAMED_SHARE:
        raise EnrolmentRefused(f"the new version would name only {named:.0%} of {person}'s photos as {person} "
                               f"(at least {MIN_NAMED_SHARE:.0%} needed): are they all the same person, "
                               "with a clear, frontal face?")
    centres = unit_columns(np.array(_centres_layer(model).get_weights()[0], np.float32))
    similarity = centres[:, index] @ centres  # [C]
    similarity[index] = -np.inf
    if len(similarity) < 2:
        return named, None
    other = int(similarity.argmax())
    return named, (info.class_names[other], float(similarity[other]))


def _write_version(folder: Path, parent: Parent, model: keras.Model, info: ModelInfo, model_name: str) -> None:
    """The SavedModel, its Keras model, and the parent's report and training config."""
    export_model(model, info, folder, model_name)
    model.save(folder / KERAS_FILE)
    for name in (registry.REPORT_FILE, registry.CONFIG_FILE):
        if (parent.folder / name).exists():
            shutil.copyfile(parent.folder / name, folder / name)
