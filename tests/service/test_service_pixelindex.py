"""The duplicate check's memory: each photo decoded once per (path, size, mtime)."""

from __future__ import annotations

import os

import pytest

import service.pixelindex as pixelindex
from facecore.images import decode_image, pixel_hash
from service.pixelindex import PixelIndex

pytestmark = pytest.mark.data


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """How many times the index decodes a photo (a list holding one count)."""
    count = [0]

    def counting(data, max_pixels):
        count[0] += 1
        return decode_image(data, max_pixels)

    monkeypatch.setattr(pixelindex, "decode_image", counting)
    return count


def digest(data: bytes) -> str:
    return pixel_hash(decode_image(data))


def test_a_photo_is_decoded_once_until_it_changes(tmp_path, photos, decodes):
    path = tmp_path / "a.jpg"
    path.write_bytes(photos["one"])
    index = PixelIndex(10**8)
    assert index.find(digest(photos["one"]), [path]) == path
    assert index.find(digest(photos["three"]), [path]) is None
    assert decodes == [1]
    path.write_bytes(photos["three"])
    os.utime(path, ns=(1, 1))  # a new mtime, whatever the clock's resolution
    assert index.find(digest(photos["three"]), [path]) == path
    assert decodes == [2]


def test_a_photo_kept_through_the_api_is_known_by_its_name(tmp_path, photos, decodes):
    name = f"px-{digest(photos['one'])[:16]}.jpg"
    (tmp_path / name).write_bytes(photos["one"])
    assert PixelIndex(10**8).find(digest(photos["one"]), [tmp_path / name]) == tmp_path / name
    assert decodes == [0]


def test_files_that_are_no_photos_equal_nothing(tmp_path, photos):
    (tmp_path / "notes.txt").write_text("not a photo")
    assert PixelIndex(10**8).find(digest(photos["one"]), [tmp_path / "notes.txt", tmp_path / "gone.jpg"]) is None
