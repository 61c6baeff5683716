"""JSON files the trainer writes: whole or not at all (a temporary file, then one rename)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, value, sort_keys: bool = False) -> Path:
    """Write `value` to `path` so that a reader sees the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=sort_keys))
    tmp.replace(path)
    return path
