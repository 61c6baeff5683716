"""Decoding photos of any common format into RGB uint8 arrays."""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facecore.errors import ImageTooLarge, UndecodableImage, UnsupportedImageType

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "BMP", "WEBP", "MPO"})
# Pillow's parsers raise whatever their code hits on malformed input, not only OSError: a damaged
# EXIF block gives struct.error or TypeError (found by tests/facecore/test_fuzz_facecore.py),
# chunk and segment parsers ValueError, SyntaxError, KeyError, IndexError... Any failure inside
# Pillow while opening or decoding a photo is the photo's fault; MemoryError is not.
DEFAULT_MAX_PIXELS = 40_000_000


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open the image lazily, checking format and pixel count before any decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise UndecodableImage("not a recognisable image") from exc
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        raise UndecodableImage(f"unreadable image ({type(exc).__name__}: {exc})") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedImageType(f"image format {image.format} is not supported")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} pixels exceeds the limit of {max_pixels}")
    return image


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode bytes to an upright RGB uint8 array [H, W, 3], whatever the source mode."""
    image = read_header(data, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb_array(image)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - pixel data, EXIF or any other part: see above
        raise UndecodableImage(f"corrupt {image.format} data ({type(exc).__name__}: {exc})") from exc


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode (16-bit, CMYK, RGBA, palette, grey) to RGB uint8."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def pixel_hash(rgb: np.ndarray) -> str:
    """SHA-256 of the decoded pixels and their shape: equal for the same picture in any encoding."""
    digest = hashlib.sha256(repr(rgb.shape).encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()


def encode_png(rgb: np.ndarray) -> bytes:
    """Lossless PNG bytes of an RGB uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
