"""Enrolment without training (issue 19): rank-1 for new people, and seconds from command to answer.

(a) Every person of lfw-strangers and five-celebrities (people the model never saw) with at least
MIN_PHOTOS photos is enrolled, one at a time, into a copy of a published version from the first
ENROL_PHOTOS of their photos in sorted order, by `enrol_person` itself (the code `trainer enrol`
runs, in this process; TF Serving's load check in a fresh process is skipped here, part (b) runs
it). Each new version's SavedModel then sees the person's OTHER photos through the service's own
preprocessing (`service.inference.prepare_faces`, largest face) and labelling (`label_faces`, the
model's score/threshold rule): the share named right, per person and overall (goal >= 0.95), how
often they were named as someone else, and how often their own centre was the nearest one (rank-1
before the threshold; the scores of the faces the threshold turned away).

(b) The service runs on a models folder (gunicorn, local backend; then the tfserving backend on
the TF Serving stand-in with compose's poll interval); `python -m trainer enrol` runs as a
subprocess, and /v1/predict is asked every POLL_S about one of the person's held-out photos until
an answer names them (goal: <= 60 s from the command's start). The command's wall time is split
by what appears on disk and in its process tree (staging folder, model.keras, the load check's
process, the version folder).

    python benchmarks/enrol_benchmark.py --models DIR [--version V] [--people N] [--repeats 2]
           [--out DIR [--name VARIANT]]

--models is a MODEL_BASE_PATH whose faces/<V>/ holds model.keras and knows none of the new people
(without it, `trainer run` trains one on lfw-known first). Prints one JSON object; with --out DIR
also writes DIR/enrol-<YYYY-MM-DD>[-VARIANT].json.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the process helpers, the stand-in
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import detector_benchmark  # noqa: E402
import recording  # noqa: E402
from enrol_timing import command_to_answer  # noqa: E402
from openset_benchmark import STRANGER_SETS  # noqa: E402

MODEL_NAME = "faces"
MIN_PHOTOS = 8
ENROL_PHOTOS = 5
GOALS = {"named_right": 0.95, "command_to_answer_s": 60.0}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
BYTECODE_SETTINGS = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


def person_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def new_people(data: Path) -> list[tuple[str, str, list[Path]]]:
    """(set, person, photos) of every stranger-set person with at least MIN_PHOTOS photos."""
    found = []
    for name in STRANGER_SETS:
        for folder in sorted(p for p in (data / name).iterdir() if p.is_dir()):
            photos = person_photos(folder)
            if len(photos) >= MIN_PHOTOS:
                found.append((name, folder.name, photos))
    return found


def copy_version(models: Path, version: int | None, scratch: Path) -> tuple[Path, int]:
    """A MODEL_BASE_PATH under `scratch` holding only `version` (default: the newest) of `models`."""
    from facecore.versions import complete_versions

    published = complete_versions(models / MODEL_NAME)
    version = version if version is not None else max(published)
    target = scratch / MODEL_NAME / str(version)
    shutil.copytree(published[version], target)
    return scratch, version


def train_default(data: Path, scratch: Path) -> Path:
    """`trainer run` on lfw-known (default config) into scratch/models; its output goes to stderr."""
    models = scratch / "models"
    subprocess.run([sys.executable, "-m", "trainer", "run", "--data", str(data / "lfw-known"), "--models",
                    str(models), "--work", str(scratch / "work")], cwd=REPO, check=True, stdout=sys.stderr)
    return models


def service_inputs(photos: list[Path], info):
    """Model inputs [M, S, S, channels] of the largest face of each photo the service finds one in,
    through the service's own path; and the photos it found none in."""
    import numpy as np

    from facecore.detect import FaceDetector
    from facecore.images import decode_image
    from service.inference import Options, prepare_faces

    detector, rows, missed = FaceDetector(info.detector), [], []
    for path in photos:
        prepared = prepare_faces(decode_image(path.read_bytes()), info, Options(max_faces=1), detector)
        (rows.append(prepared.batch) if len(prepared.boxes) else missed.append(path.name))
    shape = (0, *info.input_shape)
    return (np.concatenate(rows) if rows else np.zeros(shape, np.float32)), missed


def faces_from_version(version_dir: Path, batch, parent_info) -> list[dict]:
    """The service's answer (label, score, threshold, top_k) for each face of `batch`, from the
    SavedModel's serving signature (whose preprocessing must be the parent's, which `batch` was
    made with)."""
    import tensorflow as tf

    from facecore.modelinfo import INPUT_KEY, SERVING_SIGNATURE, read_model_info
    from service.backend import Scores
    from service.inference import label_faces

    loaded = tf.saved_model.load(str(version_dir))
    outputs = loaded.signatures[SERVING_SIGNATURE](**{INPUT_KEY: tf.constant(batch)})
    scores = Scores.from_outputs({key: outputs[key].numpy() for key in Scores.OUTPUTS}, 0)
    info = read_model_info(loaded)
    if (info.detector, info.preprocess) != (parent_info.detector, parent_info.preprocess):
        raise RuntimeError(f"{version_dir} preprocesses faces unlike its parent")
    return label_faces(scores, info, top_k=1)


