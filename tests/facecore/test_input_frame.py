"""Issue #22: `input_frame` says where each model-input pixel lies in the photo, as the crop made it;
the service maps a face's heatmap back over its box with it (service/heatmaps.py)."""

import math

import cv2
import numpy as np
import pytest

from facecore.detect import Box, Eyes
from facecore.preprocess import PreprocessSpec, crop_face, input_frame, model_input
from service.heatmaps import box_heatmap

SPEC = PreprocessSpec(crop_margin=0.15, crop_shift=0.05, crop_size=96, input_size=64, channels=1)
LOOSE = PreprocessSpec(crop_margin=0.3, crop_shift=0.05, crop_size=96, input_size=64, channels=1, align_landmarks=True)
BOX = Box(120, 70, 100, 110)
DOT = (150.0, 120.0)  # a dark dot in the photo, inside the box


def photo_with_dot(dot=DOT) -> np.ndarray:
    rgb = np.full((300, 400, 3), 220, np.uint8)
    cv2.circle(rgb, (round(dot[0]), round(dot[1])), 4, (0, 0, 0), -1)
    return rgb


def darkest(image: np.ndarray) -> tuple[float, float]:
    """The centre (x, y) of the darkest pixels of a [S, S] image."""
    ys, xs = np.nonzero(image <= image.min() + 0.25 * (image.max() - image.min()))
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize(("eyes", "spec"), [(None, SPEC), (Eyes((150.0, 110.0), (190.0, 118.0)), SPEC), (None, LOOSE)],
                         ids=["box", "eyes", "loose"])
def test_frame_maps_a_photo_point_where_the_crop_puts_it(eyes, spec):
    rgb = photo_with_dot()
    frame = input_frame(BOX, spec, rgb.shape, eyes)
    found = darkest(model_input(crop_face(rgb, BOX, spec, eyes), spec)[..., 0])
    expected = frame @ np.array([*DOT, 1.0])
    assert math.dist(found, expected) < 1.0, (found, expected)


@pytest.mark.parametrize("eyes", [None, Eyes((150.0, 110.0), (190.0, 118.0))], ids=["box", "eyes"])
def test_heatmap_over_the_box_lands_on_the_same_photo_point(eyes):
    """A heatmap peaked where the input shows the dot peaks over the dot in the box's PNG."""
    rgb = photo_with_dot()
    frame = input_frame(BOX, SPEC, rgb.shape, eyes)
    x, y = frame @ np.array([*DOT, 1.0])
    grid_y, grid_x = np.mgrid[0:SPEC.input_size, 0:SPEC.input_size]
    heatmap = np.exp(-((grid_x - x) ** 2 + (grid_y - y) ** 2) / 8.0).astype(np.float32)
    over_box = box_heatmap(heatmap, frame, BOX)
    assert max(over_box.shape) == 64 and over_box.dtype == np.uint8 and over_box.max() >= 200
    row, column = np.unravel_index(over_box.argmax(), over_box.shape)
    scale = BOX.width / over_box.shape[1], BOX.height / over_box.shape[0]
    photo_point = (BOX.x + (column + 0.5) * scale[0], BOX.y + (row + 0.5) * scale[1])
    assert math.dist(photo_point, DOT) < 2.5, (photo_point, DOT)
