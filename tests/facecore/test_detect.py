"""The shared detector against photos with a known number of faces."""

import csv

import pytest

from facecore.detect import DetectorParams, FaceDetector
from facecore.images import decode_image


def known_counts(face_data):
    with open(face_data / "test-photos" / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["file"].split("/")[0] in ("one_face", "multi_face", "no_face"):
                yield row["file"], int(row["true_faces"])


def test_face_counts_match_the_manifest(face_data):
    detector = FaceDetector()
    counts = {name: len(detector.detect(decode_image((face_data / "test-photos" / name).read_bytes())))
              for name, _ in known_counts(face_data)}
    assert counts == dict(known_counts(face_data))
    assert len(counts) == 14


def test_boxes_are_in_original_coordinates_and_largest_first(face_data):
    rgb = decode_image((face_data / "test-photos" / "multi_face" / "two_people.jpg").read_bytes())
    assert max(rgb.shape) > DetectorParams().max_side  # so detection ran downscaled
    boxes = FaceDetector().detect(rgb)
    assert [b.area for b in boxes] == sorted((b.area for b in boxes), reverse=True)
    for box in boxes:
        assert 0 <= box.x and box.x + box.width <= rgb.shape[1]
        assert 0 <= box.y and box.y + box.height <= rgb.shape[0]
        assert box.width >= 30


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="scale_factor"):
        DetectorParams(scale_factor=1.0)
