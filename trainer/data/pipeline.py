"""tf.data input pipelines: face-crop records -> batches of model inputs.

Every crop goes through `facecore.preprocess.model_input` (the one grayscale/resize/normalise
implementation the service uses too); augmentation then acts on the normalised [S, S, channels]
batches of the training split only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tensorflow as tf

from facecore.preprocess import PreprocessSpec, model_input
from trainer.data.augment import augment_batch
from trainer.config import AugmentConfig, TrainerConfig
from trainer.data.manifest import read as read_manifest
from trainer.data.records import parse, shard_paths

AUTOTUNE = tf.data.AUTOTUNE


def model_spec(manifest: dict, config: TrainerConfig) -> PreprocessSpec:
    """The records' crop settings with the config's model-input settings (size, channels, mean, std)."""
    recorded = PreprocessSpec.from_dict(manifest["preprocess"])
    wanted = config.preprocess
    return dataclasses.replace(recorded, input_size=wanted.input_size, channels=wanted.channels,
                               mean=wanted.mean, std=wanted.std)


def crops_dataset(records_dir: Path, splits: str | tuple[str, ...]) -> tf.data.Dataset:
    """(crop uint8 [C, C, 3], label int32) of the given split(s), shards read in parallel."""
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    paths = [str(p) for split in splits for p in shard_paths(records_dir, split)]
    if not paths:
        raise FileNotFoundError(f"no {'/'.join(splits)} records in {records_dir}: run `python -m trainer prepare`")
    files = tf.data.Dataset.from_tensor_slices(paths)
    records = files.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(paths)),
                               num_parallel_calls=AUTOTUNE, deterministic=True)
    counts = read_manifest(records_dir)["counts"]
    records = records.apply(tf.data.experimental.assert_cardinality(sum(counts[s]["total"] for s in splits)))
    return records.map(_crop_and_label, num_parallel_calls=AUTOTUNE)


def _crop_and_label(serialized):
    example = parse(serialized)
    return example["image"], tf.cast(example["image/label"], tf.int32)


def model_inputs_dataset(crops: tf.data.Dataset, spec: PreprocessSpec) -> tf.data.Dataset:
    """(input float32 [S, S, channels], label): crops through `model_input`, in parallel."""
    size = spec.input_size

    def preprocess(crop):
        return model_input(crop, spec)

    def to_input(crop, label):
        image = tf.numpy_function(preprocess, [crop], tf.float32, stateful=False)
        return tf.ensure_shape(image, [size, size, spec.channels]), label

    return crops.map(to_input, num_parallel_calls=AUTOTUNE)


def batches(inputs: tf.data.Dataset, batch_size: int, training: bool, seed: int,
            augment: AugmentConfig | None, spec: PreprocessSpec, drop_remainder: bool = False) -> tf.data.Dataset:
    """Cache, then (training) shuffle each epoch and augment each batch; then prefetch."""
    inputs = inputs.cache()
    if training:
        inputs = inputs.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    batched = inputs.batch(batch_size, drop_remainder=drop_remainder)
    if training and augment is not None:
        # One seed pair per batch, new each epoch yet fixed by `seed`: parallel and reproducible.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batched = tf.data.Dataset.zip(batched, seeds).map(
            lambda batch, pair: (augment_batch(batch[0], pair, augment, spec), batch[1]),
            num_parallel_calls=AUTOTUNE,
        )
    return batched.prefetch(AUTOTUNE)


def make_dataset(records_dir: Path, split: str | tuple[str, ...], spec: PreprocessSpec, batch_size: int,
                 training: bool = False, seed: int = 0, augment: AugmentConfig | None = None,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of (model input float32 [N, S, S, channels], label int32 [N]) from a prepared split.

    `training`: reshuffled every epoch and augmented (with `augment`, default settings if None).
    Otherwise record order, no augmentation: the tensors the service computes for these crops.
    `drop_remainder`: whole batches only (training on several replicas, see `training.fit`).
    """
    if training and augment is None:
        augment = AugmentConfig()
    inputs = model_inputs_dataset(crops_dataset(records_dir, split), spec)
    return batches(inputs, batch_size, training, seed, augment, spec, drop_remainder)

