"""The scheduler's watch: `trainer update` whenever the data folder has work pending, never
overlapping a run; a failed update waits for new work; a cron run due meanwhile starts after it."""

from __future__ import annotations

import sys
from pathlib import Path

from test_schedule import every, finished, job, spans

from trainer.commands.schedule import pending_check
from trainer.scheduler import Scheduler, default_job, never


class Pending:
    """A stand-in for `pending`: each call returns the next answer, the last one for ever."""

    def __init__(self, *answers: str | None) -> None:
        self.answers, self.calls = list(answers), 0

    def __call__(self) -> str | None:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def run_watching(next_due, cron_command, watch, watch_command, **options) -> list[dict]:
    events: list[dict] = []
    scheduler = Scheduler(next_due, cron_command, log=events.append, watch=watch, watch_command=watch_command,
                          watch_s=0.02, poll_s=0.02, **options)
    assert scheduler.run() == 0
    return events


def test_pending_work_starts_the_update_command(tmp_path):
    command, trace = job(tmp_path, codes=[0])
    watch = Pending(None, None, "digest-1", None)
    events = run_watching(never, ["false"], watch, command, max_runs=1)
    (run,) = finished(events)
    assert (run["trigger"], run["outcome"]) == ("watch", "published")
    assert len(spans(trace)) == 1 and watch.calls == 3  # checked until work was pending, not during the run
    assert events[0]["watch_s"] == 0.02


def test_a_failed_update_is_not_retried_for_the_same_work_but_is_for_new_work(tmp_path):
    command, trace = job(tmp_path, codes=[1, 0])
    watch = Pending(*["digest-1"] * 15, "digest-2")
    events = run_watching(never, ["false"], watch, command, max_runs=2)
    first, second = finished(events)
    assert (first["outcome"], second["outcome"]) == ("failed", "published")
    assert "retry_after" in first and "retry_after" not in second
    assert watch.calls >= 15 and len(spans(trace)) == 2  # digest-1 was asked about 14 times more, not run


def test_a_cron_run_due_during_an_update_starts_when_it_ends(tmp_path):
    command, trace = job(tmp_path, seconds=0.5)
    events = run_watching(every(0.2), command, Pending("digest-1", None), command, max_runs=2)
    kinds = [(e["event"], e.get("trigger")) for e in events if e["event"] != "run-skipped"][1:-1]
    assert kinds[:3] == [("run-started", "watch"), ("run-deferred", None), ("run-finished", "watch")]
    assert kinds[3:] == [("run-started", "cron"), ("run-finished", "cron")]
    (_, first_end), (second_start, _) = spans(trace)
    assert second_start >= first_end


def test_the_watch_reads_the_jobs_folders_from_the_environment(tmp_path):
    env = {"DATA_DIR": str(tmp_path / "data"), "MODELS_DIR": str(tmp_path / "models"),
           "TRAINER_WORK_DIR": str(tmp_path / "work"), "TRAINER_CONFIG": ""}
    check = pending_check(env)
    assert check() is None  # no data folder: nothing to watch (a schedule of `run` jobs only)
    (tmp_path / "data").mkdir()
    assert check() is None
    (tmp_path / "data" / "ann").mkdir()
    (tmp_path / "data" / "ann" / "1.jpg").write_bytes(b"jpeg")
    assert isinstance(check(), str)  # photos and no version yet: a first run is pending
    assert default_job(env, "update") == [sys.executable, "-m", "trainer", "update", "--data", env["DATA_DIR"],
                                          "--models", env["MODELS_DIR"]]


def test_a_watch_that_cannot_read_the_data_folder_is_logged_once(tmp_path):
    def broken() -> str | None:
        raise FileNotFoundError(f"data folder {Path(tmp_path) / 'gone'} does not exist")

    command, _ = job(tmp_path)
    events = run_watching(every(0.3), command, broken, command, max_runs=1)
    assert [e["event"] for e in events].count("watch-failed") == 1
    assert [run["trigger"] for run in finished(events)] == ["cron"]
