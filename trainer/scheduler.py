"""Running the retraining job at each time a cron expression names (`python -m trainer schedule`).

Runs never overlap: a due time that arrives while the previous run is still going is skipped
and logged. Every event is one JSON line on stdout; a finished run's line carries its start,
end, exit code and outcome (published, refused, busy or failed). The job itself decides what
gets served: a refused or failed run publishes nothing, so the serving version stays.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from croniter import croniter

from trainer.errors import EXIT_BUSY, EXIT_OK, EXIT_REFUSED, BadInput

# Exit statuses of `python -m trainer run` and what each means for the schedule.
OUTCOMES = {EXIT_OK: "published", EXIT_REFUSED: "refused", EXIT_BUSY: "busy"}

NextDue = Callable[[float], float]  # epoch seconds -> the first due time strictly after it
Log = Callable[[dict], None]


def default_job(env: Mapping[str, str]) -> list[str]:
    """The trainer's full pipeline on the data and models directories named in `env`."""
    return [
        sys.executable, "-m", "trainer", "run",
        "--data", env.get("DATA_DIR", "/data"),
        "--models", env.get("MODELS_DIR", "/models"),
    ]


def cron_schedule(expression: str | None) -> NextDue:
    """Due times of a cron expression, evaluated in the local time zone (TZ)."""
    if not expression or not croniter.is_valid(expression):
        raise BadInput(
            f"--cron / RETRAIN_CRON must be a cron expression such as '0 3 * * 0' "
            f"(03:00 every Sunday), got {expression!r}"
        )

    def next_due(after: float) -> float:
        start = datetime.fromtimestamp(after).astimezone()
        return croniter(expression, start).get_next(float)

    return next_due


def never(after: float) -> float:
    """No due time ever (`--once`)."""
    return float("inf")


def outcome_of(exit_code: int | None) -> str:
    """published / refused / busy for the run command's known statuses, failed otherwise."""
    return OUTCOMES.get(exit_code, "failed")


def json_lines(stream: TextIO) -> Log:
    """A log that writes each event as one JSON line and flushes it at once."""

    def log(event: dict) -> None:
        stream.write(json.dumps(event) + "\n")
        stream.flush()

    return log


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


@dataclass
class _Run:
    process: subprocess.Popen
    due: float
    start: float


class Scheduler:
    """Starts `command` at each due time unless the previous run is still going."""

    def __init__(
        self,
        next_due: NextDue,
        command: list[str],
        *,
        log: Log,
        clock: Callable[[], float] = time.time,
        poll_s: float = 0.1,
        grace_s: float = 30.0,
        max_runs: int | None = None,
    ):
        self._next_due = next_due
        self._command = list(command)
        self._log = log
        self._clock = clock
        self._poll_s = poll_s
        self._grace_s = grace_s
        self._max_runs = max_runs
        self._stopping = threading.Event()
        self._run: _Run | None = None
        self._started = 0
        self._last_exit: int | None = None

    def stop(self) -> None:
        """Ask the loop to end; safe to call from a signal handler."""
        self._stopping.set()

    def run(self) -> int:
        """Loop until stopped or until `max_runs` runs have finished; returns 0."""
        due = self._next_due(self._clock())
        self._log({"event": "scheduler-started", "command": self._command, "next_due": iso(due)})
        while not self._stopping.is_set():
            running = self._reap()
            if not running and self._max_runs is not None and self._started >= self._max_runs:
                break
            now = self._clock()
            if now >= due:
                self._on_due(due)
                due = self._next_due(max(now, due))
            else:
                # Between runs, sleep until the due time (a minute at most, in case the wall
                # clock jumps); during a run, wake often enough to log its end promptly.
                nap = self._poll_s if self._run is not None else 60.0
                self._stopping.wait(min(nap, due - now))
        self._shutdown()
        return 0

    def run_once(self) -> int:
        """Run the job now and wait for it; its exit status (128+N if killed by signal N)."""
        self._start(self._clock())
        while self._reap() and not self._stopping.is_set():
            self._stopping.wait(self._poll_s)
        self._shutdown()
        status = self._last_exit if self._last_exit is not None else 1
        return 128 - status if status < 0 else status

    def _on_due(self, due: float) -> None:
        if self._run is not None:
            self._log({
                "event": "run-skipped", "due": iso(due), "reason": "previous run still going",
                "running_since": iso(self._run.start), "pid": self._run.process.pid,
            })
        elif self._max_runs is None or self._started < self._max_runs:
            self._start(due)

    def _start(self, due: float) -> None:
        self._started += 1
        start = self._clock()
        try:
            # A session of its own: a terminal's Ctrl-C reaches the scheduler only, which
            # then stops the job's whole process group itself.
            # The job's own output goes to stderr: stdout carries only the JSON event lines.
            process = subprocess.Popen(
                self._command, stdin=subprocess.DEVNULL, stdout=2, start_new_session=True
            )
        except OSError as error:
            self._last_exit = 127
            self._log({
                "event": "run-finished", "due": iso(due), "start": iso(start),
                "end": iso(self._clock()), "exit_code": None, "outcome": "failed",
                "error": str(error),
            })
            return
        self._run = _Run(process, due, start)
        self._log(
            {"event": "run-started", "due": iso(due), "start": iso(start), "pid": process.pid}
        )

    def _reap(self) -> bool:
        """Log the running job's outcome if it has ended; whether one is still running."""
        if self._run is None:
            return False
        exit_code = self._run.process.poll()
        if exit_code is None:
            return True
        self._finish(exit_code)
        return False

    def _finish(self, exit_code: int, **extra) -> None:
        run, end = self._run, self._clock()
        self._run, self._last_exit = None, exit_code
        event = {
            "event": "run-finished", "due": iso(run.due), "start": iso(run.start),
            "end": iso(end), "duration_s": round(end - run.start, 3),
            "exit_code": exit_code, "outcome": outcome_of(exit_code),
        }
        if exit_code < 0:
            event["signal"] = signal.Signals(-exit_code).name
        self._log(event | extra)

    def _shutdown(self) -> None:
        if self._reap():
            self._log({"event": "run-stopping", "pid": self._run.process.pid,
                       "grace_s": self._grace_s})
            self._finish(self._terminate(self._run.process), stopped_by="scheduler shutdown")
        self._log({"event": "scheduler-stopped", "runs": self._started})

    def _terminate(self, process: subprocess.Popen) -> int:
        """SIGTERM the job's process group, SIGKILL it after the grace period."""
        _signal_group(process, signal.SIGTERM)
        try:
            return process.wait(timeout=self._grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            return process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
