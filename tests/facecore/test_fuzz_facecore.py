"""Property: any bytes through decode -> detect -> crop -> model input give faces or a facecore error.

Never another exception, and never more memory than the pixel limit implies. Examples found by
Hypothesis stay below as fixed `@example`s. HYPOTHESIS_PROFILE=long searches wider (tests/conftest.py).
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from PIL import Image

from facecore.detect import Box, FaceDetector
from facecore.errors import ImageError, ImageTooLarge
from facecore.images import decode_image
from facecore.preprocess import PreprocessSpec, crop_face, model_input
from oddimages import PIXEL_LIMIT, exif_byte_set, photo_bytes

SPEC = PreprocessSpec()
DETECTOR = FaceDetector()
# Bytes allocated per decoded pixel at most (RGB, grey, the 16-bit path's float64 copy), plus slack.
BYTES_PER_PIXEL, SLACK_BYTES = 24, 8 * 2**20


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 110, 100)).save(buffer, format="JPEG")
    return buffer.getvalue()


def run_path(data: bytes) -> list[tuple[Box, np.ndarray, tuple[int, int]]]:
    """The whole facecore path, as the service and `prepare` run it; a model input per face,
    with the photo's (height, width)."""
    rgb = decode_image(data, PIXEL_LIMIT)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] * rgb.shape[1] <= PIXEL_LIMIT
    boxes = DETECTOR.detect(rgb)
    whole = Box(0, 0, rgb.shape[1], rgb.shape[0])  # the crop path runs even where no face is found
    return [(box, model_input(crop_face(rgb, box, SPEC), SPEC), rgb.shape[:2]) for box in boxes + [whole]]


def peak_bytes(data: bytes):
    """(outcome, peak traced bytes) of `run_path`; the outcome is the result or the error."""
    tracemalloc.start()
    try:
        try:
            outcome = run_path(data)
        except ImageError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@given(photo_bytes())
@example(jpeg(1, 20000))  # issue #13: downscaled to width 0, cv2.resize asserted (500 in the service)
@example(jpeg(20000, 1))
@example(jpeg(1, 1))
@example(b"")
@example(exif_byte_set(17, 86))  # issue #23: EXIF tag type damaged -> struct.error (500 in the service)
def test_any_bytes_give_faces_or_a_facecore_error(data):
    outcome, peak = peak_bytes(data)
    assert peak <= BYTES_PER_PIXEL * PIXEL_LIMIT + SLACK_BYTES
    if isinstance(outcome, ImageError):
        return
    for box, tensor, (height, width) in outcome:
        assert box.width > 0 and box.height > 0  # every box, found or the whole photo, lies inside it
        assert 0 <= box.x and box.x + box.width <= width and 0 <= box.y and box.y + box.height <= height
        assert tensor.shape == (SPEC.input_size, SPEC.input_size, SPEC.channels) and np.isfinite(tensor).all()


@given(st.integers(1, 60_000), st.integers(1, 60_000))
def test_any_announced_size_over_the_limit_is_refused_before_decoding(width, height):
    """A PNG header alone (no pixel data) announcing any size: refused or decoded, never crashed."""
    header = _png_header(width, height)
    try:
        decode_image(header, PIXEL_LIMIT)
    except ImageTooLarge:
        assert width * height > PIXEL_LIMIT
    except ImageError:
        assert width * height <= PIXEL_LIMIT


@pytest.mark.parametrize("size", [(1, 20000), (20000, 1), (1, 361), (2, 100_000)])
def test_thin_photos_are_searched_not_crashed(size):
    """Issue #13's first failure, and its class: a side that downscales below one pixel."""
    rgb = np.full((size[1], size[0], 3), 128, np.uint8)
    assert DETECTOR.detect(rgb) == []


def _png_header(width: int, height: int) -> bytes:
    """A PNG of `width` x `height` whose pixel data is missing: the header alone, as a bomb sends it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"") + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
