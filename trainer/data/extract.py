"""Photo file -> largest face crop: the per-photo work of `prepare`, run in worker processes; and
the model inputs of a few photos' largest faces at once (`largest_faces`: enrolment, `trainer update`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facecore.detect import DetectorParams, FaceDetector
from facecore.errors import ImageError
from facecore.images import decode_image, encode_png, pixel_hash
from facecore.preprocess import PreprocessSpec, face_crops, model_inputs

log = logging.getLogger(__name__)

# Outcomes of one input file, as written in the manifest.
USED, NO_FACE, UNREADABLE, DUPLICATE, TOO_SMALL, CLASS_TOO_SMALL, FAILED = (
    "used", "no_face", "unreadable", "duplicate", "too_small", "class_too_small", "failed",
)


@dataclass(frozen=True)
class ExtractParams:
    """Everything that decides what a photo turns into (and so keys the cache)."""

    detector: DetectorParams
    preprocess: PreprocessSpec
    min_face_size: int

    def cache_key(self) -> str:
        text = repr((self.detector.to_dict(), self.preprocess.to_dict(), self.min_face_size))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Extraction:
    """What one photo gave: an outcome, and for a found face its box and crop."""

    sha256: str
    outcome: str
    reason: str = ""
    width: int = 0
    height: int = 0
    faces_found: int = 0
    pixel_sha256: str = ""
    box: tuple[int, int, int, int] | None = None
    png: bytes = field(default=b"", repr=False)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract(data: bytes, params: ExtractParams, detector: FaceDetector) -> Extraction:
    """Decode, detect and crop the largest face of one photo; never raises for bad photos."""
    sha = file_sha256(data)
    try:
        rgb = decode_image(data)
    except ImageError as exc:
        return Extraction(sha, UNREADABLE, reason=f"{exc.reason}: {exc}")
    height, width = rgb.shape[:2]
    base = dict(sha256=sha, width=width, height=height, pixel_sha256=pixel_hash(rgb))
    boxes = detector.detect(rgb)
    if not boxes:
        return Extraction(outcome=NO_FACE, reason="no face detected", **base)
    face = boxes[0]
    box = (face.x, face.y, face.width, face.height)
    if min(face.width, face.height) < params.min_face_size:
        reason = f"largest face {face.width}x{face.height} < {params.min_face_size} pixels"
        return Extraction(outcome=TOO_SMALL, reason=reason, faces_found=len(boxes), box=box, **base)
    (crop,) = face_crops(rgb, [face], params.preprocess, detector)
    return Extraction(outcome=USED, faces_found=len(boxes), box=box, png=encode_png(crop), **base)


def largest_faces(paths: list[Path], params: ExtractParams,
                  progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Model inputs [N, S, S, channels] of the largest face of each photo, cropped as `prepare`
    crops it; the photos used, and those refused with the reason (enrolment, `trainer update`)."""
    detector, crops, used, refused = FaceDetector(params.detector), [], [], {}
    for done, path in enumerate(paths, start=1):
        try:
            found = extract(Path(path).read_bytes(), params, detector)
        except OSError as exc:
            found = Extraction("", UNREADABLE, reason=str(exc))
        if found.outcome == USED:
            crops.append(decode_image(found.png))
            used.append(str(path))
        else:
            refused[str(path)] = f"{found.outcome}: {found.reason}"
        if progress is not None:
            progress(done, len(paths))
    return model_inputs(crops, params.preprocess), used, refused


class Worker:
    """Per-process state for a pool: one detector, OpenCV kept to one thread."""

    _detector: FaceDetector | None = None
    _params: ExtractParams | None = None

    @classmethod
    def init(cls, params: ExtractParams) -> None:
        cv2.setNumThreads(1)
        cls._params = params
        cls._detector = FaceDetector(params.detector)

    @classmethod
    def run(cls, data: bytes) -> Extraction:
        """The extraction of one photo; a bug it trips is that photo's outcome, never the job's end."""
        try:
            return extract(data, cls._params, cls._detector)
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop every retraining
            log.exception("extraction failed")
            return Extraction(file_sha256(data), FAILED, reason=f"{type(exc).__name__}: {exc}")
