"""Fixtures for the training tests: five-celebrities records and the tiny config, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import load_config
from trainer.configs import TINY_CONFIG


def pytest_configure(config):
    # Keras 3.15 saving weights under NumPy 2: harmless, and hundreds of lines per run.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )


@pytest.fixture(scope="session")
def tiny_config():
    """Seconds-long training: 32x32 inputs, a narrow 2-block net, 2 epochs."""
    return load_config(TINY_CONFIG)


@pytest.fixture(scope="session")
def five_records(face_data, tmp_path_factory) -> Path:
    """five-celebrities prepared into TFRecords once per session."""
    from trainer.data.preparation import prepare

    out = tmp_path_factory.mktemp("five-records")
    prepare(face_data / "five-celebrities", out, load_config(), workers=2)
    return out
