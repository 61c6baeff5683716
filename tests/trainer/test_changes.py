"""What `trainer update` has to do (`pending`), read without TensorFlow from the data folder, the
newest version's ModelInfo and the status file; and how fast `update` says there is nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facecore.modelinfo import MODEL_INFO_FILE, ModelInfo
from trainer.publishing.changes import pending
from trainer.status import write_status

ROOT = Path(__file__).resolve().parents[2]


def photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"jpeg")
    return path


def publish(models: Path, version: int, names, **extra) -> None:
    """A stand-in version folder: a SavedModel file and the ModelInfo `pending` reads."""
    folder = models / "faces" / str(version)
    (folder / "assets.extra").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / "assets.extra" / MODEL_INFO_FILE).write_text(ModelInfo(tuple(names), extra=extra).to_json())


@pytest.fixture
def folders(tmp_path):
    """DATA with ann (2 photos) and bo (1), a version made from exactly those, and a work folder."""
    data, models, work = tmp_path / "data", tmp_path / "models", tmp_path / "work"
    for name in ("ann/1.jpg", "ann/2.jpg", "bo/1.jpg"):
        photo(data / name)
    publish(models, 1, ["ann", "bo"], sources={"ann": ["1.jpg", "2.jpg"], "bo": ["1.jpg"]}, strangers=[])
    return data, models, work


def test_a_version_made_from_the_data_folder_leaves_nothing_to_do(folders):
    changes = pending(*folders)
    assert not changes and changes.describe() == "nothing to do"


def test_new_changed_and_gone_people_are_named(folders):
    data, models, work = folders
    for name in ("1.jpg", "2.jpg", "3.jpg"):
        photo(data / "cy" / name)
    photo(data / "ann" / "3.jpg")
    for path in (data / "bo").iterdir():
        path.unlink()
    (data / "bo").rmdir()
    photo(data / ".removed" / "bo-x" / "1.jpg")  # hidden: never a person
    changes = pending(data, models, work)
    assert (changes.new, changes.changed, changes.gone, changes.strangers, changes.retrain) == \
        (("cy",), ("ann",), ("bo",), False, False)
    assert changes.describe() == "new: cy; changed: ann; gone: bo"


def test_someone_the_version_does_not_know_counts_once_they_have_three_photos(folders):
    data, models, work = folders
    photo(data / "cy" / "1.jpg")
    photo(data / "cy" / "2.jpg")  # the API adds photos one at a time: no update for the first two
    assert not pending(data, models, work)
    photo(data / "cy" / "3.jpg")
    assert pending(data, models, work).new == ("cy",)
    publish(models, 2, ["ann", "bo"], sources={"ann": ["1.jpg", "2.jpg"], "bo": ["1.jpg"], "cy": ["1.jpg"]})
    assert pending(data, models, work).changed == ("cy",)  # left out with one photo; now three
    photo(data / "bo" / "2.jpg")
    assert pending(data, models, work).changed == ("bo", "cy")  # someone known: any change counts


def test_enrolled_photos_in_the_work_folder_count_under_their_training_names(folders):
    data, models, work = folders
    photo(work / "enrolled" / "bo" / "7.jpg")
    assert pending(data, models, work).changed == ("bo",)
    publish(models, 2, ["ann", "bo"], sources={"ann": ["1.jpg", "2.jpg"], "bo": ["1.jpg", "enrolled-7.jpg"]})
    assert not pending(data, models, work)


def test_stranger_photos_differ_from_those_the_version_took_into_account(folders):
    data, models, work = folders
    photo(data / ".strangers" / "px-1" / ".px-1.jpg.partial")  # an upload still being written
    assert not pending(data, models, work)
    photo(data / ".strangers" / "px-1" / "px-1.jpg")
    assert pending(data, models, work).strangers
    publish(models, 2, ["ann", "bo"], sources={"ann": ["1.jpg", "2.jpg"], "bo": ["1.jpg"]},
            strangers=["px-1/px-1.jpg"])
    assert not pending(data, models, work)


def test_a_version_without_records_is_in_sync_for_the_people_it_knows(folders):
    data, models, work = folders
    publish(models, 2, ["ann", "bo"])
    assert not pending(data, models, work)
    for name in ("1.jpg", "2.jpg", "3.jpg"):
        photo(data / "cy" / name)
    assert pending(data, models, work).new == ("cy",)


def test_a_retrain_request_counts_until_a_run_starts_after_it(folders):
    data, models, work = folders
    (data / ".retrain-requested").write_text(json.dumps({"requested_at": 2000.0, "by": "api"}))
    assert pending(data, models, work).retrain
    write_status(models, {"state": "idle", "last": None, "last_run_started_at": 1999.0})
    assert pending(data, models, work).retrain
    write_status(models, {"state": "idle", "last": None, "last_run_started_at": 2001.0})
    assert not pending(data, models, work)


def test_without_a_version_photos_ask_for_a_first_run(tmp_path):
    data, models, work = tmp_path / "data", tmp_path / "models", tmp_path / "work"
    data.mkdir()
    assert not pending(data, models, work)
    photo(data / "ann" / "1.jpg")
    assert pending(data, models, work).retrain


def test_the_same_pending_work_has_the_same_digest(folders):
    data, models, work = folders
    photo(data / "cy" / "1.jpg")
    first = pending(data, models, work).state
    assert pending(data, models, work).state == first
    photo(data / "cy" / "2.jpg")
    assert pending(data, models, work).state != first


CHECK = """
import json, sys, time
started = time.perf_counter()
from trainer.commands import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "seconds": time.perf_counter() - started,
                  "tensorflow": sorted(m for m in sys.modules if m in ("tensorflow", "keras"))}))
"""


def test_update_with_nothing_to_do_exits_at_once_without_tensorflow(folders):
    data, models, work = folders
    done = subprocess.run([sys.executable, "-c", CHECK, "update", "--data", str(data), "--models", str(models),
                           "--work", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    *printed, result = done.stdout.splitlines()
    answer = json.loads(result)
    assert answer["status"] == 0 and answer["tensorflow"] == [], done.stderr
    assert printed == [f"nothing to do: {models / 'faces'} is in line with {data}"]
    assert answer["seconds"] < 3.0  # ~0.3 s here; TensorFlow alone takes several
    assert not (models / ".trainer-status.json").exists()  # and no status was written: nothing happened
