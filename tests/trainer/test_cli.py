"""`python -m trainer`: every command listed, errors printed as one line with their exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trainer.commands import COMMANDS, main as trainer_main
from trainer.errors import EXIT_BAD_INPUT, EXIT_BUSY, EXIT_REFUSED, Busy, Refused
from trainer.scheduler import OUTCOMES

REPO = Path(__file__).resolve().parents[2]


def trainer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_help_lists_every_command():
    done = trainer("--help")
    assert done.returncode == 0
    for name in COMMANDS:
        assert f"    {name} " in done.stdout, name


def test_a_bad_config_value_is_an_error_line_not_a_traceback(tmp_path):
    (tmp_path / "data").mkdir()
    done = trainer("prepare", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                   "--set", "prepare.bogus=1")
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.startswith("error: ") and "bogus" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("error, label, status", [(Refused("worse"), "refused", EXIT_REFUSED),
                                                   (Busy("locked"), "busy", EXIT_BUSY),
                                                   (FileNotFoundError("no such folder"), "error", EXIT_BAD_INPUT)])
def test_errors_are_translated_once(monkeypatch, capsys, error, label, status):
    def fail(args):
        raise error

    monkeypatch.setattr("trainer.commands.rollback.main", fail)
    assert trainer_main(["rollback", "--models", "m"]) == status
    assert capsys.readouterr().err == f"{label}: {error}\n"


def test_the_schedule_reads_the_run_command_statuses():
    assert OUTCOMES == {0: "published", EXIT_REFUSED: "refused", EXIT_BUSY: "busy"}
