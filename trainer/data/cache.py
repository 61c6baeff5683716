"""The prepared dataset's memory: per-photo extractions (keyed by file hash and parameters)
and split assignments (keyed by pixel hash and split rule), in one SQLite file."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

from trainer.data.extract import Extraction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS extraction (
    sha256 TEXT NOT NULL,
    params TEXT NOT NULL,
    fields TEXT NOT NULL,
    png BLOB NOT NULL,
    PRIMARY KEY (sha256, params)
);
CREATE TABLE IF NOT EXISTS split (
    pixel_sha256 TEXT NOT NULL,
    rule TEXT NOT NULL,
    split TEXT NOT NULL,
    PRIMARY KEY (pixel_sha256, rule)
)
"""


class ExtractionCache:
    """SQLite file of extractions; one writer (the main process)."""

    def __init__(self, path: Path, params_key: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.executescript(_SCHEMA)
        self._params = params_key

    def get(self, sha256: str) -> Extraction | None:
        row = self._db.execute(
            "SELECT fields, png FROM extraction WHERE sha256 = ? AND params = ?",
            (sha256, self._params),
        ).fetchone()
        if row is None:
            return None
        fields = json.loads(row[0])
        if fields.get("box") is not None:
            fields["box"] = tuple(fields["box"])
        return Extraction(png=row[1], **fields)

    def put(self, extraction: Extraction) -> None:
        fields = dataclasses.asdict(extraction)
        png = fields.pop("png")
        self._db.execute(
            "INSERT OR REPLACE INTO extraction VALUES (?, ?, ?, ?)",
            (extraction.sha256, self._params, json.dumps(fields), png),
        )

    def splits(self, rule: str) -> dict[str, str]:
        """Every split assignment made so far under `rule`, by pixel hash."""
        rows = self._db.execute("SELECT pixel_sha256, split FROM split WHERE rule = ?", (rule,))
        return dict(rows.fetchall())

    def put_splits(self, rule: str, assignments: dict[str, str]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO split VALUES (?, ?, ?)",
            [(key, rule, split) for key, split in assignments.items()],
        )

    def close(self) -> None:
        self._db.commit()
        self._db.close()
