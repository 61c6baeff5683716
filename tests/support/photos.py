"""Builders of photo variants for tests: every awkward encoding a user's folder may hold."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


VARIANTS = ("png_named_jpg.jpg", "grayscale.jpg", "rgba.png", "sixteen_bit.png", "cmyk.jpg",
            "exif_rotated.jpg", "webp.webp", "bitmap.bmp")


def variant(name: str, face_jpeg: Path) -> bytes:
    """The photo re-encoded in the guise `name` (one of VARIANTS)."""
    rgb = Image.open(face_jpeg).convert("RGB")
    grey = rgb.convert("L")
    if name == "png_named_jpg.jpg":
        return encode(rgb, "PNG")
    if name == "grayscale.jpg":
        return encode(grey, "JPEG", quality=95)
    if name == "rgba.png":
        return encode(rgb.convert("RGBA"), "PNG")
    if name == "sixteen_bit.png":
        return encode(Image.fromarray(np.asarray(grey, np.uint16) * 257), "PNG")
    if name == "cmyk.jpg":
        return encode(rgb.convert("CMYK"), "JPEG", quality=95)
    if name == "exif_rotated.jpg":
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6  # stored rotated: viewers turn it 90 degrees clockwise
        return encode(rgb.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    if name == "webp.webp":
        return encode(rgb, "WEBP", quality=95)
    if name == "bitmap.bmp":
        return encode(rgb, "BMP")
    raise KeyError(name)


def broken(face_jpeg: Path) -> dict[str, bytes]:
    """name -> bytes that no decoder can turn into a photo."""
    data = face_jpeg.read_bytes()
    return {
        "truncated.jpg": data[: len(data) // 3],
        "empty.jpg": b"",
        "random.jpg": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
        "notes.txt": b"not a photo at all\n",
    }


def blank(size: int = 200) -> bytes:
    """A photo with no face: a smooth grey gradient."""
    ramp = np.tile(np.linspace(40, 220, size, dtype=np.uint8), (size, 1))
    return encode(Image.fromarray(np.stack([ramp] * 3, axis=2)), "PNG")


# The parity tests' photos (shared data folder parts), by the person name they are prepared as.
PARITY_PHOTOS = {
    "lfw": ("lfw-known", "Kofi_Annan", "Kofi_Annan_0001.jpg"),
    "large": ("test-photos", "one_face", "obama.jpg"),  # detected downscaled
    "png": ("test-photos", "one_face", "astronaut.png"),
}


def photo_paths(face_data: Path) -> dict[str, Path]:
    """The parity photos under the shared data folder, by person."""
    return {person: face_data.joinpath(*parts) for person, parts in PARITY_PHOTOS.items()}
