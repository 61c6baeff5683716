"""face-api's 68-point face landmark network rebuilt in Keras (weights: trainer/model/descriptor_weights.py).

The network of face-api's `FaceLandmark68Net` (src/faceLandmarkNet/ and src/faceFeatureExtractor/ of
the npm package), layer for layer: input 112x112 RGB, minus the same mean as the descriptor's, over
255; four dense blocks, each a 3x3/2 convolution (the first a plain one, the others depthwise
separable) and three 3x3 depthwise separable convolutions, every one fed the ReLU of the sum of all
earlier outputs in its block; a 7x7/2 average pool (7x7 -> 1x1) and a 256 -> 136 dense layer: the
68 points as (x, y) pairs, in shares of the input's side (0: left or top edge, 1: right or bottom).
The points follow the iBUG 300-W numbering, as dlib's 68-point predictor does.
tests/trainer/test_landmarks_tfjs.py compares it with the package's own TensorFlow.js code.
"""

from __future__ import annotations

import keras
import numpy as np

SIZE = 112  # the network's input side
POINTS = 68
MEAN_RGB = (122.782, 117.001, 104.298)  # subtracted from 0-255 pixels before dividing by 255
BLOCKS = (32, 64, 128, 256)  # dense blocks' widths, each halving the side: 112 -> 56 -> 28 -> 14 -> 7


def build_landmarks(weights: dict[str, np.ndarray] | None = None, channels: int = 3,
                    name: str = "landmarks") -> keras.Model:
    """Faces [N, 112, 112, channels] in 0..1 (grayscale is replicated to RGB) -> points [N, 68, 2]
    as (x, y) shares of the side."""
    faces = keras.Input((SIZE, SIZE, channels), name="face_pixels")
    x = faces if channels == 3 else keras.layers.Concatenate(name="grey_to_rgb")([faces] * 3)
    x = keras.layers.Normalization(mean=[m / 255.0 for m in MEAN_RGB], variance=[1.0] * 3, name="mean_rgb")(x)
    for index, width in enumerate(BLOCKS):
        x = _dense_block(x, width, f"dense{index}", first=index == 0)
    x = keras.layers.AveragePooling2D(7, 2, padding="valid", name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(2 * POINTS, name="fc")(x)
    points = keras.layers.Reshape((POINTS, 2), name="points")(x)
    model = keras.Model(faces, points, name=name)
    if weights is not None:
        set_landmark_weights(model, weights)
    return model


def _dense_block(x, width: int, name: str, first: bool):
    """out_k = conv_k(relu(out_1 + ... + out_(k-1))) for k = 2..4, out_1 = relu(conv_1(x)) at
    stride 2; returns relu(out_1 + ... + out_4)."""
    if first:
        x = keras.layers.Conv2D(width, 3, 2, padding="same", name=f"{name}_conv0")(x)
    else:
        x = keras.layers.SeparableConv2D(width, 3, 2, padding="same", name=f"{name}_conv0")(x)
    outputs = [keras.layers.ReLU(name=f"{name}_conv0_relu")(x)]
    for index in range(1, 4):
        inputs = outputs[0] if index == 1 else keras.layers.ReLU(name=f"{name}_in{index}")(
            keras.layers.Add(name=f"{name}_sum{index}")(outputs))
        outputs.append(keras.layers.SeparableConv2D(width, 3, 1, padding="same", name=f"{name}_conv{index}")(inputs))
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_sum")(outputs))


def set_landmark_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Load face-api's tensors (by manifest name) into `model`."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.SeparableConv2D):
            prefix = layer.name.replace("_conv", "/conv")
            layer.set_weights([weights[f"{prefix}/depthwise_filter"], weights[f"{prefix}/pointwise_filter"],
                               weights[f"{prefix}/bias"]])
        elif isinstance(layer, keras.layers.Conv2D):
            prefix = layer.name.replace("_conv", "/conv")
            layer.set_weights([weights[f"{prefix}/filters"], weights[f"{prefix}/bias"]])
    model.get_layer("fc").set_weights([weights["fc/weights"], weights["fc/bias"]])
