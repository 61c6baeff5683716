"""What can stop a trainer command, and the exit status each gives: defined here, once.

Library code raises these; `python -m trainer` (trainer/commands) prints `<label>: <message>`
and exits with the error's status. The scheduled job's outcomes (trainer/scheduler.py) are
read from the same numbers.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # anything else (also what Python gives an uncaught exception)
EXIT_BAD_INPUT = 2  # the data, folders or config given cannot be used
EXIT_REFUSED = 3  # a check refused to publish: the quality gate, or TF Serving would not load the version
EXIT_BUSY = 75  # another run holds the lock (EX_TEMPFAIL from sysexits.h: try again later)


class TrainerError(Exception):
    """An error a user can act on: printed as one sentence, no traceback."""

    exit_code = EXIT_FAILED
    label = "error"


class BadInput(TrainerError, ValueError):
    """The data, folders or config given cannot be used."""

    exit_code = EXIT_BAD_INPUT


class Refused(TrainerError):
    """A check refused to go on (nothing was changed)."""

    exit_code = EXIT_REFUSED
    label = "refused"


class Busy(TrainerError):
    """Another process is doing the same work; try again later."""

    exit_code = EXIT_BUSY
    label = "busy"
