"""The retraining schedule end to end, outside containers: `python -m trainer schedule` runs real
`trainer run` jobs on five-celebrities into the models folder that the TF Serving stand-in
serves, and the service under gunicorn reports what that leaves serving.

One deployment per module: the first version is published by a plain `trainer run` (which also
prepares the records every later retrain reuses through the shared --work folder), then each
test triggers retrains on a cron schedule and checks the versions on disk, the scheduler's JSON
lines and the version the service answers with. The gate's bar is a 15-epoch model (test
macro-F1 0.37 on this data); the tiny config's 2-epoch retrain (0.08) falls clearly below it.
Training is deterministic, so a retrain with the served model's own config scores the same and
passes the gate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from processes import REPO, Gunicorn, StandInProcess, wait_for
from trainer.publishing import registry
from trainer.config import PublishConfig
from trainer.configs import TINY_CONFIG
from trainer.errors import EXIT_BUSY
from trainer.scheduler import iso

pytestmark = [pytest.mark.slow, pytest.mark.data]

MODEL_NAME = PublishConfig().model_name
PEOPLE = ["ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"]
GOOD = ("train.epochs=15",)  # the served model's training: macro-F1 well above the 2-epoch one's
EVERY_SECOND = "* * * * * *"
PHOTO = "test-photos/one_face/obama_small.jpg"
RUN_TIMEOUT_S = 240


@dataclass
class Deployment:
    """The models folder TF Serving reads, the trainer's data and work folders, the service."""

    data: Path
    models: Path
    work: Path
    url: str
    photo: bytes

    def versions(self) -> list[int]:
        return registry.versions(self.models / MODEL_NAME)

    def report(self, version: int) -> dict:
        return registry.read_json(self.models / MODEL_NAME / str(version), registry.REPORT_FILE)

    def job(self, *overrides: str, data: Path | None = None, work: Path | None = None) -> list[str]:
        """`trainer run` on the tiny config (plus `overrides`) into this deployment's models."""
        command = [sys.executable, "-m", "trainer", "run", "--data", str(data or self.data),
                   "--models", str(self.models), "--work", str(work or self.work), "--config", str(TINY_CONFIG)]
        for override in overrides:
            command += ["--set", override]
        return command


