"""Throughput of `prepare`: photos/s with one process and with all cores, and a cached re-run.

Usage: python benchmarks/prepare_benchmark.py [--data DIR] [--out DIR]   (default: $FACE_DATA_DIR/lfw-known)
Prints one JSON object (with --out DIR also DIR/prepare-<YYYY-MM-DD>.json); the `command_*`
figures are `python -m trainer prepare` in fresh processes (imports included), the others in-process.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import recording
from trainer.config import load_config
from trainer.data.preparation import prepare


def timed_prepare(data: Path, out: Path, workers: int) -> tuple[float, dict]:
    start = time.perf_counter()
    manifest = prepare(data, out, load_config(), workers=workers)
    return time.perf_counter() - start, manifest


def timed_command(data: Path, out: Path) -> float:
    """Seconds of `python -m trainer prepare` in a fresh process, as a user or the scheduler runs it
    (imports included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "trainer", "prepare", "--data", str(data), "--out", str(out)],
                   check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    default = Path(os.environ.get("FACE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=default / "lfw-known")
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        single, manifest = timed_prepare(args.data, Path(tmp, "one"), workers=1)
        parallel, _ = timed_prepare(args.data, Path(tmp, "all"), workers=cores)
        cached, again = timed_prepare(args.data, Path(tmp, "all"), workers=cores)
        command_first = timed_command(args.data, Path(tmp, "command"))
        command_again = timed_command(args.data, Path(tmp, "command"))
    photos = len(manifest["files"])
    recording.write({
        "photos": photos,
        "cores": cores,
        "photos_per_s_1_process": round(photos / single, 1),
        f"photos_per_s_{cores}_processes": round(photos / parallel, 1),
        "parallel_speedup": round(single / parallel, 2),
        "first_run_s": round(parallel, 2),
        "cached_run_s": round(cached, 2),
        "cached_over_first": round(cached / parallel, 3),
        "cached_run_processed": again["run"]["processed"],
        "command_first_run_s": round(command_first, 2),
        "command_cached_run_s": round(command_again, 2),
        "command_cached_over_first": round(command_again / command_first, 3),
    }, args, name="prepare")


if __name__ == "__main__":
    main()
