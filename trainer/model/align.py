"""Face alignment inside the model: 68 points found in the detector's box, then dlib's face chip.

dlib's descriptor was trained on chips cut by `get_face_chip_details(shape, 150, 0.25)` (dlib's
image_transforms/interpolation.h): the similarity transform (rotation, one scale, shift) that best
maps the chip's template points onto the face's own points, least squares, then 150x150 pixels
resampled through it. The template is dlib's mean face shape of points 17-67, less the eyebrows
(17-26) and the lower lip (55-59, 65-67), which vary most with expression; each template point
(x, y) in 0..1 lies at (padding + x) / (1 + 2 padding) of the chip's side.

`build_aligner` makes the stage a model of its own: the input (a loose crop, `PreprocessSpec.
align_landmarks`) -> the detector's box within it (`landmark_window`) resized to 112 pixels ->
face-api's landmark network (trainer/model/landmarks.py) -> the chip's frame (where the chip's
pixels lie in the input, a 2x3 affine map) -> the chip. All TensorFlow ops, per face: it exports
into the SavedModel and batches like the rest, so every client keeps sending crops.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from facecore.preprocess import PreprocessSpec
from trainer.model.descriptor import SIZE as CHIP_SIZE
from trainer.model.landmarks import SIZE as LANDMARK_SIZE
from trainer.model.landmarks import build_landmarks

CHIP_PADDING = 0.25  # dlib's face recognition examples: get_face_chip_details(shape, 150, 0.25)
CHIPS_KEY, FRAME_KEY = "chips", "frame"
ALIGNER = "aligner"  # the aligner's name in a model
# dlib's mean face shape, points 17..67 (x then y, in 0..1 of the face's span).
_MEAN_X = (0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
           0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737,
           0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,
           0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
           0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127,
           0.42689)
_MEAN_Y = (0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915,
           0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326,
           0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423,
           0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
           0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182,
           0.831803, 0.824182)
TEMPLATE_POINTS = tuple(i for i in range(17, 68) if not (17 <= i <= 26 or 55 <= i <= 59 or 65 <= i <= 67))


def chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """[33, 2] where the template's points lie in the chip, in pixels (0: the left or top edge)."""
    mean = np.stack([_MEAN_X, _MEAN_Y], axis=1)[[i - 17 for i in TEMPLATE_POINTS]]
    return ((padding + mean) / (1.0 + 2.0 * padding) * size).astype(np.float32)


def build_aligner(spec: PreprocessSpec, weights: dict[str, np.ndarray] | None = None,
                  name: str = ALIGNER) -> keras.Model:
    """Inputs [N, S, S, channels] -> {"chips": [N, 150, 150, channels], "frame": [N, 6]}: each face's
    chip and the map from chip pixels to input pixels (x, y) = (a x' + b y' + c, d x' + e y' + f),
    as [a, b, c, d, e, f]."""
    faces = keras.Input((spec.input_size, spec.input_size, spec.channels), name="loose_faces")
    left, top, side = spec.landmark_window()
    window = WindowCrop(left, top, side, LANDMARK_SIZE, name="landmark_window")(faces)
    points = build_landmarks(weights, spec.channels)(window)
    frame = ChipFrame(left, top, side, spec.input_size, name=FRAME_KEY)(points)
    chips = WarpToChip(CHIP_SIZE, name=CHIPS_KEY)([faces, frame])
    return keras.Model(faces, {CHIPS_KEY: chips, FRAME_KEY: frame}, name=name)


def chip_to_input(maps, frames, size: int):
    """Maps over the chip [N, h, w, C] (any h = w) laid back onto their inputs [N, size, size, C]
    through the chips' frames [N, 6]; zero outside the chip."""
    scale = CHIP_SIZE / tf.cast(tf.shape(maps)[2], frames.dtype)
    a, b, c, d, e, f = tf.unstack(frames * tf.stack([scale, scale, 1.0, scale, scale, 1.0]), axis=1)
    det = a * e - b * d  # input pixel -> map pixel: the inverse of [[a, b], [d, e]] and the shift
    inverse = tf.stack([e, -b, (b * f - e * c), -d, a, (d * c - a * f)], axis=1) / det[:, None]
    return _warp(maps, inverse, size, fill_mode="CONSTANT")