class StageClock:
    """Seconds spent in some functions of a module, per call, by wrapping them."""

    def __init__(self, module, names: tuple[str, ...]) -> None:
        self.seconds: dict[str, list[float]] = {name: [] for name in names}
        self._patches = [mock.patch.object(module, name, self._timed(name, getattr(module, name))) for name in names]

    def _timed(self, name: str, function):
        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name].append(time.perf_counter() - began)
        return timed

    def __enter__(self) -> "StageClock":
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc) -> None:
        for patch in self._patches:
            patch.stop()

    def medians(self) -> dict[str, float]:
        return {name: round(statistics.median(values), 2) for name, values in self.seconds.items() if values}


def enrol_one(models: Path, person: str, photos: list[Path], scratch: Path, config, parent_info) -> dict:
    """Enrol `person` from their first ENROL_PHOTOS photos; label their other photos with the new
    version; then delete that version, so the next person is enrolled into the same parent."""
    from trainer.errors import TrainerError
    from trainer.publishing import enrolment

    enrol_dir = scratch / "enrol" / person
    enrol_dir.mkdir(parents=True)
    for path in photos[:ENROL_PHOTOS]:
        shutil.copyfile(path, enrol_dir / path.name)
    batch, missed = service_inputs(photos[ENROL_PHOTOS:], parent_info)
    row = {"held_out": len(photos) - ENROL_PHOTOS, "no_face": len(missed)}
    began = time.perf_counter()
    try:
        result = enrolment.enrol_person(models, person, enrol_dir, config.publish, work_dir=scratch / "work",
                                        min_face_size=config.prepare.min_face_size)
    except TrainerError as exc:  # refused: none of their photos is named
        return {**row, "refused": str(exc), **answer_counts([], person)}
    row["enrol_s"] = round(time.perf_counter() - began, 2)
    row["enrolment"] = {"used": len(result.used), "refused": len(result.refused),
                        "named_on_enrolment_photos": round(result.named, 3),
                        "nearest_other": [result.nearest_other[0], round(result.nearest_other[1], 3)]}
    version_dir = models / MODEL_NAME / str(result.version)
    faces = faces_from_version(version_dir, batch, parent_info) if len(batch) else []
    shutil.rmtree(version_dir)
    return {**row, **answer_counts(faces, person)}


def answer_counts(faces: list[dict], person: str) -> dict:
    """How the service's answers for `person`'s faces came out."""
    labels = [face["label"] for face in faces]
    others = Counter(label for label in labels if label not in (person, "unknown"))
    return {"named_right": labels.count(person), "unknown": labels.count("unknown"), "named_other": dict(others),
            "nearest_is_person": sum(face["top_k"][0]["label"] == person for face in faces),
            "unknown_scores": [round(face["score"], 3) for face in faces if face["unknown"]]}


def rank1_new_people(data: Path, models: Path, scratch: Path, limit: int | None) -> dict:
    """Part (a): every new person enrolled alone into the parent, measured on their other photos."""
    import keras

    from trainer.config import load_config
    from trainer.publishing import enrolment

    config, people = load_config(None, []), new_people(data)[:limit]
    parent_info = enrolment.load_parent(models / MODEL_NAME).info
    known = set(parent_info.class_names)
    if known & {person for _, person, _ in people}:
        raise SystemExit(f"the version already knows {sorted(known & {p for _, p, _ in people})}: "
                         "pass --version of one that does not")
    per_person = {}
    # The load check (a fresh `trainer verify` process per version) accepts or refuses a version
    # and changes nothing in it; part (b) runs it in the real command.
    with mock.patch.object(enrolment, "FreshProcessCheck", lambda: contextlib.nullcontext(None)), \
            StageClock(enrolment, ("load_parent", "face_inputs", "export_model")) as clock:
        for set_name, person, photos in people:
            per_person[person] = {"set": set_name, **enrol_one(models, person, photos, scratch, config, parent_info)}
            keras.backend.clear_session()
            gc.collect()
            print(f"{person}: {per_person[person]}", file=sys.stderr)
    return {**rank1_summary(per_person), "threshold": parent_info.unknown_threshold,
            "in_process_stage_median_s": clock.medians(), "per_person": per_person}


