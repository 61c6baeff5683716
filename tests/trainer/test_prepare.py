"""`prepare`: every input file is accounted for, whatever is wrong with it."""

import json
import shutil
import subprocess
import sys

import pytest

from facecore.detect import FaceDetector
from facecore.images import decode_image
from trainer.config import load_config
from trainer.data.preparation import OutputInUse, prepare
from trainer.data.records import read_split
from photos import VARIANTS, blank, broken, variant
from processes import REPO
from trainer.commands import main as trainer_main


def with_face(photos):
    """The photos in which the detector finds a face (a few LFW photos have none)."""
    detector = FaceDetector()
    return [p for p in photos if detector.detect(decode_image(p.read_bytes()))]


@pytest.fixture(scope="module")
def messy_folder(face_data, tmp_path_factory):
    """A photo folder with every kind of trouble, and the outcome expected for each file."""
    root = tmp_path_factory.mktemp("messy")
    blair = with_face(sorted((face_data / "lfw-known" / "Tony_Blair").glob("*.jpg")))
    serena = with_face(sorted((face_data / "lfw-known" / "Serena_Williams").glob("*.jpg")))
    expected = {}

    def put(relative, data, outcome):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[relative] = outcome

    for name, photo in zip(VARIANTS, blair):
        put(f"Tony_Blair/{name}", variant(name, photo), "used")
    for name, data in broken(blair[0]).items():
        put(f"Tony_Blair/{name}", data, "unreadable")
    put("Tony_Blair/blank.png", blank(), "no_face")
    for photo in serena[:6]:
        put(f"Serena_Williams/{photo.name}", photo.read_bytes(), "used")
    put("Serena_Williams/copy_of_first.jpg", serena[0].read_bytes(), "duplicate")
    put("Serena_Williams/same_pixels.png", variant("png_named_jpg.jpg", serena[1]), "duplicate")
    for photo in blair[20:22]:
        put(f"Solo_Person/{photo.name}", photo.read_bytes(), "class_too_small")
    (root / "Empty_Person").mkdir()
    (root / "README.txt").write_text("not a person folder")
    (root / "Tony_Blair" / ".DS_Store").write_bytes(b"\0")
    return root, expected


@pytest.fixture(scope="module")
def messy_manifest(messy_folder, tmp_path_factory):
    root, _ = messy_folder
    out = tmp_path_factory.mktemp("messy-out")
    return prepare(root, out, load_config(), workers=2), out


def test_every_file_has_its_expected_outcome(messy_folder, messy_manifest):
    _, expected = messy_folder
    manifest, _ = messy_manifest
    outcomes = {entry["source"]: entry["outcome"] for entry in manifest["files"]}
    assert outcomes == expected


def test_reasons_and_duplicates_are_recorded(messy_manifest):
    manifest, _ = messy_manifest
    entries = {entry["source"]: entry for entry in manifest["files"]}
    assert "undecodable" in entries["Tony_Blair/truncated.jpg"]["reason"]
    assert entries["Serena_Williams/copy_of_first.jpg"]["duplicate_of"].startswith("Serena_Williams/")
    assert entries["Serena_Williams/same_pixels.png"]["duplicate_of"].startswith("Serena_Williams/")
    assert "split" not in entries["Serena_Williams/same_pixels.png"]
    assert set(manifest["ignored"]) == {"README.txt", "Tony_Blair/.DS_Store"}
    assert "empty class folder: Empty_Person" in manifest["warnings"]
    assert "class left out, too few usable photos: Solo_Person" in manifest["warnings"]


def test_classes_counts_and_records_agree(messy_manifest):
    manifest, out = messy_manifest
    assert manifest["class_names"] == ["Serena_Williams", "Tony_Blair"]
    used = [e for e in manifest["files"] if e["outcome"] == "used"]
    assert sum(manifest["counts"][s]["total"] for s in ("train", "validation", "test")) == len(used) == 14
    for split in ("train", "validation", "test"):
        records = read_split(out, split)
        assert len(records) == manifest["counts"][split]["total"]
        for record in records:
            assert manifest["class_names"][record["label"]] == record["class_name"]
            assert record["image"].shape == (232, 232, 3)  # the loose crop the model aligns (preprocess.crop_size)


def test_small_faces_are_reported_not_used(messy_folder, tmp_path):
    root, _ = messy_folder
    config = load_config(overrides=["prepare.min_face_size=400"])
    manifest = prepare(root, tmp_path, config, workers=1)
    faces = [e for e in manifest["files"] if "box" in e and e["outcome"] != "duplicate"]
    assert faces and all(e["outcome"] == "too_small" for e in faces)
    assert manifest["class_names"] == []


def test_output_holding_another_dataset_needs_force(messy_folder, face_data, tmp_path):
    root, _ = messy_folder
    prepare(root, tmp_path, load_config(), workers=1)
    other = face_data / "five-celebrities"
    with pytest.raises(OutputInUse, match="--force"):
        prepare(other, tmp_path, load_config(), workers=1)
    assert trainer_main(["prepare", "--data", str(other), "--out", str(tmp_path)]) == 2
    assert json.loads((tmp_path / "manifest.json").read_text())["data_dir"] == str(root)


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    assert trainer_main(["prepare", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_rerun_with_nothing_to_write_does_not_import_tensorflow(five_records, face_data, tmp_path):
    """`prepare` again on the same photos: every face from the cache, the shards unchanged, and no
    TensorFlow import (seconds of a run that otherwise takes a fraction of one)."""
    out = tmp_path / "records"
    shutil.copytree(five_records, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tfrecord")}
    script = ("import json, sys; from trainer.commands import main; "
              f"status = main(['prepare', '--data', {str(face_data / 'five-celebrities')!r}, '--out', {str(out)!r}]); "
              "print(json.dumps({'status': status, 'tensorflow': 'tensorflow' in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"status": 0, "tensorflow": False}, done.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"]["processed"] == 0 and manifest["run"]["records_written"] is False
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tfrecord")} == before
