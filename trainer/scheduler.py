"""Running the retraining job at each time a cron expression names (`python -m trainer schedule`),
and `trainer update` whenever the data folder asks for it (the watch).

Runs never overlap: a due time that arrives while the previous cron run is still going is skipped
and logged; one that arrives during a watch run starts as soon as that ends. Between runs, every
`watch_s` seconds, `watch()` says whether the data folder has work pending (a digest of it, or
None: trainer/publishing/changes.py) and the watch command runs if so; an update that failed or
was refused is not retried for the same pending work within WATCH_RETRY_S. Every event is one
JSON line on stdout; a finished run's line carries its start, end, exit code and outcome
(published, refused, busy or failed). The job itself decides what gets served: a refused or
failed run publishes nothing, so the serving version stays.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TextIO

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from trainer.errors import EXIT_BUSY, EXIT_OK, EXIT_REFUSED, BadInput

# Exit statuses of `python -m trainer run` and what each means for the schedule.
OUTCOMES = {EXIT_OK: "published", EXIT_REFUSED: "refused", EXIT_BUSY: "busy"}

NextDue = Callable[[float], float]  # epoch seconds -> the first due time strictly after it
Log = Callable[[dict], None]
Watch = Callable[[], str | None]  # the pending work's digest, or None when there is none
WATCH_RETRY_S = 300.0  # a failed or refused update waits this long before the same work is tried again


def default_job(env: Mapping[str, str], command: str = "run") -> list[str]:
    """The trainer's full pipeline (or another trainer command, e.g. `update`) on the data and
    models directories named in `env`."""
    return [
        sys.executable, "-m", "trainer", command,
        "--data", env.get("DATA_DIR", "/data"),
        "--models", env.get("MODELS_DIR", "/models"),
    ]


def cron_schedule(expression: str | None, zone_name: str | None = None) -> NextDue:
    """Due times of a cron expression in the time zone `zone_name` (an IANA name, as TZ holds;
    None or empty: UTC)."""
    if not expression or not croniter.is_valid(expression):
        raise BadInput(
            f"--cron / RETRAIN_CRON must be a cron expression such as '0 3 * * 0' "
            f"(03:00 every Sunday), got {expression!r}"
        )
    zone = time_zone(zone_name)

    def next_due(after: float) -> float:
        start = datetime.fromtimestamp(after, zone)
        return croniter(expression, start).get_next(float)

    return next_due


def time_zone(name: str | None) -> tzinfo:
    """The zone an IANA name such as Europe/Paris names, from the system's database or, in images
    without one, the tzdata package: TZ works the same in every container. None or empty: UTC."""
    if not name or name in ("UTC", "Etc/UTC", ":UTC"):
        return UTC
    try:
        return ZoneInfo(name.removeprefix(":"))
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"TZ must be a time zone name such as Europe/Paris, got {name!r}") from None


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


def iso(timestamp: float) -> str | None:
    """ISO 8601 in UTC to the millisecond; None for a time that never comes (`never`)."""
    if math.isinf(timestamp):
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


@dataclass
class _Run:
    process: subprocess.Popen
    due: float
    start: float
    trigger: str = "cron"  # or "watch"
    pending: str | None = None  # the watched work it was started for


class Scheduler:
    """Starts `command` at each due time unless the previous run is still going; with `watch`,
    starts `watch_command` between runs whenever `watch()` finds work pending."""

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
        watch: Watch | None = None,
        watch_command: list[str] | None = None,
        watch_s: float = 5.0,
    ):
        self._next_due = next_due
        self._command = list(command)
        self._log = log
        self._clock = clock
        self._poll_s = poll_s
        self._grace_s = grace_s
        self._max_runs = max_runs
        self._watch = watch if watch is not None and watch_command and watch_s > 0 else None
        self._watch_command = list(watch_command or [])
        self._watch_s = watch_s
        self._next_watch = 0.0
        self._held: tuple[str, float] | None = None  # (pending work, retry after) of a failed update
        self._deferred: float | None = None  # a due time that came during a watch run
        self._watch_error: str | None = None  # the last failed check's error, logged once
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
        self._log({"event": "scheduler-started", "command": self._command, "next_due": iso(due),
                   "watch_s": self._watch_s if self._watch else None})
        while not self._stopping.is_set():
            running = self._reap()
            if not running and self._max_runs is not None and self._started >= self._max_runs:
                break
            now = self._clock()
            if now >= due:
                self._on_due(due)
                due = self._next_due(max(now, due))
            elif not running and self._deferred is not None:
                self._start(self._deferred)
                self._deferred = None
            elif not running and self._watch is not None and now >= self._next_watch:
                self._next_watch = now + self._watch_s
                self._on_watch(now)
            else:
                self._stopping.wait(self._nap(now, due))
        self._shutdown()
        return 0

    def _nap(self, now: float, due: float) -> float:
        # Between runs, sleep until the due time or the next watch (a minute at most, in case the
        # wall clock jumps); during a run, wake often enough to log its end promptly.
        if self._run is not None:
            return min(self._poll_s, due - now)
        wake = min(due, self._next_watch) if self._watch is not None else due
        return max(0.0, min(60.0, wake - now))

    def run_once(self) -> int:
        """Run the job now and wait for it; its exit status (128+N if killed by signal N)."""
        self._start(self._clock())
        while self._reap() and not self._stopping.is_set():
            self._stopping.wait(self._poll_s)
        self._shutdown()
        status = self._last_exit if self._last_exit is not None else 1
        return 128 - status if status < 0 else status

    def _on_due(self, due: float) -> None:
        if self._run is not None and self._run.trigger == "watch" and self._deferred is None:
            self._deferred = due
            self._log({"event": "run-deferred", "due": iso(due), "reason": "an update is running",
                       "pid": self._run.process.pid})
        elif self._run is not None:
            self._log({
                "event": "run-skipped", "due": iso(due),
                "reason": "previous run still going" if self._deferred is None else "a run waits already",
                "running_since": iso(self._run.start), "pid": self._run.process.pid,
            })
        elif self._max_runs is None or self._started < self._max_runs:
            self._start(due)

    def _on_watch(self, now: float) -> None:
        """Start the watch command if work is pending (not work whose update just failed)."""
        try:
            pending = self._watch()
        except (OSError, ValueError) as error:
            if str(error) != self._watch_error:  # logged once, not every few seconds
                self._log({"event": "watch-failed", "error": str(error)})
            self._watch_error = str(error)
            return
        self._watch_error = None
        held = self._held is not None and self._held[0] == pending and now < self._held[1]
        if pending is not None and not held and (self._max_runs is None or self._started < self._max_runs):
            self._start(now, trigger="watch", pending=pending)

    def _start(self, due: float, trigger: str = "cron", pending: str | None = None) -> None:
        self._started += 1
        start = self._clock()
        command = self._watch_command if trigger == "watch" else self._command
        try:
            # A session of its own: a terminal's Ctrl-C reaches the scheduler only, which
            # then stops the job's whole process group itself.
            # The job's own output goes to stderr: stdout carries only the JSON event lines.
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=2, start_new_session=True
            )
        except OSError as error:
            self._last_exit = 127
            self._log({
                "event": "run-finished", "due": iso(due), "start": iso(start),
                "end": iso(self._clock()), "exit_code": None, "outcome": "failed",
                "error": str(error), "trigger": trigger,
            })
            return
        self._run = _Run(process, due, start, trigger, pending)
        self._log({"event": "run-started", "due": iso(due), "start": iso(start), "pid": process.pid,
                   "trigger": trigger})

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
            "exit_code": exit_code, "outcome": outcome_of(exit_code), "trigger": run.trigger,
        }
        if exit_code < 0:
            event["signal"] = signal.Signals(-exit_code).name
        if run.trigger == "watch" and event["outcome"] in ("failed", "refused"):
            self._held = (run.pending, end + WATCH_RETRY_S)
            event["retry_after"] = iso(end + WATCH_RETRY_S)
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