def rank1_summary(per_person: dict) -> dict:
    held_out = sum(r["held_out"] for r in per_person.values())
    faces = held_out - sum(r["no_face"] for r in per_person.values())
    right = sum(r["named_right"] for r in per_person.values())
    other = sum(sum(r["named_other"].values()) for r in per_person.values())
    unknown = sum(r["unknown"] for r in per_person.values())
    nearest = sum(r["nearest_is_person"] for r in per_person.values())
    shares = {p: round(r["named_right"] / max(1, r["held_out"] - r["no_face"]), 3) for p, r in per_person.items()}
    return {
        "people": len(per_person), "enrol_photos": ENROL_PHOTOS, "min_photos": MIN_PHOTOS,
        "held_out_photos": held_out, "held_out_faces": faces,
        "named_right": round(right / max(1, faces), 4),
        "named_right_of_all_photos": round(right / max(1, held_out), 4),
        "unknown": round(unknown / max(1, faces), 4), "named_as_someone_else": round(other / max(1, faces), 4),
        "named_as_someone_else_count": other,
        "nearest_centre_is_person": round(nearest / max(1, faces), 4),  # rank-1 with no threshold
        "unknown_scores": sorted(x for r in per_person.values() for x in r["unknown_scores"]),
        "refused_enrolments": [p for p, r in per_person.items() if "refused" in r],
        "per_person_named_right": shares,
        "people_below_goal": sorted(p for p, share in shares.items() if share < GOALS["named_right"]),
        "worst_person": min(shares.items(), key=lambda item: item[1]) if shares else None,
    }


def run(args) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="faceid-enrol-bench-"))
    source = args.models or train_default(args.data, scratch)
    result = {"variant": args.name, "models": str(source), "goals": GOALS,
              "machine": {# whether each new interpreter (enrol, its load check) compiles TensorFlow's
                          # Python anew: about 10 s of CPU per process where no .pyc files exist
                          "python_bytecode": {name: os.environ.get(name) for name in BYTECODE_SETTINGS}}}
    models, version = copy_version(source, args.version, scratch / "a-models")
    result["parent_version"] = version
    if not args.skip_rank1:
        began = time.perf_counter()
        with pooled_thresholds() if args.pooled_threshold else contextlib.nullcontext():
            result["rank1"] = rank1_new_people(args.data, models, scratch / "a", args.people)
        result["rank1"]["seconds"] = round(time.perf_counter() - began, 1)
    if not args.skip_service:
        result["python_and_imports_s"] = import_seconds()
        result["command_to_answer"] = {backend: timed_enrolments(args, source, version, backend, scratch)
                                       for backend in args.backends}
    result["goals_met"] = goals_met(result)
    return result


@contextlib.contextmanager
def pooled_thresholds():
    """Every new person at the version's pooled threshold, as before 2026-12-04 (not scaled for a
    centre of few photos): the comparison for `Gallery.new_threshold`."""
    from trainer.publishing.gallery import Gallery

    with mock.patch.object(Gallery, "new_threshold", lambda gallery, photos: gallery.pooled):
        yield


def import_seconds() -> float:
    """Seconds for a fresh interpreter to import what `trainer enrol` imports (Keras, TensorFlow)."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import trainer.publishing.enrolment"], cwd=REPO, check=True,
                   capture_output=True)
    return round(time.perf_counter() - began, 2)


def timed_enrolments(args, source: Path, version: int, backend: str, scratch: Path) -> dict:
    """Part (b) `--repeats` times on `backend`, each on a fresh copy of the parent."""
    _, person, photos = next(p for p in new_people(args.data) if args.person in (None, p[1]))
    runs = []
    for repeat in range(args.repeats):
        where = scratch / f"b-{backend}-{repeat}"
        models, _ = copy_version(source, version, where / "models")
        runs.append(command_to_answer(backend, models, person, photos[:ENROL_PHOTOS], photos[ENROL_PHOTOS:],
                                      where))
    seconds = [r["command_to_answer_s"] for r in runs]
    known = [s for s in seconds if s is not None]
    return {"command_to_answer_s": seconds, "median_s": statistics.median(known) if known else None,
            "worst_s": max(seconds) if known and len(known) == len(seconds) else None, "runs": runs}


def goals_met(result: dict) -> dict:
    met = {}
    if "rank1" in result:
        met["named_right"] = result["rank1"]["named_right"] >= GOALS["named_right"]
    for backend, timing in result.get("command_to_answer", {}).items():  # every run within the goal
        worst = timing["worst_s"]
        met[f"command_to_answer_{backend}"] = worst is not None and worst <= GOALS["command_to_answer_s"]
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=detector_benchmark.default_data_dir())
    parser.add_argument("--models", type=Path, help="a MODEL_BASE_PATH with faces/<version>/model.keras "
                        "(default: train one with `trainer run` on lfw-known)")
    parser.add_argument("--version", type=int, help="the version to enrol into (default: the newest)")
    parser.add_argument("--people", type=int, help="only the first N new people in (a)")
    parser.add_argument("--person", help="the person (b) enrols (default: the first new person)")
    parser.add_argument("--backends", nargs="+", default=["local", "tfserving"], choices=["local", "tfserving"])
    parser.add_argument("--repeats", type=int, default=2, help="enrolments timed per backend in (b)")
    parser.add_argument("--skip-rank1", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--pooled-threshold", action="store_true",
                        help="(a) with every new person at the pooled threshold, unscaled for their few photos")
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)
    result = recording.write(run(args), args, name="enrol")
    return 0 if all(result["goals_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
