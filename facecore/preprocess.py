"""Face crop and model input: the one preprocessing path for training, evaluation and serving."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facecore.detect import Box, Eyes, FaceDetector
from facecore.settings import Settings


@dataclass(frozen=True)
class PreprocessSpec(Settings):
    """How a detected face becomes a model input.

    A face box is grown by `crop_margin` of its side on every side, its centre moved down by
    `crop_shift` of its side, squared, clamped into the photo and resized to `crop_size` (the RGB
    crop stored in the TFRecords). The model input is that crop in grayscale (`channels` 1) or
    RGB (3), resized to `input_size` and normalised as (x / 255 - mean) / std.

    The defaults are the pretrained descriptor's (trainer/model/descriptor.py), aligned as dlib
    aligned the faces it was trained on: a loose crop (the Haar box grown by 0.3 of its side on
    every side, 232 pixels: the box comes out about 145 pixels wide, the size of the face in dlib's
    150-pixel chip), from which the model cuts the chip on the face's own 68 points
    (`align_landmarks`, trainer/model/align.py), in grayscale 0..1 (the networks replicate it to
    RGB and subtract their own mean; grayscale named as many known faces right as RGB or more
    across person-level splits, docs/training.md). Without alignment (`align_landmarks = false`)
    the descriptor takes the box scaled by 1.038 (margin 0.019), moved down 0.09 of its side, at
    150 pixels. The course's CNN uses trainer/configs/scratch.toml.

    With `align_eyes`, a face whose two eyes are found is cropped from the photo turned so its
    eyes lie level, centred and scaled on the eyes instead of the box (the crop an average box
    would give: eyes `EYE_SPAN` of the box width apart, `EYE_RISE` above its centre).

    With `align_landmarks`, the crop is a loose one (the square is never moved or shrunk to fit
    the photo: what lies outside repeats the edge pixels, so the box stays where the margin and
    shift put it) and the model aligns the face itself: it finds 68 points in the box and cuts
    dlib's face chip from the input (trainer/model/align.py, `landmark_window` says where the
    box lies).
    """

    crop_margin: float = 0.3
    crop_shift: float = 0.0
    crop_size: int = 232
    input_size: int = 232
    channels: int = 1
    mean: float = 0.0
    std: float = 1.0
    align_eyes: bool = False
    align_landmarks: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> "PreprocessSpec":
        """A recorded spec (records' manifest, model metadata); one written before a setting
        existed lacks it and describes what was done then: no eye alignment, no shift, grayscale."""
        return super().from_dict({"align_eyes": False, "align_landmarks": False, "crop_shift": 0.0,
                                  "channels": 1, **values})

    def __post_init__(self) -> None:
        if not 0.0 <= self.crop_margin <= 1.0 or not -0.5 <= self.crop_shift <= 0.5:
            raise ValueError(f"crop_margin must be in [0, 1] and crop_shift in [-0.5, 0.5]: {self}")
        if self.crop_size < 8 or self.input_size < 8 or self.std <= 0 or self.channels not in (1, 3):
            raise ValueError(f"invalid preprocessing settings (channels: 1 or 3): {self}")
        if self.align_eyes and self.align_landmarks:
            raise ValueError("align_eyes and align_landmarks exclude each other: choose one")

    def landmark_window(self) -> tuple[float, float, float]:
        """Where the detector's box lies in the model input, in shares of its side: (left, top, side)."""
        grown = 1.0 + 2.0 * self.crop_margin
        return self.crop_margin / grown, (self.crop_margin - self.crop_shift) / grown, 1.0 / grown


def square_box(box: Box, margin: float, image_shape: tuple[int, ...], shift: float = 0.0) -> Box:
    """The square around `box` grown by `margin` and moved down by `shift` (shares of its side),
    shifted (and if need be shrunk) into the image."""
    height, width = image_shape[0], image_shape[1]
    side = round(max(box.width, box.height) * (1.0 + 2.0 * margin))
    side = max(1, min(side, height, width))
    cx, cy = box.x + box.width / 2.0, box.y + box.height / 2.0 + shift * max(box.width, box.height)
    x = int(min(max(round(cx - side / 2.0), 0), width - side))
    y = int(min(max(round(cy - side / 2.0), 0), height - side))
    return Box(x, y, side, side)


# Where eyes sit in a Haar box (haarcascade_frontalface_alt2), as shares of the box width:
# medians over 203 lfw-known faces whose eyes were found (distance 0.367 +- 0.037).
EYE_SPAN, EYE_RISE = 0.367, 0.108


def face_eyes(rgb: np.ndarray, boxes: list[Box], spec: PreprocessSpec, detector: FaceDetector) -> list[Eyes | None]:
    """The eyes each face is aligned on (None: cropped from its box)."""
    return [detector.eyes(rgb, box) if spec.align_eyes else None for box in boxes]


def face_crops(rgb: np.ndarray, boxes: list[Box], spec: PreprocessSpec, detector: FaceDetector,
               eyes: list[Eyes | None] | None = None) -> list[np.ndarray]:
    """The crops of the faces at `boxes`, eye-aligned where the spec says so and both eyes are
    found (`eyes`: those of `face_eyes`, when already found)."""
    eyes = face_eyes(rgb, boxes, spec, detector) if eyes is None else eyes
    return [crop_face(rgb, box, spec, found) for box, found in zip(boxes, eyes)]


def input_frame(box: Box, spec: PreprocessSpec, image_shape: tuple[int, ...], eyes: Eyes | None = None) -> np.ndarray:
    """The affine map [2, 3] from photo pixels to the model input's pixels of the face at `box`
    (`crop_face`'s crop, then resized to `input_size`): where in the photo each input pixel lies."""
    if eyes is not None:
        matrix, side = _aligned_square(eyes, spec.crop_margin, spec.crop_shift)
    elif spec.align_landmarks:
        matrix, side = _loose_square(box, spec.crop_margin, spec.crop_shift)
    else:
        square = square_box(box, spec.crop_margin, image_shape, spec.crop_shift)
        matrix, side = np.array([[1.0, 0.0, -square.x], [0.0, 1.0, -square.y]]), square.width
    scale = spec.input_size / side
    # pixel centres: resizing maps x + 0.5 to (x + 0.5) * scale
    return matrix * scale + np.array([[0.0, 0.0, 0.5 * scale - 0.5]] * 2)


def crop_face(rgb: np.ndarray, box: Box, spec: PreprocessSpec, eyes: Eyes | None = None) -> np.ndarray:
    """RGB uint8 crop [crop_size, crop_size, 3] of one face (aligned on `eyes` when given)."""
    size = (spec.crop_size, spec.crop_size)
    if eyes is not None:
        return cv2.resize(_aligned_patch(rgb, eyes, spec.crop_margin, spec.crop_shift), size,
                          interpolation=cv2.INTER_AREA)
    if spec.align_landmarks:
        return _loose_crop(rgb, box, spec)
    square = square_box(box, spec.crop_margin, rgb.shape, spec.crop_shift)
    patch = rgb[square.y : square.y + square.height, square.x : square.x + square.width]
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)


