"""Training-time augmentation of normalised grayscale batches.

Stateless random ops driven by an explicit seed per batch, so batches can be augmented in
parallel and a seeded run still sees the same images. Flip, rotation, zoom and shift are
composed into one affine transform: each image is resampled once.
"""

from __future__ import annotations

import math

import tensorflow as tf

from facecore.preprocess import PreprocessSpec
from trainer.config import AugmentConfig


def value_range(spec: PreprocessSpec) -> tuple[float, float]:
    """The values black and white pixels take after normalisation."""
    return ((0.0 - spec.mean) / spec.std, (1.0 - spec.mean) / spec.std)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, config: AugmentConfig,
                  spec: PreprocessSpec) -> tf.Tensor:
    """Randomly changed copy of `images` [N, S, S, channels]; `seed` is an int64 [2] tensor."""
    low, high = value_range(spec)
    geometry_seed, brightness_seed, contrast_seed, noise_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    images = _warp(images, _random_affine(tf.shape(images), geometry_seed, config))
    count = tf.shape(images)[0]
    span = high - low
    if config.brightness:
        delta = _uniform([count, 1, 1, 1], brightness_seed, config.brightness * span)
        images = images + delta
    if config.contrast:
        factor = 1.0 + _uniform([count, 1, 1, 1], contrast_seed, config.contrast)
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - mean) * factor + mean
    if config.noise:
        images = images + tf.random.stateless_normal(tf.shape(images), noise_seed, stddev=config.noise * span)
    return tf.clip_by_value(images, low, high)


def _uniform(shape, seed, half_width: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, -half_width, half_width)


def _random_affine(shape: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Per image, the 8 projective-transform parameters mapping output to input pixels."""
    count, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    flip_seed, angle_seed, zoom_seed, dx_seed, dy_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 5))
    flip = tf.ones([count])
    if config.flip:
        flip = tf.where(tf.random.stateless_uniform([count], flip_seed) < 0.5, -1.0, 1.0)
    angle = _uniform([count], angle_seed, 2.0 * math.pi * config.rotation)
    scale = 1.0 + _uniform([count], zoom_seed, config.zoom)  # input pixels per output pixel
    dx = _uniform([count], dx_seed, config.shift) * width
    dy = _uniform([count], dy_seed, config.shift) * height
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # input = R·S·F·(output - centre) + centre + shift, with F flipping x.
    a0, a1 = cos * flip, -sin
    b0, b1 = sin * flip, cos
    a2 = cx - a0 * cx - a1 * cy + dx
    b2 = cy - b0 * cx - b1 * cy + dy
    zeros = tf.zeros([count])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _warp(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT",
    )
