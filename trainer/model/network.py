"""The face classifier: a plain CNN whose penultimate layer is the face embedding."""

from __future__ import annotations

import keras

from facecore.modelinfo import EMBEDDING_KEY, INPUT_KEY, PROBABILITIES_KEY
from trainer.config import ModelConfig

# Few steps per epoch on small data sets: moving statistics must follow the weights quickly.
BN_MOMENTUM = 0.9


def build_model(config: ModelConfig, input_size: int, num_classes: int) -> keras.Model:
    """Inputs [N, S, S, 1] -> {"probabilities": [N, C], "embedding": [N, E]} (both float32)."""
    regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
    faces = keras.Input((input_size, input_size, 1), name=INPUT_KEY)
    x = faces
    for block in range(config.depth):
        filters = min(config.width * 2**block, config.max_width)
        x = _conv_block(x, filters, config.convs_per_block, regularizer, f"block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.dropout, name="pool_dropout")(x)
    x = keras.layers.Dense(config.embedding_size, use_bias=False, kernel_regularizer=regularizer,
                           name="embedding_dense")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="embedding_bn")(x)
    embedding = keras.layers.Activation("relu", dtype="float32", name=EMBEDDING_KEY)(x)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(embedding)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name=PROBABILITIES_KEY)(logits)
    return keras.Model(faces, {PROBABILITIES_KEY: probabilities, EMBEDDING_KEY: embedding}, name="face_cnn")


def _conv_block(x, filters: int, convs: int, regularizer, name: str):
    """`convs` x (3x3 conv, batch norm, ReLU), then 2x2 max pooling."""
    for index in range(convs):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                kernel_regularizer=regularizer, name=f"{name}_conv{index + 1}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{index + 1}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{index + 1}")(x)
    return keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def classifier(model: keras.Model) -> keras.Model:
    """The same layers with the probabilities as the only output: what training fits."""
    return keras.Model(model.input, model.output[PROBABILITIES_KEY], name="classifier")


def inference_model(model: keras.Model, config: ModelConfig) -> keras.Model:
    """What is exported: `model`, or with `flip_average` the mean of its outputs on each face
    and on the face's mirror image (same inputs and output names)."""
    if not config.flip_average:
        return model
    faces = keras.Input(model.input.shape[1:], name=INPUT_KEY)
    direct, mirrored = model(faces), model(keras.ops.flip(faces, axis=2))
    outputs = {key: keras.layers.Average(dtype="float32", name=key)([direct[key], mirrored[key]])
               for key in (PROBABILITIES_KEY, EMBEDDING_KEY)}
    return keras.Model(faces, outputs, name="face_cnn_flip_average")
