"""dlib's ResNet-34 face descriptor rebuilt in Keras (weights: trainer/model/descriptor_weights.py).

The network of face-api's `FaceRecognitionNet` (src/faceRecognitionNet/ of the npm package),
layer for layer: input 150x150 RGB, minus the training mean, over 255; every convolution is
followed by a per-channel scale and shift (folded into the convolution's kernel and bias here:
the same function, one layer); a 7x7/2 'valid' stem and 3x3/2 max pooling; residual blocks of
two 3x3 convolutions; downsampling blocks (3x3/2 'valid' then 3x3 'same', the shortcut a 2x2
average pool with zero channels appended when the width doubles, and a zero row and column at
the bottom and right of the main branch when it comes out smaller); global average pooling and
a 256 -> 128 projection without bias. tests/trainer/test_descriptor_tfjs.py compares it with the
package's own TensorFlow.js code.
"""

from __future__ import annotations

import keras
import numpy as np

SIZE = 150  # the descriptor's input side (dlib's 150-pixel face chip)
MEAN_RGB = (122.782, 117.001, 104.298)  # subtracted from 0-255 pixels before dividing by 255
DESCRIPTOR_SIZE = 128
# (stage width, residual blocks after the stage's downsampling block); the first stage has none
STAGES = ((32, 3), (64, 3), (128, 2), (256, 2))
LAST_DOWN = "conv256_down_out"  # the final downsampling block, without channel padding
LAST_STAGE = "conv256"  # the names of the last stage's layers start with this


def build_descriptor(weights: dict[str, np.ndarray] | None = None, channels: int = 3,
                     name: str = "descriptor") -> keras.Model:
    """Faces [N, 150, 150, channels] in 0..1 (grayscale is replicated to RGB) -> descriptors [N, 128]."""
    faces = keras.Input((SIZE, SIZE, channels), name="face_pixels")
    x = faces if channels == 3 else keras.layers.Concatenate(name="grey_to_rgb")([faces] * 3)
    x = keras.layers.Normalization(mean=[m / 255.0 for m in MEAN_RGB], variance=[1.0] * 3, name="mean_rgb")(x)
    x = _conv(x, 32, 7, 2, "valid", "conv32_down")
    x = keras.layers.MaxPooling2D(3, 2, padding="valid", name="stem_pool")(x)
    for width, blocks in STAGES:
        if width != 32:
            x = _residual_down(x, width, f"conv{width}_down")
        for index in range(1, blocks + 1):
            x = _residual(x, width, f"conv{width}_{index}")
    x = _residual_down(x, 256, LAST_DOWN)
    x = keras.layers.GlobalAveragePooling2D(name="descriptor_pool")(x)
    descriptor = keras.layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name="fc")(x)
    model = keras.Model(faces, descriptor, name=name)
    if weights is not None:
        set_descriptor_weights(model, weights)
    return model


def _conv(x, filters: int, kernel: int, strides: int, padding: str, name: str, relu: bool = True):
    x = keras.layers.Conv2D(filters, kernel, strides, padding=padding, name=name)(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual(x, width: int, name: str):
    """x + conv(relu(conv(x))), then ReLU."""
    out = _conv(x, width, 3, 1, "same", f"{name}_conv1")
    out = _conv(out, width, 3, 1, "same", f"{name}_conv2", relu=False)
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.Add(name=f"{name}_add")([out, x]))


def _residual_down(x, width: int, name: str):
    """A strided block whose shortcut is average pooled (and zero-padded to `width` channels)."""
    out = _conv(x, width, 3, 2, "valid", f"{name}_conv1")
    out = _conv(out, width, 3, 1, "same", f"{name}_conv2", relu=False)
    pooled = keras.layers.AveragePooling2D(2, 2, padding="valid", name=f"{name}_pool")(x)
    if pooled.shape[1] != out.shape[1]:  # e.g. 8x8 in: 3x3 main branch, 4x4 shortcut
        out = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(out)
    if pooled.shape[-1] != width:
        zeros = keras.layers.Rescaling(0.0, name=f"{name}_zeros")(pooled)
        pooled = keras.layers.Concatenate(name=f"{name}_widen")([pooled, zeros])
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.Add(name=f"{name}_add")([out, pooled]))


def set_descriptor_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Load face-api's tensors (by manifest name) into `model`, folding each scale and shift
    into its convolution: (conv(x) + bias) * scale + shift = conv'(x) + bias'."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            prefix = _manifest_prefix(layer.name)
            scale = weights[f"{prefix}/scale/weights"]
            kernel = weights[f"{prefix}/conv/filters"] * scale  # [k, k, in, out] * [out]
            bias = weights[f"{prefix}/conv/bias"] * scale + weights[f"{prefix}/scale/biases"]
            layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    model.get_layer("fc").set_weights([weights["fc"]])


def _manifest_prefix(layer_name: str) -> str:
    """conv32_1_conv2 -> conv32_1/conv2; conv64_down_conv1 -> conv64_down/conv1; conv32_down -> conv32_down."""
    block, _, conv = layer_name.rpartition("_")
    return f"{block}/{conv}" if conv.startswith("conv") and block else layer_name
