"""`prepare` over a folder seeded with every odd file Hypothesis can make, and odd entries besides.

The job completes, manifest.json accounts for every entry with an outcome (and a reason for each
one not used), and every good photo is used.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from facecore.detect import FaceDetector
from facecore.images import decode_image
from oddimages import photo_bytes
from trainer.data import manifest as manifest_io
from trainer.config import load_config
from trainer.data.preparation import prepare

pytestmark = [pytest.mark.data, pytest.mark.slow]

PEOPLE = ("Tony_Blair", "Serena_Williams")
GOOD_PER_PERSON = 5  # the default prepare.min_per_class
# A job is seconds (a process pool, TFRecords): a few folders, each with many odd files.
FOLDERS = max(2, settings().max_examples // 10)

names = st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b)
odd_files = st.lists(st.tuples(names, photo_bytes()), min_size=1, max_size=12)


@pytest.fixture(scope="module")
def good_photos(face_data) -> dict[str, list[bytes]]:
    """Per person, photos in which the detector finds a face."""
    detector, found = FaceDetector(), {}
    for person in PEOPLE:
        found[person] = []
        for path in sorted((face_data / "lfw-known" / person).glob("*.jpg")):
            if len(found[person]) == GOOD_PER_PERSON + 1:
                break
            if detector.detect(decode_image(path.read_bytes())):
                found[person].append(path.read_bytes())
    return found


def seed_folder(root: Path, good: dict[str, list[bytes]], odd: list[tuple[bytes, bytes]]) -> set[str]:
    """Good photos, `odd` files (any name, any bytes) and odd entries; the good photos' sources."""
    good_sources = set()
    for person, photos in good.items():
        (root / person).mkdir(parents=True)
        for index, data in enumerate(photos[:GOOD_PER_PERSON]):
            (root / person / f"{index}.jpg").write_bytes(data)
            good_sources.add(f"{person}/{index}.jpg")
    odd_dir = os.fsencode(root / PEOPLE[0])
    for index, (name, data) in enumerate(odd):
        with open(os.path.join(odd_dir, b"odd%d-" % index + name), "wb") as file:
            file.write(data)
    seed_odd_entries(root / PEOPLE[1], good[PEOPLE[1]][GOOD_PER_PERSON])
    return good_sources


def seed_odd_entries(folder: Path, extra_photo: bytes) -> None:
    """Links, a FIFO, a folder named like a photo, an empty file, an unreadable one, a non-UTF-8 name."""
    (folder / "dangling.jpg").symlink_to(folder / "missing.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "link_to_first.jpg").symlink_to(folder / "0.jpg")
    (folder / "link_to_folder.jpg").symlink_to(folder.parent)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "folder.jpg").mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    locked = folder / "locked.jpg"
    locked.write_bytes(b"\xff\xd8\xff")
    locked.chmod(0)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9-latin1.jpg"), "wb") as file:
        file.write(extra_photo)  # a good photo under a name that is not UTF-8
    thin = io.BytesIO()
    Image.new("RGB", (1, 20_000), (120, 110, 100)).save(thin, format="JPEG")  # issue #13
    (folder / "thin.jpg").write_bytes(thin.getvalue())


def entries(root: Path) -> set[str]:
    """Every entry under the person folders, as the manifest names them."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if Path(folder, d).is_symlink() or d.endswith(".jpg")]:
            found.add(Path(folder, name).relative_to(root).as_posix())
    return found


@settings(max_examples=FOLDERS)
@given(odd=odd_files)
def test_prepare_accounts_for_every_file_and_uses_every_good_photo(good_photos, odd):
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as out:
        root = Path(data)
        good_sources = seed_folder(root, good_photos, odd)
        manifest = prepare(root, Path(out), load_config(), workers=2)
        assert manifest_io.read(Path(out))["files"] == manifest["files"]  # written, and complete
        files = {entry["source"]: entry for entry in manifest["files"]}
        assert set(files) | set(manifest["ignored"]) == entries(root)
        for entry in files.values():
            assert entry["outcome"]
            assert entry["outcome"] == "used" or entry.get("reason"), entry
        assert {source for source in good_sources if files[source]["outcome"] == "used"} == good_sources
        assert files[f"{PEOPLE[1]}/caf\udce9-latin1.jpg"]["outcome"] == "used"
        assert files[f"{PEOPLE[1]}/thin.jpg"]["outcome"] == "no_face"


def test_thin_photo_does_not_stop_the_job(good_photos, tmp_path):
    """Issue #13: a 1 x 20000 JPEG killed `python -m trainer prepare` from the pool, no manifest."""
    from trainer.commands import main as trainer_main

    seed_folder(tmp_path / "data", good_photos, [])
    code = trainer_main(["prepare", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                         "--workers", "2"])
    assert code == 0
    files = {e["source"]: e for e in manifest_io.read(tmp_path / "out")["files"]}
    assert files[f"{PEOPLE[1]}/thin.jpg"]["outcome"] == "no_face"


def test_a_bug_on_one_photo_is_that_photos_outcome(good_photos, tmp_path, monkeypatch):
    """Whatever a photo trips in the worker becomes its `failed` outcome, not the job's end."""
    real = FaceDetector.detect

    def detect(self, rgb):
        if rgb.shape[1] == 1:
            raise RuntimeError("a bug only thin photos reach")
        return real(self, rgb)

    monkeypatch.setattr(FaceDetector, "detect", detect)
    seed_folder(tmp_path / "data", good_photos, [])
    manifest = prepare(tmp_path / "data", tmp_path / "out", load_config(), workers=1)
    thin = next(e for e in manifest["files"] if e["source"] == f"{PEOPLE[1]}/thin.jpg")
    assert thin["outcome"] == "failed" and "RuntimeError: a bug only thin photos reach" in thin["reason"]
    assert manifest["class_names"] == sorted(PEOPLE)
