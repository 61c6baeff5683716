"""run_lock: two processes competing for the same lock file, for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trainer.errors import EXIT_BUSY
from trainer.publishing.runlock import RunInProgress, run_lock

ROOT = Path(__file__).resolve().parents[2]

# Holds the lock until its stdin closes; says "locked" once it has it.
HOLDER = textwrap.dedent(
    """
    import sys
    from trainer.publishing.runlock import run_lock
    with run_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def holder(tmp_path):
    """Start a second process holding the lock; yield (process, lock path)."""
    lock = tmp_path / "locks" / "run.lock"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert process.stdout.readline().strip() == "locked"
    yield process, lock
    if process.poll() is None:
        process.kill()
    process.wait()


def test_lock_is_free_then_reusable(tmp_path):
    lock = tmp_path / "run.lock"
    with run_lock(lock) as held:
        assert held == lock
        assert lock.read_text().strip() == str(os.getpid())
    with run_lock(lock):
        pass


def test_second_process_is_refused_with_holder_pid(holder):
    process, lock = holder
    with pytest.raises(RunInProgress) as refused:
        with run_lock(lock):
            pytest.fail("entered a lock another process holds")
    assert refused.value.holder_pid == process.pid
    assert refused.value.exit_code == EXIT_BUSY
    assert "another training run is in progress" in str(refused.value)
    assert str(lock) in str(refused.value)


def test_lock_is_free_after_holder_finishes(holder):
    process, lock = holder
    process.stdin.close()
    assert process.wait(timeout=10) == 0
    with run_lock(lock):
        pass


def test_lock_is_free_after_holder_is_killed(holder):
    process, lock = holder
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    with run_lock(lock):
        pass


def test_same_process_cannot_nest(tmp_path):
    lock = tmp_path / "run.lock"
    with run_lock(lock):
        with pytest.raises(RunInProgress):
            with run_lock(lock):
                pass


def test_subprocess_refused_while_this_process_holds(tmp_path):
    lock = tmp_path / "run.lock"
    probe = (
        "import sys\n"
        "from trainer.publishing.runlock import RunInProgress, run_lock\n"
        "try:\n"
        "    with run_lock(sys.argv[1]):\n"
        "        sys.exit(0)\n"
        "except RunInProgress as error:\n"
        "    print(error)\n"
        "    sys.exit(error.exit_code)\n"
    )
    with run_lock(lock):
        refused = subprocess.run(
            [sys.executable, "-c", probe, str(lock)], capture_output=True, text=True, timeout=30,
            cwd=ROOT,
        )
    assert refused.returncode == EXIT_BUSY, refused.stderr
    assert f"held by process {os.getpid()}" in refused.stdout
    allowed = subprocess.run([sys.executable, "-c", probe, str(lock)], timeout=30, cwd=ROOT)
    assert allowed.returncode == 0
