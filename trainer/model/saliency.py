"""Grad-CAM: where in a face the network looked for the person it named.

One implementation: the run report draws it (trainer/evaluation/report_figures.py) and the
exported `explain` signature runs it inside the SavedModel (trainer/publishing/export.py).

The network is cut at its last convolutional stage with a feature map at least `MIN_SIDE`
cells wide: the descriptor's conv128 stage (8x8; its conv256 stage is 4x4, then 2x2), the scratch
CNN's last block before its pooling. The target is the named person's class score: for the
cosine head the cosine similarity of the face's embedding to that person's centre (the
descriptor's gallery centre), for the softmax head the class probability.

With the aligner (`PreprocessSpec.align_landmarks`) the feature map covers the chip the model
cut from the input: the map is laid back onto the input through the chip's frame.

The map is the positive part of gradient x activation summed over channels, per cell (HiResCAM,
Draelos and Carin 2020: Grad-CAM without averaging each channel's gradient over the map first),
upsampled to the input and divided by its peak. Averaged per channel (Selvaraju et al. 2017), the
descriptor's map fell on uniform noise around a face rather than on the face: over 16 lfw-known
faces whose border was noise, 33 % of the mass inside the face at 8x8 (38 % at 4x4) against
64 % this way, the peak inside for 19 % against 94 % (docs/training.md, "Inside the network").
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from facecore.modelinfo import CLASS_SCORES_KEY, PROBABILITIES_KEY
from trainer.model.align import ALIGNER, CHIP_SIZE, CHIPS_KEY, FRAME_KEY, chip_to_input

MIN_SIDE = 8  # a coarser feature map (the descriptor's 4x4 and 2x2) says little about where


@dataclass(frozen=True)
class Cut:
    """A model cut in two at a feature map: faces [N, S, S, ch] -> features [N, h, w, K] ->
    class scores [N, C]; when the model aligns, `aligner` first turns the faces into chips and
    their frames, and `features` takes the chips."""

    features: keras.Model
    head: keras.Model
    layer: str  # the feature map's layer, for people reading the report
    aligner: keras.Model | None = None  # faces -> {"chips", "frame"} (trainer/model/align.py)


def cut_model(model: keras.Model) -> Cut:
    """`model` cut at its last convolutional stage. A model nested more than once in `model`
    (flip averaging calls the network on the face and its mirror image) is explained alone:
    its pass on the face as given."""
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model) and _has_feature_map(layer):
            # Keras records each call of a nested model as an inbound node: its tensors in this graph.
            nodes = layer._inbound_nodes
            if len(nodes) != 1:
                return cut_model(layer)
            inner = _cut(layer, _output(layer))
            outer = keras.Model(nodes[0].output_tensors[0], _output(model))
            head = keras.Sequential([inner.head, outer])
            if nodes[0].input_tensors[0] is model.inputs[0]:
                return Cut(inner.features, head, inner.layer)
            aligner = next((x for x in model.layers if x.name == ALIGNER), None)
            if aligner is None:
                raise ValueError(f"cannot explain {model.name}: {layer.name} does not take its input directly")
            return Cut(inner.features, head, inner.layer, aligner)
        if _is_feature_map(layer):
            return _cut(model, _output(model), layer)
    raise ValueError(f"cannot explain {model.name}: it has no feature map of {MIN_SIDE}x{MIN_SIDE} cells or more")


def _cut(model: keras.Model, scores, layer=None) -> Cut:
    layer = layer or next(x for x in reversed(model.layers) if _is_feature_map(x))
    return Cut(keras.Model(model.inputs[0], layer.output), keras.Model(layer.output, scores), layer.name)


def _output(model: keras.Model):
    """The class scores tensor of `model` (its only output when not a dict)."""
    output = model.output
    if isinstance(output, dict):
        return output.get(CLASS_SCORES_KEY, output.get(PROBABILITIES_KEY))
    return output


def _is_feature_map(layer) -> bool:
    if isinstance(layer, (keras.layers.InputLayer, keras.Model)):
        return False
    shape = getattr(layer.output, "shape", ())
    return len(shape) == 4 and min(shape[1], shape[2]) >= MIN_SIDE


def _has_feature_map(model: keras.Model) -> bool:
    return any(_is_feature_map(layer) or (isinstance(layer, keras.Model) and _has_feature_map(layer))
               for layer in model.layers)


def gradcam(cut: Cut, faces, classes=None):
    """Heatmaps [N, S, S] float32 in 0..1 (1: the peak) of faces [N, S, S, ch] float32, against
    `classes` [N] int32 (default: the class each face is named as). TensorFlow ops only, so it
    traces into a SavedModel signature; a face without any positive evidence gets zeros."""
    faces = tf.convert_to_tensor(faces, tf.float32)
    aligned = None if cut.aligner is None else cut.aligner(faces, training=False)  # the landmarks once
    features = cut.features(faces if aligned is None else aligned[CHIPS_KEY], training=False)  # [N, h, w, K]
    with tf.GradientTape() as tape:
        tape.watch(features)
        scores = tf.cast(cut.head(features, training=False), tf.float32)  # [N, C]
        if classes is None:
            classes = tf.argmax(scores, axis=1, output_type=tf.int32)
        target = tf.gather(scores, classes, batch_dims=1)  # [N]
    gradients = tape.gradient(target, features)  # [N, h, w, K]
    cam = tf.nn.relu(tf.reduce_sum(gradients * features, axis=-1, keepdims=True))  # [N, h, w, 1]
    if aligned is None:
        cam = tf.image.resize(cam, tf.shape(faces)[1:3], method="bilinear")[..., 0]  # [N, S, S]
    else:
        chip = tf.image.resize(cam, (CHIP_SIZE, CHIP_SIZE), method="bilinear")
        cam = chip_to_input(chip, aligned[FRAME_KEY], faces.shape[1])[..., 0]
    return tf.math.divide_no_nan(cam, tf.reduce_max(cam, axis=(1, 2), keepdims=True))
