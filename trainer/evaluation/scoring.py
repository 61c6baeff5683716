"""Scoring models: a training run on its test split, or any exported model on a photo folder."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facecore.detect import DetectorParams
from facecore.modelinfo import PROBABILITIES_KEY, SERVING_SIGNATURE, read_model_info
from facecore.preprocess import PreprocessSpec
from trainer.data import manifest as manifest_io
from trainer.evaluation import classification, openset
from trainer.config import PrepareConfig, TrainerConfig
from trainer.data.preparation import prepare
from trainer.data.pipeline import make_dataset
from trainer.evaluation.plots import confusion_heatmap
from trainer.publishing.rundir import RunDir
from trainer.data.split import SPLITS

BATCH = 64


def predict(model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities [N, C] and labels [N] over a dataset of (inputs, labels) batches.

    `model` is a Keras model with dict outputs or a SavedModel serving signature.
    """
    probabilities, labels = [], []
    for inputs, batch_labels in dataset:
        if isinstance(model, keras.Model):
            outputs = model(inputs, training=False)
        else:
            outputs = model(inputs)
        probabilities.append(np.asarray(outputs[PROBABILITIES_KEY]))
        labels.append(batch_labels.numpy())
    if not probabilities:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int32)
    return np.concatenate(probabilities), np.concatenate(labels)


def classification_report(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """classification.summary of the arg-max predictions."""
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, np.int64)
    matrix = classification.confusion_matrix(labels, predicted, len(class_names))
    return classification.summary(matrix, class_names)


def evaluate_run(run_dir: Path, records_dir: Path | None = None, strangers_dir: Path | None = None) -> dict:
    """Test-split report of a run, with an unknown threshold calibrated on validation.

    `strangers_dir` (records of people the model does not know): their train and validation
    splits take part in the calibration, their test split in the reported rejection rate.
    Writes RUN/report.json and RUN/confusion.png.
    """
    run = RunDir(run_dir)
    config, info = run.read_config(), run.model_info()
    records_dir = Path(records_dir or run.read_json(run.dataset)["records_dir"])
    model = keras.models.load_model(run.model)
    score = _scorer(model, info.preprocess)
    test, test_labels = score(records_dir, "test")
    validation, validation_labels = score(records_dir, "validation")
    calibration = score(strangers_dir, ("train", "validation"))[0] if strangers_dir else None
    held_out = score(strangers_dir, "test")[0] if strangers_dir else None
    threshold = openset.calibrate(_top(validation), _top(calibration), config.openset)
    report = classification_report(test, test_labels, list(info.class_names))
    report.update(split="test", unknown_threshold=threshold, openset={
        "validation": openset.rates(threshold, validation, validation_labels, calibration),
        "test": openset.rates(threshold, test, test_labels, held_out),
    })
    write_report(report, run.report, run.confusion)
    return report


def _scorer(model, spec: PreprocessSpec):
    def score(records_dir, splits):
        return predict(model, make_dataset(records_dir, splits, spec, BATCH))
    return score


def _top(probabilities: np.ndarray | None) -> np.ndarray | None:
    return None if probabilities is None else probabilities.max(axis=1)


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
    probabilities, labels = _score_folder(loaded, info, Path(out_dir) / "records", prepared["class_names"])
    known = labels >= 0
    report = _present_classes_report(probabilities[known], labels[known], list(info.class_names))
    report.update(model=str(model_dir), data_dir=str(data_dir), unknown_threshold=info.unknown_threshold,
                  known_people=sorted(n for n in prepared["class_names"] if n in info.class_names),
                  strangers=sorted(n for n in prepared["class_names"] if n not in info.class_names),
                  photos=prepared["outcomes"],
                  openset=openset.rates(info.unknown_threshold, probabilities[known], labels[known],
                                        probabilities[~known]))
    write_report(report, Path(out_dir) / "report.json", Path(out_dir) / "confusion.png")
    return report


def _score_folder(loaded, info, records: Path, folder_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of every face, and its model class index (-1: a person the model does not know)."""
    dataset = make_dataset(records, SPLITS, info.preprocess, BATCH)
    probabilities, folder_labels = predict(loaded.signatures[SERVING_SIGNATURE], dataset)
    to_model = np.array([_index(info.class_names, name) for name in folder_names])
    return probabilities, to_model[folder_labels]


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
    for name, figures in (rates.items() if "threshold" not in rates else [("photos", rates)]):
        shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in figures.items() if k != "threshold")
        lines.append(f"{name}: {shown}")
    return "\n".join(lines)
