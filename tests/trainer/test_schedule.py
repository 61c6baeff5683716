"""The retraining scheduler, run for real: subprocess jobs, a real clock, real signals."""

from __future__ import annotations

from datetime import UTC, datetime

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trainer.scheduler import Scheduler, cron_schedule, default_job, outcome_of

ROOT = Path(__file__).resolve().parents[2]

# A job that records when it ran, then exits with the next status from a list in a file.
JOB = """
import sys, time
trace, codes = sys.argv[1], sys.argv[2]
with open(trace, "a") as f:
    f.write(f"start {time.time()}\\n")
time.sleep(float(sys.argv[3]))
with open(trace, "a") as f:
    f.write(f"end {time.time()}\\n")
remaining = open(codes).read().split()
open(codes, "w").write(" ".join(remaining[1:]))
sys.exit(int(remaining[0]) if remaining else 0)
"""


def every(interval: float):
    """Due times every `interval` seconds: a stand-in for a cron finer than one second."""
    return lambda after: (math.floor(after / interval) + 1) * interval


def job(tmp_path, codes=(), seconds=0.0):
    """A command for JOB, plus the trace file it writes."""
    trace, code_file = tmp_path / "trace.txt", tmp_path / "codes.txt"
    code_file.write_text(" ".join(str(code) for code in codes))
    return [sys.executable, "-c", JOB, str(trace), str(code_file), str(seconds)], trace


def spans(trace: Path) -> list[tuple[float, float]]:
    """(start, end) of each run, read back from a JOB trace file."""
    marks = [line.split() for line in trace.read_text().splitlines()]
    starts = [float(t) for kind, t in marks if kind == "start"]
    ends = [float(t) for kind, t in marks if kind == "end"]
    return list(zip(starts, ends, strict=True))


def finished(events: list[dict]) -> list[dict]:
    return [event for event in events if event["event"] == "run-finished"]


def run_scheduler(next_due, command, **options) -> list[dict]:
    events: list[dict] = []
    assert Scheduler(next_due, command, log=events.append, **options).run() == 0
    return events


def test_cron_every_second_falls_on_whole_seconds():
    next_due = cron_schedule("* * * * * *")
    now = time.time()
    due = next_due(now)
    assert now < due <= now + 1 and due == int(due)
    assert next_due(due) == due + 1


def test_weekly_cron_is_a_week_apart():
    next_due = cron_schedule("0 3 * * 0")
    first = next_due(time.time())
    assert next_due(first) - first == pytest.approx(7 * 86400, abs=3600)  # DST may shift it


def test_cron_runs_in_the_time_zone_tz_names():
    """03:00 in Paris is 02:00 UTC in winter, 01:00 in summer: TZ moves the due times."""
    winter, summer = 1798675200.0, 1814313600.0  # 2027-01-01 and 2027-07-01, 00:00 UTC
    paris = cron_schedule("0 3 * * *", "Europe/Paris")
    assert datetime.fromtimestamp(paris(winter), UTC).hour == 2
    assert datetime.fromtimestamp(paris(summer), UTC).hour == 1
    assert datetime.fromtimestamp(cron_schedule("0 3 * * *", None)(winter), UTC).hour == 3  # unset: UTC
    with pytest.raises(ValueError, match="TZ"):
        cron_schedule("0 3 * * *", "Mars/Olympus_Mons")


@pytest.mark.parametrize("expression", [None, "", "every sunday", "61 * * * *", "* * *"])
def test_bad_cron_names_the_variable(expression):
    with pytest.raises(ValueError, match="RETRAIN_CRON"):
        cron_schedule(expression)


@pytest.mark.parametrize(
    "exit_code, outcome",
    [(0, "published"), (3, "refused"), (75, "busy"), (1, "failed"), (2, "failed"),
     (-15, "failed"), (None, "failed")],
)
def test_outcome_of_run_status(exit_code, outcome):
    assert outcome_of(exit_code) == outcome


def test_default_job_runs_trainer_on_env_dirs():
    command = default_job({"DATA_DIR": "/srv/photos", "MODELS_DIR": "/srv/models"})
    assert command == [sys.executable, "-m", "trainer", "run",
                       "--data", "/srv/photos", "--models", "/srv/models"]
    assert default_job({})[-4:] == ["--data", "/data", "--models", "/models"]


