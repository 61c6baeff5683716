"""Publish, prune and rollback from several processes at once, some of them seeing the same PID
as others (separate containers or hosts sharing the models volume): never a lost, half-written
or deleted serving version."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from facecore.versions import version_folders
from trainer.config import PublishConfig
from trainer.publishing import registry

ROOT = Path(__file__).resolve().parents[2]
FILES = ("saved_model.pb", "variables.data", registry.REPORT_FILE)

# A process on "another host": it sees PID 7 as its own, as a container's entry point does, and
# no process of this host (os.kill finds none). Then it runs OPERATIONS (argv[2], JSON).
OTHER_HOST = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    os.getpid = lambda: 7
    def kill(pid, signal):
        raise ProcessLookupError(pid)
    os.kill = kill
    from trainer.publishing import registry

    model_dir, operations = Path(sys.argv[1]), json.loads(sys.argv[2])

    def slow_write(tag, pause):
        def write(folder):
            folder.mkdir()
            for name in %r:
                (folder / name).write_text(tag)
                print(f"writing {tag}", flush=True)
                time.sleep(pause)
        return write

    for number, (operation, pause) in enumerate(operations):
        tag = f"{sys.argv[3]}-{number}"
        if operation == "publish":
            version = registry.publish(model_dir, slow_write(tag, pause), 3, {"tag": tag}, verify=None)
            print(f"published {version} {tag}", flush=True)
        elif operation == "rollback":
            try:
                version, _ = registry.rollback(model_dir, 3, verify=None)
                print(f"published {version} rollback", flush=True)
            except registry.NothingToRollBack:
                pass
        else:
            registry.prune(model_dir, 3)
    print("done", flush=True)
    """ % (FILES,)
)


def start(model_dir: Path, operations: list, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", OTHER_HOST, str(model_dir), json.dumps(operations), name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def complete(folder: Path) -> bool | None:
    """Whether a version folder holds every file with one tag (None: it was pruned meanwhile)."""
    try:
        tags = {(folder / name).read_text() for name in FILES}
    except FileNotFoundError:
        return None if not folder.exists() else False
    return len(tags) == 1


class Watcher(threading.Thread):
    """Polls the model folder as TF Serving does and records what a poller would have seen wrong."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(daemon=True)
        self.model_dir, self.problems, self.stop = model_dir, [], threading.Event()
        self.newest = 0

    def run(self) -> None:
        while not self.stop.wait(0.005):
            found = registry.versions(self.model_dir)
            if found and found[-1] < self.newest:
                self.problems.append(f"the serving version {self.newest} was deleted (now {found})")
            self.newest = max(self.newest, *found, 0)
            for version in found:
                if complete(self.model_dir / str(version)) is False:
                    self.problems.append(f"version {version} was visible half-written")


def test_a_publisher_elsewhere_with_the_same_pid_keeps_its_staging_folder(tmp_path):
    """Before: the second publisher saw PID 7's folder, found no PID 7 on its host, deleted it mid-write."""
    model_dir = tmp_path / "faces"
    first = start(model_dir, [("publish", 1.0)], "first")
    assert first.stdout.readline().startswith("writing first")
    second = start(model_dir, [("publish", 0.0)], "second")
    outputs = [first.communicate(timeout=60), second.communicate(timeout=60)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert registry.versions(model_dir) == [1, 2]
    assert all(complete(model_dir / str(v)) for v in (1, 2))
    assert (model_dir / "1" / "saved_model.pb").read_text() == "first-0"


def test_staging_left_by_a_killed_pid_1_is_cleaned_by_the_next_publish(tmp_path):
    """Before: PID 1 is alive on every host (init), so a dead trainer's PID-1 folder stayed for good."""
    model_dir = tmp_path / "faces"
    registry.publish(model_dir, lambda folder: folder.mkdir(), 3, {}, verify=None)
    (model_dir / f"{registry.TEMP_PREFIX}1-0123abcd").mkdir()  # what a killed PID-1 publisher left
    registry.publish(model_dir, lambda folder: folder.mkdir(), 3, {}, verify=None)
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(registry.TEMP_PREFIX)] == []


def test_publish_prune_and_rollback_at_once_never_lose_or_expose_a_version(tmp_path):
    model_dir = tmp_path / "faces"
    plans = {f"p{n}": [("publish", 0.05), ("rollback", 0), ("prune", 0), ("publish", 0.05)] for n in range(5)}
    plans["r"] = [("rollback", 0), ("publish", 0.05), ("rollback", 0), ("prune", 0)]
    watcher = Watcher(model_dir)
    watcher.start()
    processes = {name: start(model_dir, plan, name) for name, plan in plans.items()}
    outputs = {name: process.communicate(timeout=120) for name, process in processes.items()}
    watcher.stop.set()
    watcher.join()
    failed = {name: out[1][-2000:] for name, out in outputs.items() if processes[name].returncode != 0}
    assert not failed
    assert watcher.problems == []
    published = [line.split()[1:] for out, _ in outputs.values() for line in out.splitlines()
                 if line.startswith("published")]
    numbers = sorted(int(version) for version, _ in published)
    assert numbers == list(range(1, len(numbers) + 1))  # each a version of its own, none lost
    found = registry.versions(model_dir)
    assert found == numbers[-3:] and all(complete(model_dir / str(v)) for v in found)
    for version, tag in published:
        if int(version) in found and tag != "rollback":
            assert (model_dir / version / "saved_model.pb").read_text() == tag


def test_prune_that_loses_a_race_never_fails_the_publish(tmp_path, monkeypatch):
    """Before: a version another prune had just removed made os.rename raise after the new version was in place."""
    model_dir = tmp_path / "faces"
    for _ in range(3):
        registry.publish(model_dir, lambda folder: folder.mkdir(), 3, {}, verify=None)
    listed = registry.version_folders(model_dir)
    vanished = {0: model_dir / "0", **listed}  # listed, then pruned by another process
    monkeypatch.setattr(registry, "version_folders", lambda d: {**vanished, **version_folders(d)})
    assert registry.publish(model_dir, lambda folder: folder.mkdir(), 3, {}, verify=None) == 4
    monkeypatch.undo()
    assert registry.versions(model_dir) == [2, 3, 4]


def test_keep_1_is_refused_as_it_leaves_nothing_to_fall_back_to():
    with pytest.raises(ValueError, match="keep must be >= 2"):
        PublishConfig(keep=1)
    assert PublishConfig(keep=2).keep == 2
