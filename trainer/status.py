"""The trainer's status file, MODELS/.trainer-status.json: what it is doing and what it did last.

Its schema is docs/people.md's: `state`, `job`, `since`, `progress` ({stage, done, total} or
null) and `last` ({job, outcome, version, reason, finished_at} or null). One key more,
`last_run_started_at`: when the last `run` began, whatever became of it, which a retrain
request is compared with (trainer/publishing/changes.py). Only the holder of the run lock
writes it, each time whole (a temporary file, then one rename); anyone may read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from facecore.datafolder import TRAINER_STATUS_FILE
from trainer.errors import Refused, TrainerError

IDLE, RUNNING = "idle", "running"
PUBLISHED, REFUSED, FAILED, NOTHING_TO_DO = "published", "refused", "failed", "nothing-to-do"
PROGRESS_EVERY_S = 1.0  # the file is rewritten at most this often while only a count moves

Progress = Callable[[int, int], None]  # (done, total)


def status_path(models_dir: Path) -> Path:
    return Path(models_dir) / TRAINER_STATUS_FILE


def read_status(models_dir: Path) -> dict:
    """The status as last written; an idle one with nothing done when there is no readable file."""
    try:
        status = json.loads(status_path(models_dir).read_text())
    except (OSError, ValueError):
        status = None
    if not isinstance(status, dict):
        return {"state": IDLE, "job": None, "since": None, "progress": None, "last": None}
    return status


def write_status(models_dir: Path, status: dict) -> None:
    """Replace the status file in one rename, so a reader sees the old status or the new one."""
    path = status_path(models_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{TRAINER_STATUS_FILE}.{uuid.uuid4().hex}.partial")
    partial.write_text(json.dumps(status, indent=1, sort_keys=True))
    os.replace(partial, path)


class Job:
    """One job's entries in the status file, from its start to its outcome."""

    def __init__(self, models_dir: Path, job: str, clock: Callable[[], float] = time.time) -> None:
        self._models, self._clock = Path(models_dir), clock
        self.job = job
        self.result: tuple[str, int | None] = (NOTHING_TO_DO, None)  # the body sets it, e.g. (PUBLISHED, 7)
        previous = read_status(models_dir)
        self._last, self._run_started = previous.get("last"), previous.get("last_run_started_at")
        self._since, self._progress, self._written = clock(), None, 0.0

    def start(self) -> None:
        if self.job == "run":
            self._run_started = self._since
        self._write(RUNNING)

    def stage(self, name: str, done: int = 0, total: int = 0) -> None:
        """The job is at `name`, `done` of `total` (photos, faces); rewrites the file at most every
        PROGRESS_EVERY_S while only the count changes."""
        same_stage = self._progress is not None and self._progress["stage"] == name
        self._progress = {"stage": name, "done": int(done), "total": int(total)}
        if not same_stage or done >= total or self._clock() - self._written >= PROGRESS_EVERY_S:
            self._write(RUNNING)

    def progress(self, name: str) -> Progress:
        """A callback for loops that count: each call moves stage `name` on."""
        return lambda done, total: self.stage(name, done, total)

    def finish(self, outcome: str, version: int | None = None, reason: str | None = None) -> None:
        self._last = {"job": self.job, "outcome": outcome, "version": version, "reason": reason,
                      "finished_at": self._clock()}
        self._since, self._progress = self._last["finished_at"], None
        self._write(IDLE)

    def _write(self, state: str) -> None:
        self._written = self._clock()
        write_status(self._models, {"state": state, "job": self.job if state == RUNNING else None,
                                    "since": self._since, "progress": self._progress, "last": self._last,
                                    "last_run_started_at": self._run_started})


@contextlib.contextmanager
def job_status(models_dir: Path, job: str, clock: Callable[[], float] = time.time) -> Iterator[Job]:
    """State `running` for the block; then `idle` with the block's `result`, or refused or failed
    with the error's message (the error still propagates). Hold the run lock around it."""
    current = Job(models_dir, job, clock)
    current.start()
    try:
        with _sigterm_as_exit():
            yield current
    except Refused as exc:
        current.finish(REFUSED, reason=str(exc))
        raise
    except BaseException as exc:
        current.finish(FAILED, reason=failure_reason(exc))
        raise
    current.finish(*current.result)


def failure_reason(exc: BaseException) -> str:
    """What a failed job's `last.reason` says."""
    if isinstance(exc, TrainerError):
        return str(exc)
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return "stopped before it finished (interrupted or terminated)"
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (the scheduler's or Kubernetes' stop) unwinds the block like Ctrl-C, so the status
    file says the job stopped rather than `running` for good; the old handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)
