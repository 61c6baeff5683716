"""Fit the face classifier on prepared records: the core of `python -m trainer train`."""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facecore.modelinfo import EMBEDDING_KEY

from trainer.data import manifest as manifest_io
from trainer.model import devices
from trainer.data.augment import value_range
from trainer.model.callbacks import BEST_WEIGHTS, RESUME_DIR, build_callbacks
from trainer.model.centres import concentration
from trainer.config import TrainerConfig
from trainer.model.network import build_model, classifier, inference_model, set_centres, training_loss
from trainer.model.optimizers import build_optimizer
from trainer.data.pipeline import make_dataset, model_spec
from trainer.evaluation.plots import learning_curves, read_history
from trainer.evaluation.scoring import predict
from trainer.errors import BadInput
from trainer.publishing.rundir import RunDir, dataset_record


class RunFinished(BadInput):
    """The run folder already holds a trained model."""


class RunConfigChanged(BadInput):
    """An interrupted run was restarted with a different config."""


class WorkersDisagree(BadInput):
    """The workers of a multi-worker run hold different records."""


def train(config: TrainerConfig, records_dir: Path, run_dir: Path, callbacks=()) -> keras.Model:
    """Train on the records' train split, validate on validation; resume an interrupted run.

    Writes RUN/config.json, dataset.json, history.csv, curves.png, tensorboard/ and model.keras.
    """
    strategy, _ = devices.configure(config.train)
    run = RunDir(run_dir)
    if run.model.exists():
        raise RunFinished(f"{run.root} already holds a trained model; give another --run folder")
    manifest = manifest_io.read(records_dir)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _check_same_records(strategy, manifest)
    spec = model_spec(manifest, config)
    _write_run_info(run, config, records_dir, manifest, spec)
    batch, seed = config.train.batch_size, config.train.seed
    whole = _needs_whole_batches(strategy, manifest, batch)
    train_ds = make_dataset(records_dir, "train", spec, batch, training=True, seed=seed, augment=config.augment,
                            drop_remainder=whole)
    val_ds = make_dataset(records_dir, "validation", spec, batch, drop_remainder=whole)
    counts = [manifest["counts"]["train"]["per_class"][name] for name in manifest["class_names"]]
    samples = next(iter(train_ds))[0].numpy()[:16]
    extra = build_callbacks(run, config.train, sum(counts), samples, value_range(spec))
    centres_ds = make_dataset(records_dir, "train", spec, batch) if config.model.backbone == "descriptor" else None
    model = fit(config, strategy, spec, counts, train_ds, val_ds, [*extra, *callbacks], run, centres_ds)
    model.save(run.model)
    if run.history.exists():  # a descriptor with centres only is fitted without epochs
        learning_curves(read_history(run.history), run.curves)
    return model


def _check_same_records(strategy: tf.distribute.Strategy, manifest: dict) -> None:
    """Raise WorkersDisagree unless every worker's records have this worker's digest.

    Each worker prepares its own records (trainer/retrain.py); the data shard policy gives each
    every n-th element of its own copy, so copies that differ would train on a skewed mix, or
    hang when the workers count different steps. Every worker calls this at the same point.
    """
    digest = bytes.fromhex(manifest["records_digest"])
    local = tf.constant([list(digest)], tf.int32)  # [1, 32]
    values = strategy.experimental_distribute_values_from_function(lambda _: local)
    everyone = strategy.gather(values, axis=0).numpy()  # [replicas, 32]
    if not (everyone == everyone[0]).all():
        raise WorkersDisagree("the workers prepared different records from the photos (records_digest "
                              "differs); give every worker the same photos and an empty work folder of its own")


def _write_run_info(run: RunDir, config: TrainerConfig, records_dir, manifest: dict, spec) -> None:
    """config.json and dataset.json; a run being resumed must keep its config."""
    resuming = (run.checkpoints / RESUME_DIR).exists() and run.config.exists()
    if resuming and run.read_config() != config:
        raise RunConfigChanged(f"{run.root} was started with another config ({run.config}); "
                               "resume it with that config, or give a new --run folder")
    run.write_json(run.config, config.to_dict())
    run.write_json(run.dataset, dataset_record(records_dir, manifest, spec))


