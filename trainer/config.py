"""The trainer's configuration: one frozen dataclass tree, defaults here, a TOML file and
`--set section.key=value` overrides on top. The resolved config is saved with every output."""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facecore.detect import DetectorParams
from facecore.preprocess import PreprocessSpec


@dataclass(frozen=True)
class SplitConfig:
    """Train/validation/test fractions; the split of a photo is a hash of its pixels and `seed`."""

    train: float = 0.70
    validation: float = 0.15
    test: float = 0.15
    seed: str = "faceid-split-v1"

    def __post_init__(self) -> None:
        parts = (self.train, self.validation, self.test)
        if min(parts) < 0 or abs(sum(parts) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {parts}")


@dataclass(frozen=True)
class PrepareConfig:
    """How photos become records."""

    min_per_class: int = 5
    min_face_size: int = 40
    shard_size: int = 256
    workers: int = 0  # 0: one process per core


@dataclass(frozen=True)
class TrainerConfig:
    """Everything the trainer's commands can be told."""

    detector: DetectorParams = field(default_factory=DetectorParams)
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    split: SplitConfig = field(default_factory=SplitConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainerConfig:
    """Defaults, then the TOML file at `path`, then `section.key=value` overrides."""
    values: dict[str, dict[str, Any]] = {}
    if path is not None:
        with open(path, "rb") as handle:
            values = tomllib.load(handle)
    for override in overrides:
        section, key, value = _parse_override(override)
        values.setdefault(section, {})[key] = value
    return from_dict(values)


def from_dict(values: dict[str, dict[str, Any]]) -> TrainerConfig:
    """Build a config from nested dicts, naming any unknown section or key."""
    sections = {f.name: f for f in dataclasses.fields(TrainerConfig)}
    unknown = set(values) - set(sections)
    if unknown:
        raise ValueError(f"unknown config section(s): {', '.join(sorted(unknown))}")
    built = {}
    for name, section in values.items():
        section_type = sections[name].default_factory
        keys = {f.name for f in dataclasses.fields(section_type)}
        bad = set(section) - keys
        if bad:
            raise ValueError(f"unknown key(s) in [{name}]: {', '.join(sorted(bad))}")
        built[name] = section_type(**section)
    return TrainerConfig(**built)


def _parse_override(text: str) -> tuple[str, str, Any]:
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not key:
        raise ValueError(f"override {text!r} must look like section.key=value")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return section, key, value


def add_config_arguments(parser) -> None:
    """The `--config` and `--set` options every command shares."""
    parser.add_argument("--config", type=Path, help="TOML file with config sections")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable), e.g. --set prepare.workers=1",
    )
