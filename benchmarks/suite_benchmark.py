"""How long the test suite takes: its quick part (`-m "not slow"`), or the whole of it, or a finished run's log.

Runs `python -m pytest -q -m "not slow"` (with --all: every test, ~30 minutes and Docker) and records
the wall time and pytest's own summary (passed, failed, deselected, its seconds); with --from-log,
reads that summary from the output of a run made elsewhere (e.g. `.ci/run`'s log) instead.

    python benchmarks/suite_benchmark.py [--all | --from-log FILE] [--out DIR [--name N]]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import recording  # noqa: E402

# pytest's last line: "== 709 passed, 128 deselected, 12 warnings in 157.57s (0:02:37) =="
# (or "838 passed, 12 warnings, 32 subtests passed in 1570.41s (0:26:10)")
SUMMARY = re.compile(r"^=* ?(?P<counts>\d+ [a-z][a-z ]*(?:, \d+ [a-z][a-z ]*)*) in (?P<seconds>[\d.]+)s",
                     re.MULTILINE)


def summary(output: str) -> dict:
    """pytest's counts and seconds from the last summary line of `output`."""
    found = list(SUMMARY.finditer(output))
    if not found:
        raise ValueError("no pytest summary line (\"N passed ... in S s\") in the output")
    last = found[-1]
    counts = {words: int(number) for number, words in re.findall(r"(\d+) ([a-z ]+)", last["counts"])}
    return {"counts": counts, "pytest_seconds": float(last["seconds"])}


def run_suite(everything: bool) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + ([] if everything else
                                                                                  ["-m", "not slow"])
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    return {"part": "all" if everything else "quick (-m \"not slow\")", "command": command[1:],
            "wall_s": round(time.monotonic() - started, 1), "exit_code": done.returncode,
            **summary(done.stdout)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--all", action="store_true", help="every test, not only the quick part")
    how.add_argument("--from-log", type=Path, help="read the summary of a run made elsewhere")
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)
    if args.from_log:
        result = {"part": "from a log", "log": str(args.from_log), **summary(args.from_log.read_text(errors="replace"))}
    else:
        result = run_suite(args.all)
    recording.write(result, args, name="suite")
    return 0 if result.get("exit_code", 0) == 0 and not result["counts"].get("failed") else 1


if __name__ == "__main__":
    sys.exit(main())