def _warp(images, frames, size: int, fill_mode: str = "NEAREST"):
    """Bilinear resampling of images [N, H, W, C] through frames [N, 6] (output pixel -> input
    pixel, in edge coordinates: pixel i covers i..i+1) to [N, size, size, C]; outside: edge pixels
    (`fill_mode` NEAREST) or zeros (CONSTANT)."""
    a, b, c, d, e, f = tf.unstack(frames, axis=1)
    # TensorFlow's transform works on pixel centres (index i at i): shift in and out by half a pixel.
    c = c + 0.5 * (a + b) - 0.5
    f = f + 0.5 * (d + e) - 0.5
    zeros = tf.zeros_like(a)
    transforms = tf.stack([a, b, c, d, e, f, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([size, size], tf.int32),
        fill_value=tf.constant(0.0, images.dtype), interpolation="BILINEAR", fill_mode=fill_mode)


def similarity_frames(template, points):
    """The least-squares similarity maps [N, 6] taking template [K, 2] onto points [N, K, 2]
    (Umeyama's without reflection; in 2-D, scale * rotation = [[p, -q], [q, p]] with p and q
    the regression of the centred points on the centred template)."""
    template = tf.convert_to_tensor(template, points.dtype)
    src = template - tf.reduce_mean(template, axis=0)  # [K, 2]
    mean = tf.reduce_mean(points, axis=1)  # [N, 2]
    dst = points - mean[:, None, :]
    norm = tf.reduce_sum(src * src)
    p = tf.reduce_sum(src[None, :, 0] * dst[..., 0] + src[None, :, 1] * dst[..., 1], axis=1) / norm
    q = tf.reduce_sum(src[None, :, 0] * dst[..., 1] - src[None, :, 1] * dst[..., 0], axis=1) / norm
    centre = tf.reduce_mean(template, axis=0)
    c = mean[:, 0] - (p * centre[0] - q * centre[1])
    f = mean[:, 1] - (q * centre[0] + p * centre[1])
    return tf.stack([p, -q, c, q, p, f], axis=1)


@keras.saving.register_keras_serializable(package="faceid")
class WindowCrop(keras.layers.Layer):
    """The square (left, top, side: shares of the input's side) of each input, resized to `size`."""

    def __init__(self, left: float, top: float, side: float, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.left, self.top, self.side, self.size = left, top, side, size

    def call(self, faces):
        width = tf.cast(tf.shape(faces)[2], faces.dtype)
        scale = self.side * width / self.size
        frame = tf.stack([scale, 0.0, self.left * width, 0.0, scale, self.top * width])
        frames = tf.tile(frame[None], [tf.shape(faces)[0], 1])
        return _warp(faces, frames, self.size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "left": self.left, "top": self.top, "side": self.side, "size": self.size}


@keras.saving.register_keras_serializable(package="faceid")
class ChipFrame(keras.layers.Layer):
    """Points [N, 68, 2] (shares of the landmark window) -> the chip's frame [N, 6] in the input."""

    def __init__(self, left: float, top: float, side: float, input_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.left, self.top, self.side, self.input_size = left, top, side, input_size

    def call(self, points):
        origin = tf.constant([self.left, self.top], points.dtype) * self.input_size
        in_input = origin + points * (self.side * self.input_size)  # [N, 68, 2] input pixels
        return similarity_frames(chip_template(), tf.gather(in_input, TEMPLATE_POINTS, axis=1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 6)

    def get_config(self) -> dict:
        return {**super().get_config(), "left": self.left, "top": self.top, "side": self.side,
                "input_size": self.input_size}


@keras.saving.register_keras_serializable(package="faceid")
class WarpToChip(keras.layers.Layer):
    """[faces [N, S, S, C], frames [N, 6]] -> chips [N, size, size, C]."""

    def __init__(self, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = size

    def call(self, inputs):
        faces, frames = inputs
        return _warp(faces, frames, self.size)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.size, self.size, input_shapes[0][3])

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}
