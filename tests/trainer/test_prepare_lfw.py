"""`prepare` over the 688 LFW photos: complete, deterministic, stable and incremental."""

import shutil

import numpy as np
import pytest

from facecore.detect import Box, FaceDetector
from facecore.images import decode_image
from facecore.preprocess import face_crops
from trainer.config import load_config
from trainer.data.preparation import prepare
from trainer.data.records import read_split

pytestmark = pytest.mark.slow


def splits_of(manifest):
    return {e["source"]: e["split"] for e in manifest["files"] if "split" in e}


@pytest.fixture(scope="module")
def lfw_copy(face_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("lfw") / "photos"
    shutil.copytree(face_data / "lfw-known", root)
    return root


@pytest.fixture(scope="module")
def first_run(lfw_copy, tmp_path_factory):
    out = tmp_path_factory.mktemp("lfw-out")
    return prepare(lfw_copy, out, load_config()), out


def test_manifest_accounts_for_all_688_photos(first_run):
    manifest, _ = first_run
    assert len(manifest["files"]) == 688
    assert sum(manifest["outcomes"].values()) == 688
    assert manifest["outcomes"]["used"] >= 680
    assert len(manifest["class_names"]) == 19
    for split in ("train", "validation", "test"):
        assert min(manifest["counts"][split]["per_class"].values()) >= 3, split


def test_split_is_stratified_per_person(first_run):
    manifest, _ = first_run
    for name in manifest["class_names"]:
        counts = [manifest["counts"][s]["per_class"][name] for s in ("train", "validation", "test")]
        shares = np.array(counts) / sum(counts)
        assert np.all(np.abs(shares - [0.70, 0.15, 0.15]) <= 1.0 / sum(counts) + 1e-9), (name, counts)


def test_a_fresh_run_gives_the_identical_split(first_run, lfw_copy, tmp_path):
    manifest, _ = first_run
    again = prepare(lfw_copy, tmp_path, load_config())
    assert again["run"]["processed"] == 688
    assert splits_of(again) == splits_of(manifest)


def test_records_read_back_as_the_same_crops(first_run, lfw_copy):
    manifest, out = first_run
    config = load_config()
    records, detector = read_split(out, "test"), FaceDetector(config.detector)
    assert len(records) == manifest["counts"]["test"]["total"]
    for record in records[::10]:
        rgb = decode_image((lfw_copy / record["source"]).read_bytes())
        (expected,) = face_crops(rgb, [Box(*record["box"])], config.preprocess, detector)
        assert np.array_equal(record["image"], expected), record["source"]


def test_adding_photos_only_assigns_the_new_ones(first_run, lfw_copy, face_data):
    manifest, out = first_run
    unchanged = prepare(lfw_copy, out, load_config())
    assert unchanged["run"]["processed"] == 0 and unchanged["run"]["from_cache"] == 688
    assert unchanged["run"]["records_written"] is False
    assert splits_of(unchanged) == splits_of(manifest)
    extra = sorted((face_data / "lfw-strangers" / "Gray_Davis").glob("*.jpg"))[:20]
    newcomer = lfw_copy / "Gray_Davis"
    newcomer.mkdir()
    for photo in extra:
        shutil.copy(photo, newcomer / photo.name)
    grown = prepare(lfw_copy, out, load_config())
    assert grown["run"]["processed"] == 20 and grown["run"]["records_written"] is True
    before, after = splits_of(manifest), splits_of(grown)
    assert {k: after[k] for k in before} == before
    new = set(after) - set(before)
    assert new and all(k.startswith("Gray_Davis/") for k in new)
    assert "Gray_Davis" in grown["class_names"]
