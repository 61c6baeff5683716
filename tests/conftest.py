"""Shared fixtures: the photo data setting, small synthetic photos, trainer configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The shared photos: $FACE_DATA_DIR, or ../shared/data beside the repository."""
    return Path(os.environ.get("FACE_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def face_data() -> Path:
    """The shared photo folder; missing data is a failure, never a skip."""
    root = data_root()
    expected = ["lfw-known", "lfw-strangers", "five-celebrities", "test-photos"]
    missing = [name for name in expected if not (root / name).is_dir()]
    if missing:
        pytest.fail(f"shared photos missing under {root}: {', '.join(missing)} (set FACE_DATA_DIR)")
    return root
