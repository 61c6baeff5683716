"""benchmarks/recording.py: every benchmark's results file, stamped and named one way."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import recording  # noqa: E402


def parsed(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    recording.add_output_arguments(parser)
    return parser.parse_args(argv)


def test_write_stamps_the_result_and_names_the_file(tmp_path, capsys):
    args = parsed(["--out", str(tmp_path), "--name", "quick"])
    stamp = recording.write({"p50_ms": 42.6, "machine": {"gunicorn_workers": 2}}, args, name="service")
    today = time.strftime("%Y-%m-%d")
    written = json.loads((tmp_path / f"service-{today}-quick.json").read_text())
    assert written == stamp == json.loads(capsys.readouterr().out)
    assert written["date"] == today and written["p50_ms"] == 42.6
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    changed = subprocess.run(["git", "diff", "HEAD", "--quiet"], cwd=REPO).returncode == 1
    assert written["commit"] == head.stdout.strip() and written.get("dirty", False) == changed
    machine = written["machine"]
    assert machine["cores"] == os.cpu_count() and machine["gunicorn_workers"] == 2  # the benchmark's own kept
    assert machine["load_average_1m"]["before"] == args.load_average_before
    assert written["command"] == sys.argv


def test_without_out_nothing_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    recording.write({"x": 1}, parsed([]), name="detector")
    assert list(tmp_path.iterdir()) == [] and json.loads(capsys.readouterr().out)["x"] == 1


def test_newest_picks_the_latest_date_of_a_name_and_variant(tmp_path):
    for name in ("openset-2026-11-30-grayscale.json", "openset-2026-12-03-grayscale.json",
                 "openset-2026-12-04-rgb.json", "e2e-compose-2026-12-05.json", "e2e-compose-2026-12-01-enrolment.json"):
        (tmp_path / name).write_text("{}")
    assert recording.newest("openset", "grayscale", tmp_path).name == "openset-2026-12-03-grayscale.json"
    assert recording.newest("e2e-compose", None, tmp_path).name == "e2e-compose-2026-12-05.json"
    assert recording.newest("e2e-compose", "enrolment", tmp_path).name == "e2e-compose-2026-12-01-enrolment.json"
