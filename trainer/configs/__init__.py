"""Packaged config files, also named by `TRAINER_CONFIG=NAME`: `quick.toml` (the quick start's
model in minutes), `tiny.toml` (trains in seconds: tests, smoke checks)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).parent
TINY_CONFIG = CONFIG_DIR / "tiny.toml"
