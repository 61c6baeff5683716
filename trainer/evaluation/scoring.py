"""Scoring models: a training run on its test split, or any exported model on a photo folder."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facecore.detect import DetectorParams
from facecore.modelinfo import (
    CLASS_SCORES_KEY, PROBABILITIES_KEY, SCORE_KEY, SERVING_SIGNATURE, THRESHOLD_KEY, is_unknown, read_model_info,
)
from facecore.preprocess import PreprocessSpec
from trainer.data import manifest as manifest_io
from trainer.evaluation import classification, openset
from trainer.config import PrepareConfig, TrainerConfig
from trainer.data.preparation import prepare
from trainer.data.pipeline import make_dataset
from trainer.evaluation.plots import confusion_heatmap, openset_curve
from trainer.model.network import compiled
from trainer.publishing.rundir import RunDir
from trainer.data.split import SPLITS

BATCH = 64
OPENSET_PLOT = "openset.png"
FACES_FILE = "faces.npz"  # every scored face: what the run report shows of each (trainer/evaluation/run_report.py)
SCORES = {"cosine": "cosine similarity to the nearest person's centre", "softmax": "top class probability"}
THRESHOLDS = {"global": "one threshold for everyone", "person": "per-person thresholds"}


def predict(model, dataset: tf.data.Dataset, keys: tuple[str, ...]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The model's outputs `keys` (each [N, ...]) and the labels [N] over a dataset of
    (inputs, labels) batches. `model` is a Keras model with dict outputs or a SavedModel
    serving signature."""
    outputs, labels = {key: [] for key in keys}, []
    run = compiled(model) if isinstance(model, keras.Model) else model
    for inputs, batch_labels in dataset:
        answer = run(inputs)
        for key in keys:
            outputs[key].append(np.asarray(answer[key]))
        labels.append(batch_labels.numpy())
    if not labels:
        return {key: np.zeros((0, 0), np.float32) for key in keys}, np.zeros(0, np.int32)
    return {key: np.concatenate(values) for key, values in outputs.items()}, np.concatenate(labels)


def classification_report(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """classification.summary of the arg-max predictions."""
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, np.int64)
    matrix = classification.confusion_matrix(labels, predicted, len(class_names))
    return classification.summary(matrix, class_names)


def evaluate_run(run_dir: Path, records_dir: Path | None = None, strangers_dir: Path | None = None) -> dict:
    """Test-split report of a run, with per-person unknown thresholds calibrated on validation.

    `strangers_dir` (records of people the model does not know) is split by person: the
    calibration people take part in choosing the thresholds, the test people only in the
    reported rejection rate and curve. Writes RUN/report.json, RUN/confusion.png, RUN/openset.png.
    """
    run = RunDir(run_dir)
    config, info = run.read_config(), run.model_info()
    records_dir = Path(records_dir or run.read_json(run.dataset)["records_dir"])
    model = compiled(keras.models.load_model(run.model))  # traced once for all three predictions
    test, validation = (_faces(model, records_dir, split, info.preprocess) for split in ("test", "validation"))
    strangers = _strangers(model, strangers_dir, info.preprocess, config.openset.stranger_seed) \
        if strangers_dir else (None, None, {})
    report = classification_report(test.class_scores, test.labels, list(info.class_names))
    report.update(split="test", **_openset_report(config, len(info.class_names), validation, test, *strangers))
    write_report(report, run.report, run.confusion)
    openset_curve(report["openset"]["curve"], report["openset"]["known_accept"], run.root / OPENSET_PLOT)
    score, threshold = openset.decide(test.class_scores, report["class_thresholds"] or
                                      [report["unknown_threshold"]] * len(info.class_names))
    save_faces(run.root / FACES_FILE, test.class_scores, test.labels, score.numpy(), threshold.numpy())
    return report


def save_faces(path: Path, class_scores, labels, score, threshold) -> None:
    """The scored faces, in dataset order: class scores [N, C], labels [N] (-1: a stranger),
    the open-set score and threshold [N]."""
    np.savez_compressed(path, class_scores=class_scores, labels=labels, score=score, threshold=threshold)


def _openset_report(config, classes: int, validation: openset.Faces, test: openset.Faces,
                    calibration: openset.Faces | None, held_out: openset.Faces | None, people: dict) -> dict:
    """The report's unknown-face part: thresholds, figures, the split of strangers, the curve."""
    accept, thresholds = openset.calibrate(validation, calibration, classes, config.openset)
    one_for_all = config.openset.thresholds == "global"
    return {
        "unknown_threshold": float(thresholds[0]) if one_for_all else openset.pooled_threshold(validation, accept),
        "class_thresholds": [] if one_for_all else [float(t) for t in thresholds],
        "openset": {
            "rule": f"{SCORES[config.model.head]}, {THRESHOLDS[config.openset.thresholds]}", "known_accept": accept,
            "validation": openset.figures(thresholds, validation, calibration),
            "test": openset.figures(thresholds, test, held_out),
            "strangers": people,
            "curve": openset.curve(validation, test, held_out, classes, config.openset),
        },
    }


def _faces(model, records_dir: Path, splits, spec: PreprocessSpec) -> openset.Faces:
    outputs, labels = predict(model, make_dataset(records_dir, splits, spec, BATCH), (CLASS_SCORES_KEY,))
    return openset.Faces(outputs[CLASS_SCORES_KEY], labels)