@pytest.fixture(scope="module")
def deployment(face_data, tmp_path_factory):
    """Version 1 (GOOD) published, served by the stand-in, and the service (2 workers) reporting it."""
    root = tmp_path_factory.mktemp("deployment")
    deployed = Deployment(face_data / "five-celebrities", root / "models", root / "work", "",
                          (face_data / PHOTO).read_bytes())
    log = root / "first-run.log"
    with open(log, "wb") as out:
        first = subprocess.Popen(deployed.job(*GOOD), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        # TF Serving starts (and polls an empty folder) while version 1 trains.
        with StandInProcess(MODEL_NAME, deployed.models / MODEL_NAME, root / "standin.log", poll_s=0.2) as standin:
            assert first.wait(RUN_TIMEOUT_S) == 0, log.read_text(errors="replace")[-3000:]
            env = {"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": standin.address, "MODEL_NAME": MODEL_NAME,
                   "WEB_CONCURRENCY": "2", "TFSERVING_TIMEOUT_S": "10",
                   "PROMETHEUS_MULTIPROC_DIR": str(root / "metrics")}
            with Gunicorn(env, root / "gunicorn.log") as server:
                deployed.url = server.url
                wait_until_served(deployed, 1)
                yield deployed
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def schedule(cron: str, job: list[str]) -> subprocess.Popen:
    """`python -m trainer schedule` for one run of `job`."""
    command = [sys.executable, "-m", "trainer", "schedule", "--cron", cron, "--max-runs", "1", "--", *job]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events_of(scheduler: subprocess.Popen) -> list[dict]:
    """The scheduler's JSON events, once it has exited by itself with status 0.

    The job's own output shares the scheduler's stdout, so lines that are not events are skipped.
    """
    out, err = scheduler.communicate(timeout=RUN_TIMEOUT_S)
    assert scheduler.returncode == 0, err[-3000:]
    lines = [line for line in out.splitlines() if line.startswith('{"event"')]
    return [json.loads(line) for line in lines]


def scheduled_run(cron: str, job: list[str]) -> tuple[dict, list[dict]]:
    """Schedule one run of `job`: (its run-finished event, all events)."""
    events = events_of(schedule(cron, job))
    assert [e["event"] for e in events if e["event"] not in ("run-skipped",)] == [
        "scheduler-started", "run-started", "run-finished", "scheduler-stopped"]
    assert events[-1] == {"event": "scheduler-stopped", "runs": 1}
    return of_kind(events, "run-finished")[0], events


def of_kind(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["event"] == kind]


def predict(deployed: Deployment) -> dict:
    response = requests.post(deployed.url + "/v1/predict", data=deployed.photo,
                             headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def served_model(deployed: Deployment) -> dict:
    response = requests.get(deployed.url + "/v1/models", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["models"][0]


def wait_until_served(deployed: Deployment, version: int) -> None:
    """Until both workers answer with `version` (each notices a new one on its own)."""
    wait_for(lambda: all(predict(deployed)["model"]["version"] == version for _ in range(6)), timeout=60)


def assert_serves(deployed: Deployment, version: int) -> None:
    """/v1/models and several predictions (both workers) report `version` of the five people."""
    model = served_model(deployed)
    assert (model["name"], model["version"], model["class_names"]) == (MODEL_NAME, version, PEOPLE)
    for _ in range(6):
        body = predict(deployed)
        assert (body["model"]["name"], body["model"]["version"]) == (MODEL_NAME, version)
        assert len(body["faces"]) == 1 and body["faces"][0]["label"] in [*PEOPLE, "unknown"]


def newest_run_report(work: Path) -> dict:
    newest = sorted((work / "runs").iterdir())[-1]
    return json.loads((newest / "report.json").read_text())


def test_scheduled_retrain_publishes_a_version_the_service_reports(deployment):
    before = deployment.versions()
    run, events = scheduled_run(EVERY_SECOND, deployment.job(*GOOD))
    assert (run["exit_code"], run["outcome"]) == (0, "published")
    new = before[-1] + 1
    assert deployment.versions() == [*before, new]
    provenance = registry.read_json(deployment.models / MODEL_NAME / str(new), registry.PUBLISH_FILE)
    assert (provenance["version"], provenance["source"], provenance["forced"]) == (new, "train", False)
    assert deployment.report(new)["macro_f1"] == pytest.approx(deployment.report(before[-1])["macro_f1"])
    # Due times that came while the job trained were skipped, never started alongside it.
    skipped = of_kind(events, "run-skipped")
    assert skipped and {e["reason"] for e in skipped} == {"previous run still going"}
    assert {e["pid"] for e in skipped} == {of_kind(events, "run-started")[0]["pid"]}
    wait_until_served(deployment, new)
    assert_serves(deployment, new)


@pytest.mark.parametrize("broken", ["missing", "one-person"])
def test_failing_retrain_leaves_the_served_version(deployment, broken, tmp_path):
    data = tmp_path / "photos"
    if broken == "one-person":
        shutil.copytree(deployment.data / "madonna", data / "madonna")
    before = deployment.versions()
    run, _ = scheduled_run(EVERY_SECOND, deployment.job(data=data, work=tmp_path / "work"))
    assert (run["exit_code"], run["outcome"]) == (2, "failed")
    assert deployment.versions() == before
    assert not list((deployment.models / MODEL_NAME).glob(registry.TEMP_PREFIX + "*"))
    assert_serves(deployment, before[-1])


def test_overlapping_triggers_run_one_job(deployment):
    before = deployment.versions()
    # Two schedulers, both due at the same second a few seconds from now, on one models folder.
    due = int(time.time()) + 4
    cron = f"* * * * * {due % 60}"
    schedulers = [schedule(cron, deployment.job(*GOOD)) for _ in range(2)]
    events = [events_of(scheduler) for scheduler in schedulers]
    starts = [of_kind(each, "run-started")[0] for each in events]
    assert [start["due"] for start in starts] == [iso(due), iso(due)]
    runs = sorted((of_kind(each, "run-finished")[0] for each in events), key=lambda run: run["outcome"])
    busy, published = runs
    assert (busy["exit_code"], busy["outcome"]) == (EXIT_BUSY, "busy")
    assert (published["exit_code"], published["outcome"]) == (0, "published")
    assert published["start"] <= busy["end"] <= published["end"]  # the refusal came while it trained
    new = before[-1] + 1
    assert deployment.versions() == [*before, new]
    wait_until_served(deployment, new)
    assert_serves(deployment, new)


def test_gated_retrain_is_refused_and_the_served_version_stays(deployment):
    before = deployment.versions()
    bar = deployment.report(before[-1])["macro_f1"]
    run, _ = scheduled_run(EVERY_SECOND, deployment.job())  # the tiny config's 2 epochs
    assert (run["exit_code"], run["outcome"]) == (3, "refused")
    assert newest_run_report(deployment.work)["macro_f1"] < bar - PublishConfig().tolerance
    assert deployment.versions() == before
    assert_serves(deployment, before[-1])
