"""Haar-cascade face detection (and the eyes inside a face): one detector, one set of parameters,
used everywhere."""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from facecore.settings import Settings


# Faces wider than this are shrunk to it before their eyes are searched (pixels): a bounded cost
# for a huge face; above every lfw-known face (at most 147), so training crops are unaffected.
EYE_SEARCH_WIDTH = 160


@dataclass(frozen=True)
class Box:
    """A face box in pixel coordinates of the original image."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Eyes:
    """Eye centres in pixel coordinates of the original image; `left` is the one on the image's left."""

    left: tuple[float, float]
    right: tuple[float, float]

    @property
    def angle(self) -> float:
        """Degrees from the left to the right eye (positive: the right eye lower, on screen)."""
        return math.degrees(math.atan2(self.right[1] - self.left[1], self.right[0] - self.left[0]))

    @property
    def distance(self) -> float:
        return math.dist(self.left, self.right)

    @property
    def middle(self) -> tuple[float, float]:
        return ((self.left[0] + self.right[0]) / 2.0, (self.left[1] + self.right[1]) / 2.0)


@dataclass(frozen=True)
class DetectorParams(Settings):
    """Haar cascade settings; `max_side` downscales large photos before detection (0: never).

    The defaults are ~3.5x faster than the course's (default cascade, 1.1, 5, no minimum size,
    full resolution), find the same faces on test-photos, and a face in more LFW photos;
    see benchmarks/detector_benchmark.py. `min_size` (original-image pixels) stays below the
    trainer's `prepare.min_face_size` (facecore.modelinfo.DEFAULT_MIN_FACE_SIZE): smaller faces are
    too coarse to identify anyway.
    `eye_cascade` and `max_eye_angle` find the eyes that `PreprocessSpec.align_eyes` aligns on.
    """

    cascade: str = "haarcascade_frontalface_alt2.xml"
    eye_cascade: str = "haarcascade_eye.xml"
    max_eye_angle: float = 25.0
    scale_factor: float = 1.1
    min_neighbors: int = 4
    min_size: int = 36
    max_side: int = 360

    def __post_init__(self) -> None:
        if self.scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0 or self.min_size < 1 or self.max_side < 0:
            raise ValueError(f"invalid detector parameters: {self}")


class FaceDetector:
    """Finds faces (and their eyes) in RGB images; safe to share between threads (one cascade per thread)."""

    def __init__(self, params: DetectorParams = DetectorParams()) -> None:
        self.params = params
        self._local = threading.local()
        self._cascade(params.cascade)  # fail at construction, not at first request, if an XML is missing
        self._cascade(params.eye_cascade)

    def _cascade(self, name: str) -> cv2.CascadeClassifier:
        cascades = self._local.__dict__.setdefault("cascades", {})
        if name not in cascades:
            path = cv2.data.haarcascades + name
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise FileNotFoundError(f"cannot load Haar cascade {path}")
            cascades[name] = cascade
        return cascades[name]

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """All faces in an RGB uint8 image [H, W, 3], largest first."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = _downscale_factor(grey.shape, self.params.max_side)
        if scale < 1.0:
            # at least one pixel: a 1 x 20000 photo would otherwise shrink to width 0
            size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        min_side = max(1, round(self.params.min_size * scale))
        found = self._cascade(self.params.cascade).detectMultiScale(
            grey,
            scaleFactor=self.params.scale_factor,
            minNeighbors=self.params.min_neighbors,
            minSize=(min_side, min_side),
        )
        boxes = [_rescale(box, scale, rgb.shape) for box in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: (-b.area, b.y, b.x))

    def eyes(self, rgb: np.ndarray, box: Box) -> Eyes | None:
        """Both eyes of the face at `box`, or None where no pair looks like the eyes of a face
        turned at most `max_eye_angle` degrees: one centre in each half of the box's upper 60 %,
        apart by 25-70 % of its width; of several such pairs, the most level and even-sized."""
        top = rgb[box.y : box.y + int(box.height * 0.6), box.x : box.x + box.width]
        if top.size == 0 or box.width < 24:
            return None
        grey = cv2.cvtColor(np.ascontiguousarray(top), cv2.COLOR_RGB2GRAY)
        scale = min(1.0, EYE_SEARCH_WIDTH / box.width)  # a large face is searched at a fixed cost
        if scale < 1.0:
            grey = cv2.resize(grey, (EYE_SEARCH_WIDTH, max(1, round(grey.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        width = grey.shape[1]
        smallest, largest = max(6, width // 10), width // 2
        found = self._cascade(self.params.eye_cascade).detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=4, minSize=(smallest, smallest), maxSize=(largest, largest))
        centres = [((x + w / 2.0) / scale, (y + h / 2.0) / scale, w / scale)
                   for x, y, w, h in np.asarray(found).reshape(-1, 4).tolist()]
        best, best_cost = None, math.inf
        for lx, ly, lw in (c for c in centres if c[0] < box.width / 2.0):
            for rx, ry, rw in (c for c in centres if c[0] >= box.width / 2.0):
                pair = Eyes((box.x + lx, box.y + ly), (box.x + rx, box.y + ry))
                if not 0.25 <= (rx - lx) / box.width <= 0.7 or abs(pair.angle) > self.params.max_eye_angle:
                    continue
                cost = abs(pair.angle) / self.params.max_eye_angle + abs(lw - rw) / max(lw, rw)
                if cost < best_cost:
                    best, best_cost = pair, cost
        return best


def _downscale_factor(shape: tuple[int, ...], max_side: int) -> float:
    longest = max(shape[0], shape[1])
    return 1.0 if max_side == 0 or longest <= max_side else max_side / longest


def _rescale(box: np.ndarray, scale: float, shape: tuple[int, ...]) -> Box:
    x, y, w, h = (float(v) / scale for v in box)
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(shape[1], round(x + w)), min(shape[0], round(y + h))
    return Box(x0, y0, x1 - x0, y1 - y0)
