"""Decoding photos of every awkward kind into upright RGB arrays."""

import numpy as np
import pytest
from PIL import Image

from facecore.errors import ImageTooLarge, UndecodableImage, UnsupportedImageType
from facecore.images import decode_image, pixel_hash, read_header
from photos import VARIANTS, blank, broken, encode, variant


@pytest.fixture(scope="module")
def face_jpeg(face_data):
    return sorted((face_data / "lfw-known" / "Tony_Blair").glob("*.jpg"))[0]


def test_every_variant_decodes_to_upright_rgb(face_jpeg):
    reference = np.asarray(Image.open(face_jpeg).convert("RGB"))
    for name in VARIANTS:
        rgb = decode_image(variant(name, face_jpeg))
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, name
        assert rgb.shape == reference.shape, f"{name}: {rgb.shape} is not upright {reference.shape}"
        grey_error = np.abs(rgb.mean(axis=2) - reference.mean(axis=2)).mean()
        assert grey_error < 12, f"{name} differs from the original by {grey_error:.1f} grey levels"


def test_sixteen_bit_keeps_full_range(face_jpeg):
    rgb = decode_image(variant("sixteen_bit.png", face_jpeg))
    grey = np.asarray(Image.open(face_jpeg).convert("L"))
    assert np.array_equal(rgb[:, :, 0], grey)


@pytest.mark.parametrize("name", ["truncated.jpg", "empty.jpg", "random.jpg", "notes.txt"])
def test_broken_bytes_raise_undecodable(face_jpeg, name):
    with pytest.raises(UndecodableImage):
        decode_image(broken(face_jpeg)[name])


def test_unsupported_format_is_named():
    data = encode(Image.new("RGB", (20, 20)), "GIF")
    with pytest.raises(UnsupportedImageType, match="GIF"):
        decode_image(data)


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    data = encode(Image.new("L", (4000, 3000)), "PNG")
    with pytest.raises(ImageTooLarge, match="4000x3000"):
        read_header(data, max_pixels=10_000_000)
    assert read_header(data, max_pixels=12_000_000).size == (4000, 3000)


def test_pixel_hash_ignores_the_encoding():
    rgb = decode_image(blank())
    assert pixel_hash(rgb) == pixel_hash(decode_image(encode(Image.fromarray(rgb), "BMP")))
    assert pixel_hash(rgb) != pixel_hash(rgb[:, ::-1])
