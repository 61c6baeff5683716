"""The checks a photo passes before the people store keeps it: it decodes, it shows exactly one
face, found as the serving model's detector finds faces, at least as large as training needs.
A correction's face is cut out of its photo first (the box grown by half its side each way)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecore.detect import Box, DetectorParams, FaceDetector
from facecore.errors import ImageError
from facecore.images import decode_image, encode_png, pixel_hash, read_header
from facecore.modelinfo import ModelInfo
from service.people import PeopleError

CORRECTION_MARGIN = 0.5  # of the box's side, added on each side
# Image format (facecore.images.SUPPORTED_FORMATS) -> file extension kept, media type served.
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp"}
MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
               "BMP": "image/bmp"}


class NoFace(PeopleError):
    """No face found in the photo."""


class SeveralFaces(PeopleError):
    """More than one face found: which one is the person would be a guess."""


class FaceTooSmall(PeopleError):
    """The face is smaller than training uses."""


@dataclass(frozen=True)
class Screened:
    """A photo that passed: the bytes to keep, their pixel hash and file extension, the face."""

    data: bytes
    digest: str
    extension: str
    face: Box


def media_type(data: bytes) -> str:
    """The media type of a kept photo, from its bytes (a name's extension may be wrong)."""
    try:
        return MEDIA_TYPES[read_header(data).format]
    except (ImageError, KeyError):
        return "application/octet-stream"


def correction_crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The box grown by CORRECTION_MARGIN of its side on each side, clipped to the photo [h, w, 3]."""
    dx, dy = round(box.width * CORRECTION_MARGIN), round(box.height * CORRECTION_MARGIN)
    x0, y0 = max(0, box.x - dx), max(0, box.y - dy)
    x1, y1 = min(rgb.shape[1], box.x + box.width + dx), min(rgb.shape[0], box.y + box.height + dy)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


class Screen:
    """Screens photos against the serving model's detector settings (one detector per setting)."""

    def __init__(self, max_pixels: int) -> None:
        self._max_pixels = max_pixels
        self._detectors: dict[DetectorParams, FaceDetector] = {}

    def photo(self, data: bytes, info: ModelInfo) -> Screened:
        """An uploaded photo, kept as it was sent."""
        extension = EXTENSIONS[read_header(data, self._max_pixels).format]
        rgb = decode_image(data, self._max_pixels)
        return Screened(data, pixel_hash(rgb), extension, self.one_face(rgb, info))

    def correction(self, data: bytes, box: Box, info: ModelInfo) -> Screened:
        """The face at `box` of an uploaded photo, cut out and kept as PNG."""
        crop = correction_crop(decode_image(data, self._max_pixels), box)
        if crop.size == 0:
            raise NoFace(f"the box {box.to_dict()} lies outside the photo")
        return Screened(encode_png(crop), pixel_hash(crop), "png", self.one_face(crop, info))

    def one_face(self, rgb: np.ndarray, info: ModelInfo) -> Box:
        """The one face in `rgb`, if it is large enough."""
        faces = self._detector(info.detector).detect(rgb)
        if not faces:
            raise NoFace("no face found in the photo; send a photo with one clear, frontal face")
        if len(faces) > 1:
            raise SeveralFaces(f"{len(faces)} faces found in the photo; send a photo with only the person's face")
        face, smallest = faces[0], info.min_face_size
        if min(face.width, face.height) < smallest:
            raise FaceTooSmall(f"the face is {face.width}x{face.height} pixels; training needs at least "
                               f"{smallest}x{smallest}")
        return face

    def _detector(self, params: DetectorParams) -> FaceDetector:
        # Training's detector exactly (no DETECT_MAX_SIDE): a photo kept is one training will find.
        if params not in self._detectors:
            self._detectors[params] = FaceDetector(params)
        return self._detectors[params]
