"""The model folder contract: which folders are versions, which are complete."""

from __future__ import annotations

import pytest

from facecore.versions import (
    SAVED_MODEL_FILE, complete_versions, parse_version, saved_model_folder, version_folders,
)


def folders(base, *names, complete=()):
    for name in names:
        (base / name).mkdir(parents=True)
        if name in complete:
            (base / name / SAVED_MODEL_FILE).write_bytes(b"")
    return base


@pytest.mark.parametrize("name, version", [("1", 1), ("007", 7), ("12", 12), ("abc", None), ("2.tmp", None),
                                           (".3-partial", None), ("1e3", None), ("-1", None), ("٣", None),
                                           (" 4", None), ("", None)])
def test_version_names(name, version):
    assert parse_version(name) == version


def test_versions_and_complete_versions(tmp_path):
    base = folders(tmp_path / "faces", "1", "2", "10", "x", ".publishing-1", complete=("1", "10"))
    (base / "3").write_text("a file is not a version")
    assert list(version_folders(base)) == [1, 2, 10]
    assert complete_versions(base) == {1: base / "1", 10: base / "10"}
    assert version_folders(tmp_path / "missing") == {}


def test_of_two_names_for_one_number_the_later_wins(tmp_path):
    base = folders(tmp_path / "faces", "007", "7")
    assert version_folders(base) == {7: base / "7"}


def test_saved_model_folder(tmp_path):
    base = folders(tmp_path / "faces", "1", "2", "3", complete=("1", "2"))
    assert saved_model_folder(base) == base / "2"  # 3 is not complete
    assert saved_model_folder(base / "1") == base / "1"
    with pytest.raises(FileNotFoundError, match="no SavedModel"):
        saved_model_folder(base / "3")
