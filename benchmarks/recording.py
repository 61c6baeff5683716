"""Benchmark results as files: every benchmark prints its JSON and, with --out DIR, writes it to
DIR/<name>-<YYYY-MM-DD>[-<variant>].json, stamped with the day, the commit and the machine.

    parser = argparse.ArgumentParser(...)
    recording.add_output_arguments(parser)   # --out DIR, --name VARIANT; notes the load average
    args = parser.parse_args(argv)
    recording.write(result, args, name="gallery")

The docs quote these files only (benchmarks/render_figures.py, tests/test_doc_figures.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--out and --name; the 1-minute load average is noted now, before the benchmark runs."""
    parser.add_argument("--out", type=Path, help=f"also write the JSON into this folder (the docs quote {RESULTS})")
    parser.add_argument("--name", help="a variant's name, added to the results file's name")
    parser.set_defaults(load_average_before=load_average())


def load_average() -> float | None:
    """The 1-minute load average, where the system has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def cpu_model() -> str | None:
    """The first `model name` of /proc/cpuinfo, where there is one."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def commit() -> dict:
    """The short hash of HEAD, with `dirty: true` when tracked files have uncommitted changes."""
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    return {"commit": head, **({"dirty": True} if changed else {})}


def stamped(result: dict, load_before: float | None = None, command: list[str] | None = None) -> dict:
    """`result` with date, commit, machine (cores, CPU model, load before and after) and command.

    Keys the benchmark set itself win, so its own `machine` entries (workers, ...) stay."""
    machine = {"cores": os.cpu_count(), "cpu_model": cpu_model(),
               "load_average_1m": {"before": load_before, "after": load_average()},
               **result.get("machine", {})}
    return {"date": time.strftime("%Y-%m-%d"), **commit(), **result, "machine": machine,
            "command": command if command is not None else sys.argv}


def file_name(name: str, date: str, variant: str | None = None) -> str:
    """<name>-<date>[-<variant>].json"""
    return f"{name}-{date}{f'-{variant}' if variant else ''}.json"


def parse_file_name(path: Path) -> tuple[str, str, str | None] | None:
    """(name, date, variant) of a results file's name, None for another name."""
    found = re.fullmatch(r"(?P<name>.+?)-(?P<date>\d{4}-\d{2}-\d{2})(?:-(?P<variant>.+))?\.json", path.name)
    return (found["name"], found["date"], found["variant"]) if found else None


def newest(name: str, variant: str | None = None, folder: Path = RESULTS) -> Path:
    """The newest results file of a benchmark (and variant), by the date in its name."""
    dated = [(parsed[1], path) for path in folder.glob("*.json")
             if (parsed := parse_file_name(path)) and parsed[0] == name and parsed[2] == variant]
    if not dated:
        raise FileNotFoundError(f"no {file_name(name, 'YYYY-MM-DD', variant)} in {folder}")
    return max(dated)[1]


def write(result: dict, args: argparse.Namespace, name: str, variant: str | None = None) -> dict:
    """Stamp `result`, print it, and with --out write it there; returns the stamped result."""
    stamp = stamped(result, getattr(args, "load_average_before", None))
    text = json.dumps(stamp, indent=2)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        variant = variant or args.name
        (args.out / file_name(name, stamp["date"], variant)).write_text(text + "\n")
    return stamp
