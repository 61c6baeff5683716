"""Small real SavedModels for service tests and benchmarks, exported through trainer.publishing.export."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facecore.modelinfo import INPUT_KEY, ModelInfo
from facecore.preprocess import PreprocessSpec
from trainer.publishing.export import export_model

# The small models here take the course CNN's input (trainer/configs/scratch.toml): 64x64 grayscale.
TINY_SPEC = PreprocessSpec(crop_margin=0.15, crop_shift=0.0, crop_size=96, input_size=64, channels=1,
                           mean=0.5, std=0.5, align_eyes=True, align_landmarks=False)


def tiny_info(class_names, **settings) -> ModelInfo:
    """The ModelInfo of a model below: its class names, the 64x64 grayscale input, `settings`."""
    return ModelInfo(tuple(class_names), preprocess=TINY_SPEC, **settings)


def tiny_model(num_classes: int, input_size: int = 64, favourite: int | None = None,
               embedding: int = 8) -> keras.Model:
    """A tiny CNN; with `favourite`, it answers that class (p ~ 0.9) for every face."""
    faces = keras.Input((input_size, input_size, 1), name=INPUT_KEY)
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(faces)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Dense(embedding, name="embedding")(x)
    logits = keras.layers.Dense(num_classes, name="logits")
    probabilities = keras.layers.Softmax(name="probabilities")(logits(features))
    model = keras.Model(faces, {"probabilities": probabilities, "embedding": features})
    if favourite is not None:
        bias = np.zeros(num_classes, np.float32)
        bias[favourite] = 3.0 + np.log(num_classes - 1.0)  # p(favourite) = e^3 / (e^3 + 1) ~ 0.95
        logits.set_weights([np.zeros((embedding, num_classes), np.float32), bias])
    return model


def cnn_like_course(num_classes: int, input_size: int = 64) -> keras.Model:
    """A 4-block CNN of the course's size (~0.85M parameters), random weights: for timings."""
    faces = keras.Input((input_size, input_size, 1), name=INPUT_KEY)
    x = faces
    for filters in (32, 64, 128, 256):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Dense(128, name="embedding")(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(features)
    return keras.Model(faces, {"probabilities": probabilities, "embedding": features})


def publish(model: keras.Model, info: ModelInfo, base: Path, version: int, model_name: str = "faces") -> Path:
    """Export into `base/<version>/` atomically (written beside it, then renamed), as a publisher would."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=base))
    export_model(model, info, staging / "model", model_name)
    target = base / str(version)
    (staging / "model").rename(target)
    shutil.rmtree(staging)
    return target


def copy_version(source: Path, base: Path, version: int) -> Path:
    """Publish an already exported version folder under a new base and number (atomic rename)."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".{version}.partial"
    shutil.copytree(source, staging)
    target = base / str(version)
    staging.rename(target)
    return target


class BadSignatures(tf.Module):
    """Signatures that TF Serving's batching refuses, and one (`good`) it accepts: for the
    stand-in's tests and the pre-publish check's."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def good(self, x):  # x: [N] -> y: [N]
        return {"y": x * 2.0}

    @tf.function(input_signature=[])
    def no_input(self):
        return {"y": tf.constant([1.0])}

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def scalar_input(self, x):
        return {"y": tf.reshape(x, [1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32)])
    def two_inputs(self, a, b):
        return {"y": a}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def scalar_output(self, x):
        return {"y": tf.reduce_sum(x)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def wrong_batch(self, x):
        return {"y": tf.concat([x, x], 0)}
