"""Lock files, across processes, containers and hosts: one training run at a time, and one
change at a time to a model's folder.

`fcntl.flock` locks belong to the open file, so the kernel releases them when the holder
exits, however it exits: a crashed run never leaves a stale lock behind. Containers that
share the volume holding the lock file see each other's locks; on NFS (v4, or v3 with lockd),
CephFS and EFS, Linux clients take flock as a lock on the server, so pods on other nodes see it
too (docs/deployment.md, "Storage").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from trainer.errors import Busy

POLL_S = 0.2  # how often a waiting process tries the lock again


class RunInProgress(Busy):
    """Another process holds the run lock (exit status EXIT_BUSY)."""

    def __init__(self, path: Path, holder_pid: int | None = None, waited_s: float = 0.0):
        self.path = path
        self.holder_pid = holder_pid
        super().__init__(
            f"another training run is in progress (lock {path} is held{_by(holder_pid)}); "
            "wait for it to finish, then try again"
        )


class ModelsBusy(Busy):
    """Another process kept the lock of a model's folder longer than this one would wait."""

    def __init__(self, path: Path, holder_pid: int | None = None, waited_s: float = 0.0):
        self.path = path
        self.holder_pid = holder_pid
        super().__init__(
            f"another publish, prune or rollback is changing {path.parent} (lock {path} held{_by(holder_pid)} "
            f"for over {waited_s:.0f} s); try again once it has finished"
        )


def run_lock(path: str | os.PathLike[str]) -> contextlib.AbstractContextManager[Path]:
    """Hold the run lock `path` for the block; raise RunInProgress at once if it is taken."""
    return file_lock(path, RunInProgress)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], busy: Callable[..., Busy], wait_s: float = 0.0) -> Iterator[Path]:
    """Hold an exclusive lock on `path` for the block, waiting up to `wait_s` for it; then
    raise `busy(path, holder_pid, wait_s)`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, busy, wait_s)
        # The pid is only for the messages above; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        # Closing the descriptor releases the lock. The file stays: unlinking a lock file
        # lets a third process lock a fresh inode while a second still holds the old one.
        os.close(fd)


def _acquire(fd: int, path: Path, busy: Callable[..., Busy], wait_s: float) -> None:
    # Non-blocking tries, not a blocking flock: a wait with a deadline, and an NFS server that
    # stops answering cannot hang the process in the kernel for good.
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder_pid(fd)
                raise busy(path, holder, wait_s) from None
        time.sleep(POLL_S)


def _holder_pid(fd: int) -> int | None:
    """The pid the current holder wrote into the lock file, if readable."""
    text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


def _by(pid: int | None) -> str:
    return f" by process {pid}" if pid else ""
