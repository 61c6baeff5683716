"""Markdown tables of open-set benchmark results (benchmarks/openset_benchmark.py --out), for the docs.

Usage: python benchmarks/openset_table.py [--splits N] RESULT.json [RESULT.json ...]
Prints one row per result file, in the order given: mean and worst split of each figure, the
seven-stranger photo's known names, seconds per split; then the stranger people any result
rejects less than all of, with their share rejected per result. With `--splits N` the figures
table covers each result's first N splits only (the benchmark's split k has the same seeds in
every run, so results of 3 and 5 splits compare on splits 1-3); the people table is left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openset_benchmark import overall

COLUMNS = (("known_accepted_correct", "known named right"), ("strangers_rejected", "strangers rejected"),
           ("macro_f1", "closed-set macro-F1"), ("accuracy", "closed-set accuracy"))


def figure_row(result: dict) -> str:
    """One variant: `mean (worst)` per figure, the photo's known names, the threshold range, seconds."""
    cells = [f"{result['mean'][key]:.3f} ({result['worst'][key]:.3f})" for key, _ in COLUMNS]
    thresholds = [s["threshold"] for s in result["splits"]]
    seconds = sum(s["run_s"] for s in result["splits"]) / len(result["splits"])
    names = "/".join(str(len(s["seven_strangers_photo"]["known_names"])) for s in result["splits"])
    met = "yes" if all(result["goals_met"].values()) else \
        "no: " + ", ".join(k for k, ok in result["goals_met"].items() if not ok)
    return (f"| {result['variant']} | {len(result['splits'])} | " + " | ".join(cells) +
            f" | {names} | {min(thresholds):.3f}-{max(thresholds):.3f} | {seconds:.0f} | {met} |")


def figures_table(results: list[dict]) -> list[str]:
    head = ("| variant | splits | " + " | ".join(f"{title} mean (worst)" for _, title in COLUMNS) +
            " | seven-stranger photo: known names per split | threshold | s per split | goals met (mean) |")
    return [head, "|" + "---|" * (len(COLUMNS) + 6), *(figure_row(r) for r in results)]


def people_table(results: list[dict]) -> list[str]:
    """Stranger people some result does not always reject: share rejected over the splits that
    tested them, and the known name most often given."""
    people = sorted({p for r in results for p, s in r["stranger_people"].items()
                     if s["rejected"] is not None and s["rejected"] < 1.0})
    rows = ["| stranger | " + " | ".join(r["variant"] for r in results) + " |", "|---|" + "---|" * len(results)]
    for person in people:
        cells = []
        for result in results:
            seen = result["stranger_people"].get(person, {})
            named = next(iter(seen.get("named_as", {})), "")
            cells.append(f"{seen['rejected']:.3f}" + (f" ({named})" if named else "")
                         if seen.get("rejected") is not None else "-")
        rows.append(f"| {person} | " + " | ".join(cells) + " |")
    return rows


def first_splits(result: dict, count: int) -> dict:
    """The result as if the benchmark had run its first `count` splits only."""
    splits = result["splits"][:count]
    mean, worst, met = overall(splits)
    return {**result, "splits": splits, "mean": mean, "worst": worst, "goals_met": met}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="JSON files of openset_benchmark.py --out")
    parser.add_argument("--splits", type=int, help="compare on the first N splits of every result")
    args = parser.parse_args(argv)
    results = [json.loads(path.read_text()) for path in args.results]
    if args.splits:
        print("\n".join(figures_table([first_splits(r, args.splits) for r in results])))
    else:
        print("\n".join([*figures_table(results), "", *people_table(results)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
