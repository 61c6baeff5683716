"""Part (b) of the enrol benchmark: seconds from `python -m trainer enrol` to the service's first
answer that names the new person, with the command's wall time split by what it leaves on disk.

The service runs as deployed: gunicorn with the default MODEL_POLL_S, and for the tfserving
backend the TF Serving stand-in polling the models folder as often as docker-compose.yml has TF
Serving poll it. /v1/predict is asked every POLL_S about the person's held-out photos in turn.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from processes import Gunicorn, StandInProcess

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "faces"
WORKERS = 2
POLL_S = 0.5
ANSWER_TIMEOUT_S = 240.0  # from the command's start; the goal is 60 s
WATCH_S = 0.05
STAGING_PREFIX = ".publishing-"  # trainer/publishing/registry.py TEMP_PREFIX (not imported: no TensorFlow here)
COMPOSE_FILE = REPO / "docker-compose.yml"


def deployed_tfserving_poll_s() -> float:
    """TF Serving's --file_system_poll_wait_seconds as docker-compose.yml runs it."""
    found = re.search(r"--file_system_poll_wait_seconds=([0-9.]+)", COMPOSE_FILE.read_text())
    if found is None:
        raise RuntimeError(f"{COMPOSE_FILE} sets no --file_system_poll_wait_seconds")
    return float(found.group(1))


class PublishWatcher(threading.Thread):
    """Seconds since `t0` at which each step of a publish was first seen: the staging folder,
    model.keras in it (the SavedModel export is done), the load check's `trainer verify`
    process, the new version folder, the command's exit."""

    def __init__(self, model_dir: Path, process: subprocess.Popen, t0: float) -> None:
        super().__init__(daemon=True)
        self.model_dir, self.process, self.t0 = model_dir, process, t0
        self.before = {p.name for p in model_dir.iterdir()}
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(WATCH_S):
            self._look()

    def _mark(self, event: str, happened: bool) -> None:
        if happened and event not in self.seen:
            self.seen[event] = round(time.perf_counter() - self.t0, 2)

    def _look(self) -> None:
        names = [p.name for p in self.model_dir.iterdir()]
        staging = [self.model_dir / n for n in names if n.startswith(STAGING_PREFIX) and "-old-" not in n]
        self._mark("staging_folder", bool(staging))
        self._mark("keras_file", any((folder / "model.keras").exists() for folder in staging))
        self._mark("load_check_started", self._verify_running())
        self._mark("version_published", any(n.isdigit() and n not in self.before for n in names))
        self._mark("command_exited", self.process.poll() is not None)

    def _verify_running(self) -> bool:
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return any(b"verify" in Path(f"/proc/{child}/cmdline").read_bytes() for child in children)
        except OSError:
            return False

    def phases(self) -> dict[str, float | None]:
        """Seconds between the steps seen (None where a step was not seen)."""
        steps = [("start", 0.0), *((k, self.seen.get(k)) for k in
                                   ("staging_folder", "keras_file", "load_check_started", "version_published",
                                    "command_exited"))]
        names = ["start_to_export_write_s", "savedmodel_write_s", "keras_save_s", "load_check_s", "after_publish_s"]
        return {name: (round(b[1] - a[1], 2) if a[1] is not None and b[1] is not None else None)
                for name, a, b in zip(names, steps, steps[1:])}


