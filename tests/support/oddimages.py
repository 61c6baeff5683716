"""Hypothesis strategies for photo bytes nobody picked: any size, mode, format, orientation or damage."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from photos import EXIF_ORIENTATION

# The pixel limit the property tests decode under: small, so that examples stay fast.
PIXEL_LIMIT = 250_000
# Modes each format can store; GIF and TIFF are real images of formats facecore refuses.
MODES = {
    "JPEG": ("L", "RGB", "CMYK"),
    "PNG": ("L", "LA", "RGB", "RGBA", "P", "I;16"),
    "BMP": ("L", "RGB", "RGBA", "P"),
    "WEBP": ("RGB", "RGBA"),
    "GIF": ("L", "P"),
    "TIFF": ("L", "RGB", "CMYK", "I;16"),
}
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
LONGEST_SIDE = {"JPEG": 65_500, "WEBP": 16_383, "GIF": 65_535}  # what the format can store


@st.composite
def sizes(draw, limit: int = PIXEL_LIMIT) -> tuple[int, int]:
    """(width, height): any aspect ratio, mostly within `limit` pixels, sometimes up to twice over."""
    width = draw(st.integers(1, limit))
    over = draw(st.integers(0, 9)) == 0
    height = draw(st.integers(1, max(1, (2 if over else 1) * limit // width)))
    return (height, width) if draw(st.booleans()) else (width, height)


def pixels(mode: str, size: tuple[int, int], seed: int, noisy: bool) -> Image.Image:
    """An image of `mode` and `size`: one flat colour, or noise from `seed`."""
    width, height = size
    if not noisy:
        return Image.new(mode, size, color=seed % 256 if mode in ("L", "P", "I;16") else None)
    values = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    rgb = Image.fromarray(values, "RGB")
    if mode == "I;16":
        return Image.fromarray(values[:, :, 0].astype(np.uint16) * 257)
    if mode == "P":
        return rgb.quantize(16)
    return rgb.convert(mode)


@st.composite
def encoded_images(draw, formats=tuple(MODES), limit: int = PIXEL_LIMIT) -> bytes:
    """A well-formed image file of any format, mode, size and EXIF orientation."""
    fmt = draw(st.sampled_from(formats))
    mode = draw(st.sampled_from(MODES[fmt]))
    longest = LONGEST_SIDE.get(fmt, limit)
    size = tuple(min(side, longest) for side in draw(sizes(limit)))
    image = pixels(mode, size, draw(st.integers(0, 2**32 - 1)), noisy=draw(st.booleans()))
    options = {}
    if fmt in EXIF_FORMATS and draw(st.booleans()):
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = draw(st.integers(0, 10))  # 1..8 are valid; the rest are odd
        options["exif"] = exif
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@st.composite
def damaged(draw, images=encoded_images()) -> bytes:
    """An image file cut short, with bytes overwritten, or both."""
    data = bytearray(draw(images))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def with_metadata(fmt: str, size: tuple[int, int] = (40, 30), text: str = "cam") -> bytes:
    """A small image whose metadata is rich: EXIF with strings, an orientation and a sub-IFD
    (JPEG, PNG, WEBP), PNG's text, compressed-text and physical-size chunks, JPEG's comment."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    exif[0x010F] = text  # Make
    exif[0x8769] = {0x9003: "2020:01:01 00:00:00"}  # Exif IFD: DateTimeOriginal
    options = {"exif": exif}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)
        info.add_text("Software", text * 3, zip=True)
        options.update(pnginfo=info, dpi=(72, 72))
    elif fmt == "JPEG":
        options.update(comment=text.encode(), dpi=(72, 72))
    buffer = io.BytesIO()
    Image.new("RGB", size, (100, 120, 140)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def metadata_start(data: bytes) -> int:
    """Where the metadata begins: the EXIF block, or else the first chunk after PNG's IHDR."""
    for marker in (b"Exif\x00\x00", b"MM\x00*", b"II*\x00", b"tEXt", b"zTXt"):
        if marker in data:
            return data.index(marker)
    return min(len(data) - 1, 33)


@st.composite
def damaged_metadata(draw) -> bytes:
    """A good image with bytes overwritten inside its metadata (EXIF IFDs, text chunks, comments),
    the part of a file the pixel-level damage above rarely reaches."""
    data = bytearray(with_metadata(draw(st.sampled_from(("JPEG", "PNG", "WEBP"))), text=draw(st.text(max_size=20))))
    start = metadata_start(bytes(data))
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(start, min(len(data) - 1, start + 160)))] = draw(st.integers(0, 255))
    return bytes(data)


def exif_byte_set(offset: int, value: int) -> bytes:
    """with_metadata("JPEG") with one byte of its EXIF block (counted from "Exif") set to `value`."""
    data = bytearray(with_metadata("JPEG"))
    data[data.index(b"Exif\x00\x00") + offset] = value
    return bytes(data)


def photo_bytes(limit: int = PIXEL_LIMIT):
    """Anything a user may upload or drop in a folder: good images, damaged ones (pixels or
    metadata), random bytes."""
    images = encoded_images(limit=limit)
    return st.one_of(images, damaged(images), damaged_metadata(), st.binary(max_size=4096))
