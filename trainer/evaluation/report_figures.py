"""The run report's pictures of the network (NumPy and Pillow, no matplotlib: a few ms each):
first-layer filters, activation maps per stage, Grad-CAM overlays."""

from __future__ import annotations

import keras
import numpy as np
from PIL import Image

from trainer.model.saliency import cut_model, gradcam

CELL = 48  # pixels per tile


def tile(images: list[np.ndarray], columns: int, cell: int = CELL) -> Image.Image:
    """uint8 images ([h, w] or [h, w, 3]) in a grid of `columns`, each scaled to `cell` square."""
    rows = max(1, -(-len(images) // columns))
    sheet = Image.new("RGB", (columns * cell, rows * cell), "white")
    for index, image in enumerate(images):
        picture = Image.fromarray(image).convert("RGB").resize((cell, cell), Image.NEAREST)
        sheet.paste(picture, ((index % columns) * cell, (index // columns) * cell))
    return sheet


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Values stretched to 0..255 (a constant array is mid-grey)."""
    values = np.asarray(values, np.float32)
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.full(values.shape, 128, np.uint8)
    return np.rint((values - low) / (high - low) * 255).astype(np.uint8)


def layers_of(model: keras.Model) -> list:
    """Every layer, nested models' layers in their place."""
    found = []
    for layer in model.layers:
        found += layers_of(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def first_filters(model: keras.Model) -> tuple[str, Image.Image] | None:
    """The first convolution's kernels, one tile each (its RGB or mean input channel)."""
    conv = next((layer for layer in layers_of(model) if isinstance(layer, keras.layers.Conv2D)), None)
    if conv is None:
        return None
    kernel = np.asarray(conv.get_weights()[0])  # [k, k, in, out]
    tiles = [to_uint8(kernel[..., :3, o] if kernel.shape[2] == 3 else kernel[..., o].mean(axis=-1))
             for o in range(kernel.shape[-1])]
    return f"{conv.name}: {kernel.shape[-1]} filters of {kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]}", \
        tile(tiles, 16, 32)


def stage_outputs(model: keras.Model) -> list:
    """The last feature map of each resolution in `model`'s own graph (a stage's output), leaving
    out the input's own resolution and a branch's (one a larger map follows: a strided block's
    inner convolutions)."""
    maps = [layer for layer in model.layers if _is_map(layer)]
    sides = [layer.output.shape[1] for layer in maps]
    last = {}
    for index, (layer, side) in enumerate(zip(maps, sides)):
        if side != model.inputs[0].shape[1] and all(later <= side for later in sides[index:]):
            last[side] = layer
    return list(last.values())


def _is_map(layer) -> bool:
    if isinstance(layer, (keras.layers.InputLayer, keras.Model)):
        return False
    return len(getattr(layer.output, "shape", ())) == 4


def feature_model(model: keras.Model) -> keras.Model:
    """The (nested) model whose own graph holds the feature maps: the descriptor inside the
    classifier, the classifier inside flip averaging; the model itself for the scratch CNN."""
    if any(_is_map(layer) for layer in model.layers):
        return model
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return feature_model(nested[0]) if nested else model


def activation_maps(model: keras.Model, face: np.ndarray, channels: int = 8) -> list[tuple[str, Image.Image]]:
    """For one face [S, S, ch]: each stage's `channels` most active maps, strongest first."""
    inner = feature_model(model)
    stages = stage_outputs(inner)
    if not stages:
        return []
    values = keras.Model(inner.inputs[0], [layer.output for layer in stages])(face[None], training=False)
    rows = []
    for layer, value in zip(stages, values if isinstance(values, (list, tuple)) else [values]):
        value = np.asarray(value)[0]  # [h, w, K]
        strongest = np.argsort(value.mean(axis=(0, 1)))[::-1][:channels]
        rows.append((f"{layer.name} ({value.shape[0]}x{value.shape[1]}x{value.shape[2]})",
                     tile([to_uint8(value[..., k]) for k in strongest], channels)))
    return rows


def overlay(crop: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """RGB uint8: the crop in grey with the heatmap [S, S] in 0..1 laid over it in red."""
    side = heatmap.shape[0]
    grey = np.asarray(Image.fromarray(crop).convert("L").resize((side, side)), np.float32)
    heat = heatmap[..., None]
    base = np.repeat(grey[..., None], 3, axis=-1) * (1 - 0.6 * heat)
    return np.clip(base + 0.6 * heat * np.array([255.0, 40.0, 0.0]), 0, 255).astype(np.uint8)


def gradcam_overlays(model: keras.Model, faces: np.ndarray, crops: list[np.ndarray]) -> list[Image.Image]:
    """Grad-CAM of each face [N, S, S, ch] against the person it is named as, over its crop."""
    if not len(faces):
        return []
    heatmaps = np.asarray(gradcam(cut_model(model), faces))
    return [Image.fromarray(overlay(crop, heatmap)).resize((96, 96)) for crop, heatmap in zip(crops, heatmaps)]
