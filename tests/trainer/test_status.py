"""The trainer's status file (docs/people.md's schema): running with progress, then how the job ended."""

from __future__ import annotations

import json
import os
import signal

import pytest

from facecore.datafolder import TRAINER_STATUS_FILE
from trainer.errors import BadInput, Refused
from trainer.status import PUBLISHED, job_status, read_status

KEYS = {"state", "job", "since", "progress", "last", "last_run_started_at"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def written(models) -> dict:
    return json.loads((models / TRAINER_STATUS_FILE).read_text())


def test_a_published_run_reads_running_with_progress_then_idle_with_its_version(tmp_path):
    clock = Clock()
    with job_status(tmp_path, "run", clock) as job:
        assert written(tmp_path) == {"state": "running", "job": "run", "since": 1000.0, "progress": None,
                                     "last": None, "last_run_started_at": 1000.0}
        job.stage("detecting faces", 0, 40)
        clock.now += 0.2
        job.stage("detecting faces", 10, 40)  # within a second of the last write: not written
        assert written(tmp_path)["progress"] == {"stage": "detecting faces", "done": 0, "total": 40}
        clock.now += 1.0
        job.stage("detecting faces", 20, 40)
        assert written(tmp_path)["progress"] == {"stage": "detecting faces", "done": 20, "total": 40}
        job.stage("training")  # a new stage is written at once
        assert written(tmp_path)["progress"] == {"stage": "training", "done": 0, "total": 0}
        clock.now = 1100.0
        job.result = (PUBLISHED, 7)
    status = written(tmp_path)
    assert set(status) == KEYS
    assert status == {"state": "idle", "job": None, "since": 1100.0, "progress": None,
                      "last": {"job": "run", "outcome": "published", "version": 7, "reason": None,
                               "finished_at": 1100.0},
                      "last_run_started_at": 1000.0}
    assert [p.name for p in tmp_path.iterdir()] == [TRAINER_STATUS_FILE]  # no temporary file left


def test_a_refusal_keeps_the_reason_and_an_update_keeps_the_last_runs_start(tmp_path):
    with job_status(tmp_path, "run", Clock(50.0)) as job:
        job.result = (PUBLISHED, 1)
    with pytest.raises(Refused), job_status(tmp_path, "update", Clock(60.0)):
        raise Refused("the gate said no")
    status = read_status(tmp_path)
    assert status["last"] == {"job": "update", "outcome": "refused", "version": None,
                              "reason": "the gate said no", "finished_at": 60.0}
    assert status["last_run_started_at"] == 50.0  # an update is not a run


@pytest.mark.parametrize("error, reason", [
    (BadInput("DATA gave 1 usable class"), "DATA gave 1 usable class"),
    (RuntimeError("disk on fire"), "RuntimeError: disk on fire"),
    (KeyboardInterrupt(), "stopped before it finished (interrupted or terminated)"),
])
def test_a_failure_is_recorded_and_still_raised(tmp_path, error, reason):
    with pytest.raises(type(error)), job_status(tmp_path, "update", Clock()):
        raise error
    assert read_status(tmp_path)["last"]["outcome"] == "failed"
    assert read_status(tmp_path)["last"]["reason"] == reason


def test_sigterm_during_a_job_leaves_it_failed_not_running(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped, job_status(tmp_path, "run", Clock()):
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert read_status(tmp_path)["state"] == "idle" and read_status(tmp_path)["last"]["outcome"] == "failed"
    assert signal.getsignal(signal.SIGTERM) == before


def test_no_file_or_a_broken_one_reads_as_idle_with_nothing_done(tmp_path):
    assert read_status(tmp_path)["last"] is None
    (tmp_path / TRAINER_STATUS_FILE).write_text("{half")
    assert read_status(tmp_path) == {"state": "idle", "job": None, "since": None, "progress": None, "last": None}
