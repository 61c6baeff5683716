"""A lock file that keeps two training runs from overlapping, across processes and containers.

`fcntl.flock` locks belong to the open file, so the kernel releases them when the holder
exits, however it exits: a crashed run never leaves a stale lock behind. Containers that
share the volume holding the lock file (same host) see each other's locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from trainer.errors import Busy


class RunInProgress(Busy):
    """Another process holds the run lock (exit status EXIT_BUSY)."""

    def __init__(self, path: Path, holder_pid: int | None = None):
        self.path = path
        self.holder_pid = holder_pid
        by = f" by process {holder_pid}" if holder_pid else ""
        super().__init__(
            f"another training run is in progress (lock {path} is held{by}); "
            "wait for it to finish, then try again"
        )


@contextlib.contextmanager
def run_lock(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on `path` for the block; raise RunInProgress if it is taken."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(path, _holder_pid(fd)) from None
        # The pid is only for the message above; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        # Closing the descriptor releases the lock. The file stays: unlinking a lock file
        # lets a third process lock a fresh inode while a second still holds the old one.
        os.close(fd)


def _holder_pid(fd: int) -> int | None:
    """The pid the current holder wrote into the lock file, if readable."""
    text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None