def _strangers(model, records_dir: Path, spec: PreprocessSpec, seed: str = openset.SPLIT_SEED):
    """Stranger faces of the calibration people, of the test people, and who is in which part."""
    faces = _faces(model, records_dir, SPLITS, spec)
    names = manifest_io.read(records_dir)["class_names"]
    calibration, test = openset.stranger_split(names, seed)
    in_calibration = np.array([names[label] in calibration for label in faces.labels], bool)
    unlabelled = openset.Faces(faces.class_scores, np.full(len(faces.labels), -1))
    return (unlabelled.select(in_calibration), unlabelled.select(~in_calibration),
            {"calibration_people": sorted(calibration), "test_people": sorted(test)})


def write_report(report: dict, path: Path, heatmap: Path) -> None:
    """report.json and the confusion-matrix PNG (none when no known face was scored)."""
    RunDir(path.parent).write_json(path, report)
    names = report["class_names"]
    if names:
        confusion_heatmap(np.asarray(report["confusion_matrix"]), names, names, heatmap)


def prepare_photos(data_dir: Path, out_dir: Path, detector: DetectorParams, preprocess: PreprocessSpec) -> dict:
    """Face-crop records of every photo in DATA/<person>/ (no class left out), as a model sees them."""
    config = TrainerConfig(detector=detector, preprocess=preprocess, prepare=PrepareConfig(min_per_class=1))
    return prepare(data_dir, out_dir, config, force=True)


def records_of(folder: Path, work_dir: Path, detector: DetectorParams, preprocess: PreprocessSpec) -> Path:
    """`folder` itself if it holds prepared records, else records prepared from its photos."""
    folder = Path(folder)
    if (folder / manifest_io.FILENAME).exists():
        return folder
    prepare_photos(folder, work_dir, detector, preprocess)
    return Path(work_dir)


def evaluate_photos(model_dir: Path, data_dir: Path, out_dir: Path) -> dict:
    """Report of an exported model on a photo folder, people matched to classes by name.

    People the model does not know count as strangers: they are only scored for rejection.
    Writes OUT/report.json, OUT/confusion.png and OUT/records/.
    """
    loaded = tf.saved_model.load(str(model_dir))
    info = read_model_info(loaded)
    prepared = prepare_photos(data_dir, Path(out_dir) / "records", info.detector, info.preprocess)
    if not prepared["class_names"]:
        raise ValueError(f"no face found in any photo under {data_dir}")
    outputs, labels = _score_folder(loaded, info, Path(out_dir) / "records", prepared["class_names"])
    probabilities, known = outputs[PROBABILITIES_KEY], labels >= 0
    unknown = is_unknown(outputs[SCORE_KEY], outputs[THRESHOLD_KEY])  # the model's own rule
    report = _present_classes_report(probabilities[known], labels[known], list(info.class_names))
    report.update(model=str(model_dir), data_dir=str(data_dir), unknown_threshold=info.unknown_threshold,
                  known_people=sorted(n for n in prepared["class_names"] if n in info.class_names),
                  strangers=sorted(n for n in prepared["class_names"] if n not in info.class_names),
                  photos=prepared["outcomes"],
                  openset={"photos": openset.rates(unknown[known], probabilities[known].argmax(axis=1) == labels[known],
                                                   unknown[~known])})
    write_report(report, Path(out_dir) / "report.json", Path(out_dir) / "confusion.png")
    save_faces(Path(out_dir) / FACES_FILE, probabilities, labels, outputs[SCORE_KEY], outputs[THRESHOLD_KEY])
    return report


def _score_folder(loaded, info, records: Path, folder_names: list[str]) -> tuple[dict, np.ndarray]:
    """The serving outputs of every face, and its model class index (-1: a person the model does not know)."""
    dataset = make_dataset(records, SPLITS, info.preprocess, BATCH)
    outputs, folder_labels = predict(loaded.signatures[SERVING_SIGNATURE], dataset,
                                     (PROBABILITIES_KEY, SCORE_KEY, THRESHOLD_KEY))
    to_model = np.array([_index(info.class_names, name) for name in folder_names])
    return outputs, to_model[folder_labels]


def _index(names: tuple[str, ...], name: str) -> int:
    return names.index(name) if name in names else -1


def _present_classes_report(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """Metrics over the classes that occur as true or predicted labels only."""
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, np.int64)
    present = np.union1d(labels, predicted).astype(np.int64)
    position = {int(c): i for i, c in enumerate(present)}
    matrix = classification.confusion_matrix([position[int(c)] for c in labels],
                                      [position[int(c)] for c in predicted], len(present))
    return classification.summary(matrix, [class_names[c] for c in present])


def describe(report: dict) -> str:
    """The per-class table, then the open-set figures, for printing."""
    lines = [classification.format_table(report), "", f"unknown threshold: {report['unknown_threshold']:.4f}"]
    rates = report.get("openset", {})
    if "known_accept" in rates:
        lines.append(f"thresholds accept {rates['known_accept']:.3f} of validation faces named right "
                     f"({rates['rule']})")
    for name in ("validation", "test", "photos"):
        if name in rates:
            shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in rates[name].items())
            lines.append(f"{name}: {shown}")
    return "\n".join(lines)
