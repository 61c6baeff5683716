"""Shared fixtures: the photo data setting, small synthetic photos, trainer configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent


# Property tests and the OpenAPI fuzzer: CI runs the bounded, derandomized `ci` profile (the same
# examples every run, no example database); HYPOTHESIS_PROFILE=long searches far wider and
# remembers failures in .hypothesis/ (docs/service.md, "Fuzzing").
_SLOW_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=100, derandomize=True, database=None, deadline=None,
                          print_blob=True, suppress_health_check=_SLOW_CHECKS)
settings.register_profile("long", max_examples=2000, deadline=None, print_blob=True,
                          suppress_health_check=_SLOW_CHECKS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
