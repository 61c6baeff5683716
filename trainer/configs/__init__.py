"""Packaged config files, also named by `TRAINER_CONFIG=NAME`: `quick.toml` (the quick start's
model: the default descriptor), `scratch.toml` (the course's CNN trained from scratch),
`tiny.toml` (a scratch CNN that trains in seconds: tests, smoke checks)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).parent
TINY_CONFIG = CONFIG_DIR / "tiny.toml"
