"""Haar-cascade face detection: one detector, one set of parameters, used everywhere."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from facecore.settings import Settings


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
class DetectorParams(Settings):
    """Haar cascade settings; `max_side` downscales large photos before detection (0: never).

    The defaults are ~3.5x faster than the course's (default cascade, 1.1, 5, no minimum size,
    full resolution), find the same faces on test-photos, and a face in more LFW photos;
    see benchmarks/detector_benchmark.py. `min_size` (original-image pixels) stays below the
    trainer's `prepare.min_face_size` (40): smaller faces are too coarse to identify anyway.
    """

    cascade: str = "haarcascade_frontalface_alt2.xml"
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
    """Finds faces in RGB images; safe to share between threads (one cascade per thread)."""

    def __init__(self, params: DetectorParams = DetectorParams()) -> None:
        self.params = params
        self._path = cv2.data.haarcascades + params.cascade
        self._local = threading.local()
        self._cascade()  # fail at construction, not at first request, if the XML is missing

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(self._path)
            if cascade.empty():
                raise FileNotFoundError(f"cannot load Haar cascade {self._path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """All faces in an RGB uint8 image [H, W, 3], largest first."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = _downscale_factor(grey.shape, self.params.max_side)
        if scale < 1.0:
            # at least one pixel: a 1 x 20000 photo would otherwise shrink to width 0
            size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        min_side = max(1, round(self.params.min_size * scale))
        found = self._cascade().detectMultiScale(
            grey,
            scaleFactor=self.params.scale_factor,
            minNeighbors=self.params.min_neighbors,
            minSize=(min_side, min_side),
        )
        boxes = [_rescale(box, scale, rgb.shape) for box in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: (-b.area, b.y, b.x))


def _downscale_factor(shape: tuple[int, ...], max_side: int) -> float:
    longest = max(shape[0], shape[1])
    return 1.0 if max_side == 0 or longest <= max_side else max_side / longest


def _rescale(box: np.ndarray, scale: float, shape: tuple[int, ...]) -> Box:
    x, y, w, h = (float(v) / scale for v in box)
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(shape[1], round(x + w)), min(shape[0], round(y + h))
    return Box(x0, y0, x1 - x0, y1 - y0)
