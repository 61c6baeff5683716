"""Detect the face in every photo of DATA/<person>/ and write face-crop TFRecords to OUT."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from trainer.config import TrainerConfig
from trainer.data import listing as listing_io, manifest as manifest_io, split
from trainer.data.cache import ExtractionCache
from trainer.data.extract import (
    CLASS_TOO_SMALL, DUPLICATE, FAILED, UNREADABLE, USED, ExtractParams, Extraction, Worker, file_sha256,
)
from trainer.errors import BadInput

if TYPE_CHECKING:
    from trainer.data.records import FaceRecord

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (photos detected, photos to detect)


class OutputInUse(BadInput):
    """The output folder holds another dataset and --force was not given."""


@dataclass
class Photo:
    """One input file and what became of it."""

    source: str  # path relative to the data folder
    person: str
    extraction: Extraction
    outcome: str = ""
    reason: str = ""
    split: str = ""
    duplicate_of: str = ""


def prepare(data_dir: Path, out_dir: Path, config: TrainerConfig, workers: int | None = None,
            force: bool = False, progress: Progress | None = None) -> dict:
    """Run the whole preparation and return the manifest it wrote; `progress(done, total)` after
    each photo detected anew."""
    data_dir, out_dir = Path(data_dir).resolve(), Path(out_dir)
    listing = listing_io.scan(data_dir)
    _claim_output(out_dir, data_dir, force)
    params = ExtractParams(config.detector, config.preprocess, config.prepare.min_face_size)
    cache = ExtractionCache(out_dir / "cache.sqlite", params.cache_key())
    try:
        workers = workers or config.prepare.workers or os.cpu_count()
        photos, processed = _extract_all(listing, params, cache, workers, progress)
        class_names = _settle(photos, config)
        _assign_splits(photos, cache, config)
    finally:
        cache.close()
    chosen = _records_by_split(photos, class_names)
    digest = _digest(chosen, class_names, params, config.prepare.shard_size)
    shards = manifest_io.unchanged_shards(out_dir, digest)
    rewritten = shards is None
    if rewritten:
        shards = _write_records(out_dir, chosen, class_names, config.prepare.shard_size)
    result = manifest_io.build(data_dir, listing, photos, class_names, shards, config, params)
    result["records_digest"] = digest
    result["run"] = {"processed": processed, "from_cache": len(photos) - processed,
                     "workers": workers, "records_written": rewritten}
    manifest_io.write(out_dir, result)
    return result


def _claim_output(out_dir: Path, data_dir: Path, force: bool) -> None:
    """Refuse to overwrite another dataset's output unless forced; clear our old files."""
    existing = manifest_io.read_data_dir(out_dir)
    foreign = existing is not None and existing != str(data_dir)
    unknown = existing is None and out_dir.exists() and any(
        p.name != "cache.sqlite" for p in out_dir.iterdir()
    )
    if (foreign or unknown) and not force:
        what = f"a dataset prepared from {existing}" if foreign else "files that are not a prepared dataset"
        raise OutputInUse(f"{out_dir} already holds {what}; use --force to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)


def _extract_all(listing: listing_io.Listing, params: ExtractParams, cache: ExtractionCache,
                 workers: int, progress: Progress | None = None) -> tuple[list[Photo], int]:
    """Extraction for every file (from the cache when known, else in a process pool), and
    how many were processed anew."""
    photos, todo = [], []
    for item in listing.files:
        try:
            data = read_input(item.path)
        except OSError as exc:
            photos.append(Photo(item.source, item.person, Extraction("", UNREADABLE, reason=str(exc))))
            continue
        cached = cache.get(file_sha256(data))
        photos.append(Photo(item.source, item.person, cached))
        if cached is None:
            todo.append((len(photos) - 1, data))
    for done, (index, extraction) in enumerate(_run_pool(todo, params, workers), start=1):
        if progress is not None:
            progress(done, len(todo))
        photos[index].extraction = extraction
        if extraction.outcome != FAILED:  # a failure is retried next time, perhaps by fixed code
            cache.put(extraction)
    log.info("%d photos, %d from cache, %d processed", len(photos), len(photos) - len(todo), len(todo))
    return photos, len(todo)


def read_input(path: Path) -> bytes:
    """The bytes of a regular file; OSError, never a hang, for a FIFO, device, folder or dangling link."""
    if not path.is_file():
        if path.is_dir():
            raise OSError("not a regular file: a folder")
        kind = "a dangling or looping link" if path.is_symlink() else "a FIFO or device"
        raise OSError(f"not a regular file: {kind}")
    return path.read_bytes()


def _run_pool(todo: list[tuple[int, bytes]], params: ExtractParams, workers: int):
    """Yield (index, extraction) for each item, with a progress bar."""
    bar = tqdm(total=len(todo), desc="detecting faces", unit="photo", disable=not todo)
    indices = [index for index, _ in todo]
    payloads = [data for _, data in todo]
    if workers <= 1 or len(todo) < 2:
        Worker.init(params)
        results = map(Worker.run, payloads)
        for index, extraction in zip(indices, results):
            bar.update()
            yield index, extraction
    else:
        context = multiprocessing.get_context("spawn")  # TensorFlow is loaded here: never fork
        with context.Pool(workers, initializer=Worker.init, initargs=(params,)) as pool:
            for index, extraction in zip(indices, pool.imap(Worker.run, payloads, chunksize=4)):
                bar.update()
                yield index, extraction
    bar.close()


def _settle(photos: list[Photo], config: TrainerConfig) -> list[str]:
    """Decide each photo's outcome (duplicates, small classes); return the class names."""
    first_seen: dict[str, Photo] = {}
    for photo in photos:
        extraction = photo.extraction
        photo.outcome, photo.reason = extraction.outcome, extraction.reason
        key = extraction.pixel_sha256
        if key and key in first_seen:
            photo.outcome, photo.duplicate_of = DUPLICATE, first_seen[key].source
            photo.reason = "same pixels as an earlier photo"
        elif key:
            first_seen[key] = photo
    used = Counter(p.person for p in photos if p.outcome == USED)
    small = {person for person, count in used.items() if count < config.prepare.min_per_class}
    for person in sorted(small):
        log.warning("%s has only %d usable photos (< %d): left out", person, used[person],
                    config.prepare.min_per_class)
    for photo in photos:
        if photo.outcome == USED and photo.person in small:
            photo.outcome = CLASS_TOO_SMALL
            photo.reason = f"{photo.person} has fewer than {config.prepare.min_per_class} usable photos"
    return sorted(set(used) - small)


def _assign_splits(photos: list[Photo], cache: ExtractionCache, config: TrainerConfig) -> None:
    """Give every used photo its split, keeping all earlier assignments."""
    rule = split.assignment_key(config.split)
    known = cache.splits(rule)
    by_person: dict[str, list[Photo]] = {}
    for photo in photos:
        if photo.outcome == USED:
            by_person.setdefault(photo.person, []).append(photo)
    for members in by_person.values():
        assigned = split.assign([p.extraction.pixel_sha256 for p in members], known, config.split)
        for photo in members:
            photo.split = assigned[photo.extraction.pixel_sha256]
        cache.put_splits(rule, assigned)


def _records_by_split(photos: list[Photo], class_names: list[str]) -> dict[str, list[Photo]]:
    """The used photos of each split, in record order: by label, then pixel hash."""
    labels = {name: index for index, name in enumerate(class_names)}
    return {
        name: sorted((p for p in photos if p.outcome == USED and p.split == name),
                     key=lambda p: (labels[p.person], p.extraction.pixel_sha256))
        for name in split.SPLITS
    }


def _digest(chosen: dict[str, list[Photo]], class_names: list[str], params: ExtractParams,
            shard_size: int) -> str:
    """Fingerprint of the records to write: equal fingerprints mean byte-identical shards."""
    content = [class_names, params.cache_key(), shard_size]
    for name, members in chosen.items():
        content.append([name, [(p.person, p.extraction.sha256, p.source) for p in members]])
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def _write_records(out_dir: Path, chosen: dict[str, list[Photo]], class_names: list[str],
                   shard_size: int) -> dict[str, list[str]]:
    """Replace the shards with every split's records; returns shard file names per split."""
    # TensorFlow (the records writer) is imported only here: a re-run with nothing new to write
    # costs the listing and the cache look-ups, not TensorFlow's seconds-long import.
    from trainer.data.records import write_split

    for old in out_dir.glob("*.tfrecord"):
        old.unlink()
    labels = {name: index for index, name in enumerate(class_names)}
    return {
        name: [path.name for path in
               write_split(out_dir, name, [_record(p, labels[p.person]) for p in members], shard_size)]
        for name, members in chosen.items()
    }


def _record(photo: Photo, label: int) -> FaceRecord:
    from trainer.data.records import FaceRecord

    e = photo.extraction
    return FaceRecord(e.png, label, photo.person, e.sha256, e.pixel_sha256, photo.source, e.box)