def fit(config: TrainerConfig, strategy, spec, class_counts: list[int], train_ds: tf.data.Dataset,
        val_ds: tf.data.Dataset, callbacks: list, run: RunDir, centres_ds: tf.data.Dataset | None = None
        ) -> keras.Model:
    """Build, compile and fit under `strategy`; return a float32 copy with the best weights.

    With `centres_ds` (the descriptor), each person's centre starts as the mean descriptor of
    their faces there, and with `descriptor_training` `centres` that is the whole fit.
    With several replicas the datasets hold whole batches only (`train` makes them so), and the
    schedule counts whole steps.
    """
    images, batch = sum(class_counts), config.train.batch_size
    steps = images // batch if strategy.num_replicas_in_sync > 1 else math.ceil(images / batch)
    num_classes = len(class_counts)
    with strategy.scope():
        model = build_model(config.model, spec, num_classes)
        if centres_ds is not None:
            started = time.perf_counter()
            outputs, labels = predict(model, centres_ds, (EMBEDDING_KEY,))
            set_centres(model, outputs[EMBEDDING_KEY], labels)
            run.write_json(run.centres, {"concentration": concentration(outputs[EMBEDDING_KEY], labels),
                                         "photos_per_person": len(labels) / num_classes})
            print(f"person centres from {len(labels)} training faces in {time.perf_counter() - started:.0f} s")
            if config.model.descriptor_training == "centres":
                return _float32_copy(model, config, spec, num_classes)
        trainable = classifier(model)
        trainable.compile(
            optimizer=build_optimizer(config.train, steps),
            loss=training_loss(config.model, config.train.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
    started = time.perf_counter()
    trainable.fit(
        _for_training(train_ds, num_classes), validation_data=_for_training(val_ds, num_classes),
        epochs=config.train.epochs, class_weight=_class_weights(class_counts, config),
        callbacks=callbacks, shuffle=False, verbose=0,  # the pipeline shuffles
    )
    print(f"trained in {time.perf_counter() - started:.0f} s")
    best = run.checkpoints / BEST_WEIGHTS
    if best.exists():
        trainable.load_weights(best)
    return _float32_copy(model, config, spec, num_classes)


def _needs_whole_batches(strategy: tf.distribute.Strategy, manifest: dict, batch: int) -> bool:
    """Whether training must use whole batches only, after checking each split fills one.

    With several replicas TensorFlow splits a short last batch so that some replicas get an
    empty one, which Keras cannot run (a convolution over an empty batch returns the wrong
    shape); so up to `batch - 1` faces per split sit out each epoch.
    """
    replicas = strategy.num_replicas_in_sync
    for split in ("train", "validation"):
        count = manifest["counts"][split]["total"]
        if replicas > 1 and count < batch:
            raise ValueError(f"the {split} split has {count} faces, fewer than one batch ({batch}) for "
                             f"{replicas} replicas: lower train.batch_size or add photos")
    return replicas > 1


def _for_training(dataset: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """One-hot labels (label smoothing needs them), sharded by element across workers."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    one_hot = dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=tf.data.AUTOTUNE)
    return one_hot.with_options(options)


def _class_weights(class_counts: list[int], config: TrainerConfig) -> dict[int, float] | None:
    """Inverse class frequency, 1.0 on average; None when switched off."""
    if not config.train.class_weights:
        return None
    counts = np.maximum(np.asarray(class_counts, np.float64), 1.0)
    weights = counts.sum() / (len(counts) * counts)
    return {index: float(weight) for index, weight in enumerate(weights)}


def _float32_copy(model: keras.Model, config: TrainerConfig, spec, num_classes: int) -> keras.Model:
    """The trained weights in a float32 inference model outside any distribution strategy."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        copy = build_model(config.model, spec, num_classes, pretrained=False)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    copy.set_weights([np.asarray(w) for w in model.get_weights()])
    return inference_model(copy, config.model)