def ask(port: int, data: bytes) -> dict:
    """One /v1/predict: its latency, the version that answered and the faces' labels."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    began = time.perf_counter()
    try:
        connection.request("POST", "/v1/predict", body=data, headers={"Content-Type": "image/jpeg"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    latency = round(time.perf_counter() - began, 3)
    if response.status != 200:
        return {"status": response.status, "latency_s": latency}
    answer = json.loads(body)
    return {"status": 200, "latency_s": latency, "version": answer["model"]["version"],
            "labels": [face["label"] for face in answer["faces"]]}


def ask_until_named(port: int, person: str, probes: list[Path], t0: float, process: subprocess.Popen) -> list[dict]:
    """Ask every POLL_S (one probe photo after another) until an answer names `person`, the
    enrol command fails, or ANSWER_TIMEOUT_S pass."""
    answers, photos = [], [p.read_bytes() for p in probes]
    while time.perf_counter() - t0 < ANSWER_TIMEOUT_S:
        tick = time.perf_counter()
        index = len(answers) % len(photos)
        answer = {"at_s": round(tick - t0, 2), "photo": probes[index].name, **ask(port, photos[index])}
        answers.append(answer)
        if person in answer.get("labels", ()):
            break
        if process.poll() not in (None, 0):
            break
        time.sleep(max(0.0, POLL_S - (time.perf_counter() - tick)))
    return answers


def enrol_and_ask(port: int, models: Path, person: str, enrol_dir: Path, probes: list[Path], log: Path) -> dict:
    """Start `trainer enrol`, ask the service until it names the person, then wait for the command."""
    command = [sys.executable, "-m", "trainer", "enrol", "--models", str(models), "--person", person,
               "--photos", str(enrol_dir)]
    parent = max(int(p.name) for p in (models / MODEL_NAME).iterdir() if p.name.isdigit())
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    watcher = PublishWatcher(models / MODEL_NAME, process, t0)
    watcher.start()
    answers = ask_until_named(port, person, probes, t0, process)
    process.wait(600)
    time.sleep(2 * WATCH_S)
    watcher.stopping.set()
    watcher.join()
    return summary(person, parent, process.returncode, answers, watcher, log)


def summary(person: str, parent: int, returncode: int, answers: list[dict], watcher: PublishWatcher, log: Path) -> dict:
    named = next((a for a in answers if person in a.get("labels", ())), None)
    new = next((a for a in answers if a.get("version", parent) != parent), None)
    published = watcher.seen.get("version_published")
    done = named["at_s"] + named["latency_s"] if named else None
    return {
        "person": person, "enrol_exit_code": returncode,
        "command_to_answer_s": round(done, 2) if done is not None else None,
        "first_answer_from_new_version_s": round(new["at_s"] + new["latency_s"], 2) if new else None,
        "enrol_command_wall_s": watcher.seen.get("command_exited"),
        "enrol_command_events_s": watcher.seen, "enrol_command_phases_s": watcher.phases(),
        "service_wait_after_publish_s": round(done - published, 2) if done is not None and published else None,
        "answers": len(answers), "answers_before_named": len(answers) - (1 if named else 0),
        "slowest_answer_s": max((a["latency_s"] for a in answers), default=None),
        "named_on_photo": named["photo"] if named else None,
        "labels_from_new_version_before_named": [a["labels"] for a in answers if new and a is not named
                                                 and a.get("version", parent) != parent],
        "enrol_output": [line for line in log.read_text(errors="replace").splitlines()
                         if line.startswith(("published", "closest", "skipped", "refused", "error"))],
    }


def command_to_answer(backend: str, models: Path, person: str, enrol_photos: list[Path], probes: list[Path],
                      scratch: Path) -> dict:
    """The whole of part (b) on one backend: servers up and warm, then enrol and ask."""
    from service.config import Config

    scratch.mkdir(parents=True, exist_ok=True)
    enrol_dir = scratch / "photos" / person
    enrol_dir.mkdir(parents=True)
    for path in enrol_photos:
        shutil.copyfile(path, enrol_dir / path.name)
    env = {"MODEL_NAME": MODEL_NAME, "WEB_CONCURRENCY": str(WORKERS)}
    setting = {"gunicorn_workers": WORKERS, "service_MODEL_POLL_S": Config.model_poll_s, "ask_every_s": POLL_S}
    if backend == "local":
        with Gunicorn({**env, "SERVING_BACKEND": "local", "MODEL_BASE_PATH": str(models)}, scratch / "gunicorn.log") \
                as server:
            return {**setting, **warm_then_enrol(server.port, models, person, enrol_dir, probes, scratch)}
    poll_s = deployed_tfserving_poll_s()
    with StandInProcess(MODEL_NAME, models / MODEL_NAME, scratch / "standin.log", poll_s=poll_s) as standin, \
            Gunicorn({**env, "SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": standin.address},
                     scratch / "gunicorn.log") as server:
        setting["tfserving_file_system_poll_wait_seconds"] = poll_s
        return {**setting, **warm_then_enrol(server.port, models, person, enrol_dir, probes, scratch)}


def warm_then_enrol(port: int, models: Path, person: str, enrol_dir: Path, probes: list[Path], scratch: Path) -> dict:
    for path in probes[: 2 * WORKERS]:  # every worker has answered before the clock starts
        ask(port, path.read_bytes())
    return enrol_and_ask(port, models, person, enrol_dir, probes, scratch / "enrol.log")
