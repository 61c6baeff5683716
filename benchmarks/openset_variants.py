"""The unknown-face variants compared for issue 12, on one person split (docs/training.md table).

Trains the default architecture with a research loop that supports what the trainer does not
(strangers as a background class, outlier exposure), then scores every variant with every rule:
top probability (msp), max logit, energy (log-sum-exp of logits), cosine to per-person centroids
of training embeddings; one global threshold or per-person thresholds (shrunk to the pool with
the weight of 5 faces, as trainer/evaluation/openset.py does), set on validation faces named
right at acceptance q. Figures are on the test faces of known people and the strangers of the
test people (lfw-strangers and five-celebrities split by person with openset.stranger_split).

Usage (each training run takes minutes):
  python benchmarks/openset_variants.py train {base,cos,oe,cosoe,bg} --out DIR
  python benchmarks/openset_variants.py table base cos ... --out DIR      (prints JSON)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from trainer.config import ModelConfig, PrepareConfig, TrainerConfig
from trainer.data import manifest as manifest_io
from trainer.data.augment import augment_batch
from trainer.data.pipeline import make_dataset, model_spec
from trainer.data.preparation import prepare
from trainer.evaluation.openset import shrunk_thresholds, stranger_split
from trainer.model.network import CosineSimilarity, build_model
from trainer.model.optimizers import build_optimizer

CONFIG = TrainerConfig(model=ModelConfig(head="softmax"))  # the softmax builder; `cos` adds its own head
STRANGER_SETS = ("lfw-strangers", "five-celebrities")
VARIANTS = {"base": ("softmax", "none"), "bg": ("softmax", "background"), "oe": ("softmax", "oe"),
            "cos": ("cosine", "none"), "cosoe": ("cosine", "oe")}
SCALE, MARGIN, OE_WEIGHT, PRIOR_FACES = 30.0, 0.35, 0.5, 5.0
ACCEPT = (0.90, 0.93, 0.95, 0.97)


def records(data: Path, out: Path, name: str, min_per_class: int) -> Path:
    folder = out / f"records-{name}"
    if not (folder / manifest_io.FILENAME).exists():
        prepare(data / name, folder, TrainerConfig(prepare=PrepareConfig(min_per_class=min_per_class)), force=True)
    return folder


def arrays(folder: Path, splits, spec) -> tuple[np.ndarray, np.ndarray]:
    parts = [(x.numpy(), y.numpy()) for x, y in make_dataset(folder, splits, spec, 64)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_data(data: Path, out: Path) -> dict:
    """Model inputs of known train/validation/test and of each stranger part, by name."""
    known = records(data, out, "lfw-known", 5)
    manifest = manifest_io.read(known)
    spec = model_spec(manifest, CONFIG)
    found = {"classes": manifest["class_names"], "spec": spec}
    for split in ("train", "validation", "test"):
        found[split] = arrays(known, split, spec)
    for name in STRANGER_SETS:
        folder = records(data, out, name, 1)
        names = manifest_io.read(folder)["class_names"]
        x, y = arrays(folder, ("train", "validation", "test"), spec)
        calibration, _ = stranger_split(names)
        in_calibration = np.array([names[i] in calibration for i in y])
        found[f"{name}/cal"], found[f"{name}/test"] = x[in_calibration], x[~in_calibration]
    return found


class CosineHead(CosineSimilarity):
    """The trainer's cosine head under the class name the recorded runs' weight files use."""


def build(head: str, outputs: int) -> keras.Model:
    """{"logits": [N, K], "embedding": [N, E]}; for the cosine head the logits are cosines."""
    base = build_model(CONFIG.model, 64, outputs)
    if head == "softmax":
        embedding = base.output["embedding"]
        logits = base.get_layer("logits")(base.get_layer("embedding_dropout")(embedding))
        return keras.Model(base.input, {"logits": logits, "embedding": embedding})
    embedding = keras.layers.UnitNormalization(name="unit")(base.get_layer("embedding_bn").output)
    return keras.Model(base.input, {"logits": CosineHead(outputs, name="cos")(embedding),
                                    "embedding": embedding})


def training_set(found: dict, strangers: str):
    """(inputs, targets, weights, is_known) with class weights; strangers as an extra class
    (background) or with a uniform target (outlier exposure)."""
    classes = len(found["classes"])
    x, y = found["train"]
    outputs = classes + (strangers == "background")
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    weights = (counts.sum() / (classes * counts))[y].astype(np.float32)
    targets, known = np.eye(outputs, dtype=np.float32)[y], np.ones(len(x), np.float32)
    if strangers != "none":
        extra = np.concatenate([found[f"{name}/cal"] for name in STRANGER_SETS])
        if strangers == "background":
            extra_targets, extra_weights = np.eye(outputs, dtype=np.float32)[np.full(len(extra), classes)], 1.0
        else:
            extra_targets, extra_weights = np.full((len(extra), outputs), 1.0 / outputs, np.float32), OE_WEIGHT
        x, targets = np.concatenate([x, extra]), np.concatenate([targets, extra_targets])
        weights = np.concatenate([weights, np.full(len(extra), extra_weights, np.float32)])
        known = np.concatenate([known, np.zeros(len(extra), np.float32)])
    return x, targets, weights, known, outputs


def train(found: dict, variant: str, epochs: int = 90, seed: int = 1234) -> keras.Model:
    head, strangers = VARIANTS[variant]
    keras.utils.set_random_seed(seed)
    x, targets, weights, known, outputs = training_set(found, strangers)
    spec, batch = found["spec"], CONFIG.train.batch_size
    dataset = tf.data.Dataset.from_tensor_slices((x, targets, weights, known)).cache().shuffle(
        4096, seed=seed, reshuffle_each_iteration=True).batch(batch)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip(dataset, seeds).map(
        lambda b, pair: (augment_batch(b[0], pair, CONFIG.augment, spec), *b[1:]),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    model = build(head, outputs)
    optimizer = build_optimizer(dataclasses.replace(CONFIG.train, epochs=epochs), math.ceil(len(x) / batch))
    smoothing = CONFIG.train.label_smoothing

    @tf.function
    def step(inputs, target, weight, is_known):
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)["logits"]
            if head == "cosine":
                logits = SCALE * (logits - MARGIN * target * is_known[:, None])  # CosFace: margin on known only
            smoothed = tf.where(is_known[:, None] > 0, target * (1 - smoothing) + smoothing / outputs, target)
            loss = tf.reduce_mean(weight * tf.nn.softmax_cross_entropy_with_logits(smoothed, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    for epoch in range(epochs):
        for inputs, target, weight, is_known in dataset:
            loss = step(inputs, target, weight, is_known)
        if (epoch + 1) % 15 == 0:
            print(f"{variant} epoch {epoch + 1}: loss {float(loss):.3f}", file=sys.stderr, flush=True)
    return model


def flip_averaged(model: keras.Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    direct, mirrored = (model.predict(v, verbose=0, batch_size=256) for v in (x, x[:, :, ::-1, :]))
    return ((direct["logits"] + mirrored["logits"]) / 2, (direct["embedding"] + mirrored["embedding"]) / 2)


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def rule_scores(rule: str, logits: np.ndarray, embedding: np.ndarray, classes: int, centroids: np.ndarray,
                scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(score [N], nearest person [N]); higher scores look more like a known person."""
    known = logits[:, :classes] * scale
    if rule == "centroid":
        similarity = unit(embedding) @ centroids.T
        return similarity.max(1), similarity.argmax(1)
    if rule == "msp":
        z = np.exp(logits * scale - (logits * scale).max(1, keepdims=True))
        return (z[:, :classes] / z.sum(1, keepdims=True)).max(1), known.argmax(1)
    if rule == "maxlogit":
        return known.max(1), known.argmax(1)
    top = known.max(1)  # energy
    return top + np.log(np.exp(known - top[:, None]).sum(1)), known.argmax(1)


