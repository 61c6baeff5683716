"""Settings that travel as plain dicts (in dataset.json, the trainer's config, a model's metadata)."""

from __future__ import annotations

import dataclasses
from typing import Self


class Settings:
    """Mixin for a frozen dataclass of settings: `to_dict`, and `from_dict` that takes the keys
    it knows (a newer writer's extra keys are left out) and defaults for those not given."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
