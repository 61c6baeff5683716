"""The model folder contract: `<base>/<name>/<version>/`, as TF Serving reads it.

A version is a child folder named by a number of ASCII digits ("7", "007" is 7 too); it is
complete, and worth loading, once it holds `saved_model.pb`. The trainer's registry writes
versions by this rule, the service's local backend and TF Serving's stand-in read them by it.
(TF Serving itself also reads a sign and surrounding blanks in a name; nothing here writes
such names, and the stand-in in tests/ copies that rule.) Beside its SavedModel a version holds
its evaluation report, `report.json`, written by the trainer, whose per-person figures the
service shows, and its run report, `report.html` (one self-contained page, served by the
service at /v1/models/<name>/report).
"""

from __future__ import annotations

import re
from pathlib import Path

SAVED_MODEL_FILE = "saved_model.pb"
REPORT_FILE = "report.json"
REPORT_PAGE = "report.html"
_VERSION_NAME = re.compile(r"[0-9]+")


def parse_version(name: str) -> int | None:
    """The version number a folder name gives, or None if it names none."""
    return int(name) if _VERSION_NAME.fullmatch(name) else None


def is_complete(folder: Path) -> bool:
    """Whether a version folder holds a SavedModel (TF Serving fails to load one that does not)."""
    return (Path(folder) / SAVED_MODEL_FILE).is_file()


def version_folders(model_dir: Path) -> dict[int, Path]:
    """Every version folder of a model, complete or not, by number, ascending. Of two names for
    one number ("7", "007"), the later in sorted order wins, as in TF Serving."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    found = {}
    for child in sorted(model_dir.iterdir()):
        version = parse_version(child.name)
        if version is not None and child.is_dir():
            found[version] = child
    return dict(sorted(found.items()))


def complete_versions(model_dir: Path) -> dict[int, Path]:
    """The version folders that hold a SavedModel, by number, ascending."""
    return {version: folder for version, folder in version_folders(model_dir).items() if is_complete(folder)}


def saved_model_folder(path: Path) -> Path:
    """`path` if it holds a SavedModel, else its newest complete version (FileNotFoundError if none)."""
    path = Path(path)
    if is_complete(path):
        return path
    complete = complete_versions(path)
    if not complete:
        raise FileNotFoundError(f"no SavedModel at {path} (and no numbered version holding one inside it)")
    return complete[max(complete)]