def thresholds(score, nearest, labels, classes: int, accept: float, per_person: bool) -> np.ndarray:
    """The trainer's shrunk per-person thresholds, or (not per person) the pooled one for all."""
    right = nearest == labels
    if per_person:
        return shrunk_thresholds(score[right], labels[right], classes, accept, PRIOR_FACES)
    return np.full(classes, float(np.quantile(score[right], 1 - accept)))


def table(found: dict, model: keras.Model, variant: str) -> dict:
    head, _ = VARIANTS[variant]
    classes, scale = len(found["classes"]), SCALE if head == "cosine" else 1.0
    x, y = found["train"]
    _, train_embedding = flip_averaged(model, x)
    centroids = unit(np.stack([unit(train_embedding[y == c]).mean(0) for c in range(classes)]))
    scored = {name: rule_scores_for(model, found[name][0] if name in ("validation", "test") else found[name],
                                    classes, centroids, scale)
              for name in ("validation", "test", *(f"{s}/test" for s in STRANGER_SETS))}
    rows = {"closed_set_test_accuracy": round(float(np.mean(scored["test"]["msp"][1] == found["test"][1])), 3)}
    for rule in ("msp", "maxlogit", "energy", "centroid"):
        v_score, v_nearest = scored["validation"][rule]
        t_score, t_nearest = scored["test"][rule]
        s_score = np.concatenate([scored[f"{s}/test"][rule][0] for s in STRANGER_SETS])
        s_nearest = np.concatenate([scored[f"{s}/test"][rule][1] for s in STRANGER_SETS])
        row = {"auroc": round(float(np.mean(t_score[:, None] > s_score[None, :])), 3)}
        for per_person in (False, True):
            for accept in ACCEPT:
                limit = thresholds(v_score, v_nearest, found["validation"][1], classes, accept, per_person)
                right = float(np.mean((t_score >= limit[t_nearest]) & (t_nearest == found["test"][1])))
                rejected = float(np.mean(s_score < limit[s_nearest]))
                row[f"{'person' if per_person else 'global'}_q{accept}"] = [round(right, 3), round(rejected, 3)]
        rows[rule] = row
    return rows


def rule_scores_for(model, x, classes, centroids, scale) -> dict:
    logits, embedding = flip_averaged(model, x)
    return {rule: rule_scores(rule, logits, embedding, classes, centroids, scale)
            for rule in ("msp", "maxlogit", "energy", "centroid")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("train", "table"))
    parser.add_argument("variants", nargs="+", choices=tuple(VARIANTS))
    parser.add_argument("--out", type=Path, required=True, help="records and trained variants go here")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("FACE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared"
                                                    / "data")))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    found = load_data(args.data, args.out)
    results = {}
    for variant in args.variants:
        if args.command == "train":
            train(found, variant).save(args.out / f"{variant}.keras")
            continue
        head, strangers = VARIANTS[variant]
        model = build(head, len(found["classes"]) + (strangers == "background"))
        model.load_weights(args.out / f"{variant}.keras")
        results[variant] = table(found, model, variant)
    if results:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