def test_real_cron_runs_job_each_second(tmp_path):
    command, trace = job(tmp_path)
    events = run_scheduler(cron_schedule("* * * * * *"), command, max_runs=2)
    runs = finished(events)
    assert [run["outcome"] for run in runs] == ["published", "published"]
    assert [run["exit_code"] for run in runs] == [0, 0]
    (first, _), (second, _) = spans(trace)
    assert second - first == pytest.approx(1.0, abs=0.3)
    assert {"start", "end", "due", "duration_s"} <= runs[0].keys()
    assert events[0]["event"] == "scheduler-started"
    assert events[-1] == {"event": "scheduler-stopped", "runs": 2}


def test_due_time_during_a_run_is_skipped_never_overlapped(tmp_path):
    command, trace = job(tmp_path, seconds=0.7)
    events = run_scheduler(every(0.25), command, max_runs=2)
    assert len(finished(events)) == 2
    skipped = [event for event in events if event["event"] == "run-skipped"]
    assert len(skipped) >= 2
    assert all(event["reason"] == "previous run still going" for event in skipped)
    (_, first_end), (second_start, _) = spans(trace)
    assert second_start >= first_end


def test_failed_and_refused_runs_are_logged_and_schedule_goes_on(tmp_path):
    command, _ = job(tmp_path, codes=[1, 3, 0])
    events = run_scheduler(every(0.2), command, max_runs=3)
    assert [(run["exit_code"], run["outcome"]) for run in finished(events)] == [
        (1, "failed"), (3, "refused"), (0, "published")]


def test_job_that_cannot_start_is_failed_and_schedule_goes_on(tmp_path):
    events = run_scheduler(every(0.2), [str(tmp_path / "no-such-program")], max_runs=2)
    runs = finished(events)
    assert [run["outcome"] for run in runs] == ["failed", "failed"]
    assert "No such file" in runs[0]["error"]


def test_job_ignoring_sigterm_is_killed_after_grace(tmp_path):
    ready = tmp_path / "ready"
    stubborn = ("import pathlib, signal, sys, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "pathlib.Path(sys.argv[1]).touch()\n"
                "time.sleep(60)\n")
    events: list[dict] = []
    scheduler = Scheduler(every(60), [sys.executable, "-c", stubborn, str(ready)],
                          log=events.append, grace_s=0.3)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(scheduler.run_once()))
    thread.start()
    wait_for(ready.exists)
    scheduler.stop()
    thread.join(timeout=10)
    assert result == [128 + signal.SIGKILL]
    (run,) = finished(events)
    assert (run["signal"], run["outcome"]) == ("SIGKILL", "failed")
    assert run["stopped_by"] == "scheduler shutdown"


def cli(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", "schedule", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options,
    )


def test_cli_once_exits_with_job_status(tmp_path):
    command, trace = job(tmp_path, codes=[3])
    process = cli("--once", "--", *command)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, err
    events = [json.loads(line) for line in out.splitlines()]
    assert finished(events)[0]["outcome"] == "refused"
    assert len(spans(trace)) == 1


def test_cli_cron_from_environment(tmp_path):
    command, trace = job(tmp_path)
    process = cli("--max-runs", "1", "--", *command,
                  env={**os.environ, "RETRAIN_CRON": "* * * * * *"})
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert [e["outcome"] for e in finished(map(json.loads, out.splitlines()))] == ["published"]


def test_cli_rejects_bad_cron():
    process = cli("--cron", "whenever")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "RETRAIN_CRON" in err


def test_sigterm_stops_running_job_and_scheduler(tmp_path):
    pid_file = tmp_path / "job.pid"
    sleeper = (f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
               "time.sleep(60)")
    process = cli("--cron", "* * * * * *", "--grace", "5", "--", sys.executable, "-c", sleeper)
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text())
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    (run,) = finished(events)
    assert (run["outcome"], run["signal"]) == ("failed", "SIGTERM")
    assert events[-1]["event"] == "scheduler-stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
