"""`manifest.json` of a prepared dataset: what went in, what came out, and how."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import TextIO

from trainer.data.split import RULE, SPLITS
from trainer.jsonfiles import write_json

FILENAME = "manifest.json"
FORMAT = "faceid-records/1"


def build(data_dir, listing, photos, class_names, shards, config, params) -> dict:
    """The manifest as a dict: classes, counts, parameters and one entry per input file."""
    warnings = [f"empty class folder: {name}" for name in listing.empty_classes]
    outcomes = Counter(p.outcome for p in photos)
    return {
        "format": FORMAT,
        "data_dir": str(data_dir),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "class_names": class_names,
        "counts": _counts(photos, class_names),
        "outcomes": dict(sorted(outcomes.items())),
        "detector": config.detector.to_dict(),
        "preprocess": config.preprocess.to_dict(),
        "crop_size": config.preprocess.crop_size,
        "min_face_size": params.min_face_size,
        "min_per_class": config.prepare.min_per_class,
        "split": {**{s: getattr(config.split, s) for s in SPLITS}, "seed": config.split.seed, "rule": RULE},
        "shards": shards,
        "warnings": warnings + _small_class_warnings(photos),
        "ignored": listing.ignored,
        "files": [_entry(p) for p in photos],
    }


def _counts(photos, class_names) -> dict:
    counts = {}
    for split in SPLITS:
        per_class = Counter(p.person for p in photos if p.split == split)
        counts[split] = {"total": sum(per_class.values()),
                         "per_class": {name: per_class.get(name, 0) for name in class_names}}
    return counts


def _small_class_warnings(photos) -> list[str]:
    people = sorted({p.person for p in photos if p.outcome == "class_too_small"})
    return [f"class left out, too few usable photos: {name}" for name in people]


def _entry(photo) -> dict:
    e = photo.extraction
    entry = {"source": photo.source, "person": photo.person, "sha256": e.sha256, "outcome": photo.outcome}
    if e.pixel_sha256:
        entry["pixel_sha256"] = e.pixel_sha256
    if photo.split:
        entry["split"] = photo.split
    if e.box is not None:
        entry["box"] = dict(zip(("x", "y", "width", "height"), e.box))
        entry["faces_found"] = e.faces_found
    if photo.reason:
        entry["reason"] = photo.reason
    if photo.duplicate_of:
        entry["duplicate_of"] = photo.duplicate_of
    return entry


def sources(manifest: dict) -> dict[str, list[str]]:
    """Each person's input files, by their path in the person's folder, sorted: what a version
    made from these records records it was made from (ModelInfo.extra["sources"])."""
    people: dict[str, list[str]] = {}
    for entry in manifest["files"]:
        people.setdefault(entry["person"], []).append(entry["source"].split("/", 1)[1])
    return {person: sorted(names) for person, names in sorted(people.items())}


def write(out_dir: Path, manifest: dict) -> Path:
    return write_json(Path(out_dir) / FILENAME, manifest)


def read(records_dir: Path) -> dict:
    path = Path(records_dir) / FILENAME
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python -m trainer prepare` first")
    return json.loads(path.read_text())


def unchanged_shards(out_dir: Path, digest: str) -> dict[str, list[str]] | None:
    """The shards of the existing output when they hold exactly the records of `digest`."""
    try:
        previous = read(out_dir)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    shards = previous.get("shards", {})
    files = [Path(out_dir) / name for names in shards.values() for name in names]
    if previous.get("records_digest") != digest or not all(f.exists() for f in files):
        return None
    return shards


def read_data_dir(out_dir: Path) -> str | None:
    """The data folder an existing output was prepared from, or None if there is none."""
    path = Path(out_dir) / FILENAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text()).get("data_dir")
    except (json.JSONDecodeError, AttributeError):
        return None


def print_summary(manifest: dict, stream: TextIO) -> None:
    """A table of photos per class and split, then outcomes and warnings."""
    names = manifest["class_names"]
    width = max([len("class")] + [len(n) for n in names])
    header = f"{'class':<{width}} " + " ".join(f"{s:>10}" for s in SPLITS)
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for name in names:
        cells = " ".join(f"{manifest['counts'][s]['per_class'][name]:>10}" for s in SPLITS)
        print(f"{name:<{width}} {cells}", file=stream)
    totals = " ".join(f"{manifest['counts'][s]['total']:>10}" for s in SPLITS)
    print(f"{'total':<{width}} {totals}", file=stream)
    outcomes = ", ".join(f"{k}: {v}" for k, v in manifest["outcomes"].items())
    print(f"\n{len(manifest['files'])} input files -> {outcomes}", file=stream)
    for warning in manifest["warnings"]:
        print(f"warning: {warning}", file=stream)
