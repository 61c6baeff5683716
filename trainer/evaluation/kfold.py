"""K-fold cross-validation over the train and validation splits of prepared records.

Photos are dealt to K folds class by class (in record order, which is by pixel hash), and
each fold becomes a small prepared dataset of its own: test = fold i, validation = fold i+1
(for early stopping and calibration), train = the others. Training and scoring then run
unchanged on it, so no fold ever picks its checkpoint on the data it is scored on.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

import numpy as np
import tensorflow as tf

from trainer.data import manifest as manifest_io
from trainer.config import TrainerConfig
from trainer.data.records import FEATURES, shard_paths
from trainer.evaluation.scoring import evaluate_run
from trainer.model.training import train

SUMMARISED = ("accuracy", "macro_f1", "weighted_f1")


def assign_folds(labels: list[int], k: int) -> list[int]:
    """Fold of each example: every class's examples go round the folds in turn."""
    seen: dict[int, int] = defaultdict(int)
    folds = []
    for label in labels:
        folds.append(seen[label] % k)
        seen[label] += 1
    return folds


def _read_pooled(records_dir: Path) -> tuple[list[bytes], list[int], list[str]]:
    """Serialised examples of train + validation, their labels and class names."""
    paths = [str(p) for split in ("train", "validation") for p in shard_paths(records_dir, split)]
    examples, labels, names = [], [], []
    for serialized in tf.data.TFRecordDataset(paths).as_numpy_iterator():
        parsed = tf.io.parse_single_example(serialized, FEATURES)
        examples.append(serialized)
        labels.append(int(parsed["image/label"]))
        names.append(parsed["image/class_name"].numpy().decode())
    return examples, labels, names


def write_fold(out_dir: Path, manifest: dict, examples, labels, names, folds, k: int, fold: int) -> Path:
    """Records of fold `fold` as a prepared dataset in OUT/fold-<i>/records."""
    role = {fold: "test", (fold + 1) % k: "validation"}
    records = Path(out_dir) / f"fold-{fold}" / "records"
    records.mkdir(parents=True, exist_ok=True)
    fold_manifest = copy.deepcopy({key: manifest[key] for key in manifest if key != "files"})
    for split in ("train", "validation", "test"):
        chosen = [i for i, f in enumerate(folds) if role.get(f, "train") == split]
        with tf.io.TFRecordWriter(str(records / f"{split}-00000-of-00001.tfrecord")) as writer:
            for index in chosen:
                writer.write(examples[index])
        per_class = {name: sum(1 for i in chosen if names[i] == name) for name in manifest["class_names"]}
        fold_manifest["counts"][split] = {"total": len(chosen), "per_class": per_class}
        fold_manifest["shards"][split] = [f"{split}-00000-of-00001.tfrecord"]
    manifest_io.write(records, fold_manifest)
    return records


def cross_validate(config: TrainerConfig, records_dir: Path, k: int, out_dir: Path) -> dict:
    """Train and score K times; the per-fold figures and their mean and standard deviation."""
    if k < 3:
        raise ValueError("--kfold needs K >= 3 (one fold tests, one validates, the rest train)")
    manifest = manifest_io.read(records_dir)
    examples, labels, names = _read_pooled(records_dir)
    folds = assign_folds(labels, k)
    results = []
    for fold in range(k):
        records = write_fold(out_dir, manifest, examples, labels, names, folds, k, fold)
        run_dir = Path(out_dir) / f"fold-{fold}" / "run"
        train(config, records, run_dir)
        report = evaluate_run(run_dir, records)
        results.append({key: report[key] for key in SUMMARISED})
        print(f"fold {fold + 1}/{k}: " + ", ".join(f"{key} {results[-1][key]:.4f}" for key in SUMMARISED))
    return summarise(results, k)


def summarise(results: list[dict], k: int) -> dict:
    """Mean and (population) standard deviation of each figure over the folds."""
    summary = {"k": k, "folds": results}
    for key in SUMMARISED:
        values = np.array([r[key] for r in results], np.float64)
        summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return summary
