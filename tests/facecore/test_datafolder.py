"""The data folder the trainer and the service share: the name rule, hidden entries, people set
aside, the retrain request, and the smallest face a version's training took."""

from __future__ import annotations

import json
import os
import time

import pytest

from facecore.datafolder import (
    MAX_NAME_BYTES, is_usable_name, request_retrain, retrain_requested_at, set_aside, stranger_photos,
    visible_files,
)
from facecore.modelinfo import DEFAULT_MIN_FACE_SIZE, ModelInfo


def write(path, data=b"jpeg"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["alice", "Roh_Moo-hyun", "José María", "Unknown", "a.b", "x" * MAX_NAME_BYTES,
                                  "é" * (MAX_NAME_BYTES // 2)])
def test_plain_folder_names_are_usable(name):
    assert is_usable_name(name)


@pytest.mark.parametrize("name", ["", " a", "a ", "a/b", ".a", "..", "unknown", "tab\there", "nul\x00", "line\n",
                                  "x" * (MAX_NAME_BYTES + 1), "é" * (MAX_NAME_BYTES // 2 + 1), "lone\udc80"])
def test_hidden_reserved_unprintable_and_overlong_names_are_not(name):
    assert not is_usable_name(name)


def test_hidden_files_and_folders_are_not_listed(tmp_path):
    kept = [write(tmp_path / "a.jpg"), write(tmp_path / "sub" / "b.jpg")]
    write(tmp_path / ".a.jpg.1234.partial")
    write(tmp_path / ".incoming" / "c.jpg")
    assert visible_files(tmp_path) == kept
    assert visible_files(tmp_path / "missing") == []


def test_stranger_photos_are_named_by_their_path_under_strangers(tmp_path):
    one, two = write(tmp_path / ".strangers" / "px-2" / "px-2.png"), write(tmp_path / ".strangers" / "px-1.jpg")
    write(tmp_path / ".strangers" / "px-3" / ".px-3.png.partial")
    write(tmp_path / "ann" / "1.jpg")
    assert stranger_photos(tmp_path) == {"px-1.jpg": two, "px-2/px-2.png": one}
    assert stranger_photos(tmp_path / "missing") == {}


def test_set_aside_moves_a_person_under_removed(tmp_path):
    write(tmp_path / "ann" / "1.jpg")
    aside = set_aside(tmp_path / "ann")
    assert aside.parent == tmp_path / ".removed" and aside.name.startswith("ann-")
    assert (aside / "1.jpg").exists() and not (tmp_path / "ann").exists()
    assert set_aside(tmp_path / "nobody") is None


def test_two_set_aside_within_a_second_are_both_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "gmtime", lambda *_: time.struct_time((2026, 1, 2, 3, 4, 5, 4, 2, 0)))
    write(tmp_path / "ann" / "1.jpg", b"first")
    first = set_aside(tmp_path / "ann")
    write(tmp_path / "ann" / "1.jpg", b"second")
    second = set_aside(tmp_path / "ann")
    assert (first.name, second.name) == ("ann-20260102T030405Z", "ann-20260102T030405Z-2")
    assert (first / "1.jpg").read_bytes() == b"first" and (second / "1.jpg").read_bytes() == b"second"


def test_a_retrain_request_is_read_back_as_written(tmp_path):
    assert retrain_requested_at(tmp_path) is None
    request_retrain(tmp_path, 1234.5, by="api")
    assert json.loads((tmp_path / ".retrain-requested").read_text()) == {"requested_at": 1234.5, "by": "api"}
    assert retrain_requested_at(tmp_path) == 1234.5
    assert [p.name for p in tmp_path.iterdir()] == [".retrain-requested"]  # no temporary file left


def test_an_unreadable_retrain_request_counts_from_its_modification_time(tmp_path):
    write(tmp_path / ".retrain-requested", b"{half")
    os.utime(tmp_path / ".retrain-requested", (2000.0, 2000.0))
    assert retrain_requested_at(tmp_path) == 2000.0


def test_the_smallest_face_is_the_versions_training_config_or_the_default():
    assert ModelInfo(("a", "b")).min_face_size == DEFAULT_MIN_FACE_SIZE
    trained = ModelInfo(("a", "b"), extra={"train_config": {"prepare": {"min_face_size": 64}}})
    assert trained.min_face_size == 64