def _loose_square(box: Box, margin: float, shift: float) -> tuple[np.ndarray, int]:
    """The map [2, 3] from photo pixels to `box`'s square grown by `margin` and moved down by
    `shift`, wherever it lies (not moved into the photo), and the square's side."""
    left, top, side = _loose_corner(box, margin, shift)
    return np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]]), side


def _loose_corner(box: Box, margin: float, shift: float) -> tuple[int, int, int]:
    box_side = max(box.width, box.height)
    side = max(1, round(box_side * (1.0 + 2.0 * margin)))
    cx, cy = box.x + box.width / 2.0, box.y + box.height / 2.0 + shift * box_side
    return round(cx - side / 2.0), round(cy - side / 2.0), side


def _loose_crop(rgb: np.ndarray, box: Box, spec: PreprocessSpec) -> np.ndarray:
    """The loose square at crop_size, edge pixels repeated where it leaves the photo: the part
    inside the photo resized (INTER_AREA) and padded, never the whole square at full size (a
    box as large as a 20000-pixel photo would need gigabytes)."""
    left, top, side = _loose_corner(box, spec.crop_margin, spec.crop_shift)
    height, width = rgb.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    scale = spec.crop_size / side
    a, c = _landing(x0, x1, left, scale, spec.crop_size)
    b, d = _landing(y0, y1, top, scale, spec.crop_size)
    inside = cv2.resize(rgb[y0:y1, x0:x1], (c - a, d - b), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(inside, b, spec.crop_size - d, a, spec.crop_size - c, cv2.BORDER_REPLICATE)


def _landing(start: int, stop: int, origin: int, scale: float, size: int) -> tuple[int, int]:
    """Where photo pixels start..stop of a square starting at `origin` land in the crop, in whole
    pixels (at least one)."""
    low = min(max(round((start - origin) * scale), 0), size - 1)
    return low, max(low + 1, min(size, round((stop - origin) * scale)))


def _aligned_patch(rgb: np.ndarray, eyes: Eyes, margin: float, shift: float = 0.0) -> np.ndarray:
    """The square a box would give around these eyes, turned so they lie level (edges replicated)."""
    matrix, side = _aligned_square(eyes, margin, shift)
    return cv2.warpAffine(rgb, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _aligned_square(eyes: Eyes, margin: float, shift: float) -> tuple[np.ndarray, int]:
    """The map [2, 3] from photo pixels to the eye-aligned square's, and the square's side."""
    width = eyes.distance / EYE_SPAN
    side = max(1, round(width * (1.0 + 2.0 * margin)))
    turn = np.radians(eyes.angle)
    cos, sin = np.cos(turn), np.sin(turn)
    mx, my = eyes.middle
    # the crop's centre lies (EYE_RISE + shift) * width below the eyes' middle, along the face's vertical
    down = (EYE_RISE + shift) * width
    cx, cy = mx - sin * down, my + cos * down
    # image -> patch: rotate by -angle about the centre, then put the centre in the middle
    matrix = np.array([[cos, sin, side / 2.0 - (cos * cx + sin * cy)],
                       [-sin, cos, side / 2.0 - (-sin * cx + cos * cy)]])
    return matrix, side


def model_input(crop: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Normalised model input [input_size, input_size, channels] float32 from an RGB crop
    (grayscale for one channel)."""
    pixels = np.ascontiguousarray(crop, dtype=np.uint8)
    if spec.channels == 1:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    size = (spec.input_size, spec.input_size)
    if pixels.shape[:2] != size:
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    scaled = pixels.astype(np.float32) * np.float32(1.0 / 255.0)
    normalised = (scaled - np.float32(spec.mean)) / np.float32(spec.std)
    return normalised.reshape(spec.input_size, spec.input_size, spec.channels)


def model_inputs(crops: list[np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    """Batch of model inputs [N, input_size, input_size, channels] float32."""
    if not crops:
        return np.zeros((0, spec.input_size, spec.input_size, spec.channels), np.float32)
    return np.stack([model_input(crop, spec) for crop in crops])
