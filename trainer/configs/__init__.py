"""Packaged config files: `tiny.toml` trains in seconds (tests, smoke checks)."""

from pathlib import Path

TINY_CONFIG = Path(__file__).with_name("tiny.toml")
