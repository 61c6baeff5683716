"""`python -m trainer COMMAND ...`: the command layer, one module per command.

Each module has `add_arguments(parser)` and `main(args) -> int`; it parses, calls the library
(trainer.data, .model, .evaluation, .publishing) and prints. Library modules that load
TensorFlow are imported inside `main`, and only the chosen command's module is imported, so
`--help` and the commands that need no TensorFlow start fast.

Errors are translated here, once: a TrainerError prints `<label>: <message>` and exits with its
own status (trainer/errors.py); a file that cannot be read or a value that cannot be used
(OSError, ValueError) prints `error: <message>` and exits with EXIT_BAD_INPUT.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from trainer.errors import EXIT_BAD_INPUT, TrainerError

# command -> (module with `add_arguments(parser)` and `main(args) -> int`, one-line help)
COMMANDS = {
    "prepare": ("trainer.commands.prepare", "detect faces and write face-crop TFRecords"),
    "inspect": ("trainer.commands.inspect_records", "print record counts and write a contact sheet PNG"),
    "schedule": ("trainer.commands.schedule", "run the retraining job on a cron schedule"),
    "train": ("trainer.commands.train", "train the CNN on prepared records"),
    "evaluate": ("trainer.commands.evaluate", "score a run, a published model or K folds; write report.json"),
    "export": ("trainer.commands.export", "export an evaluated run as a SavedModel"),
    "publish": ("trainer.commands.publish", "export a run as the next model version, behind a quality gate"),
    "rollback": ("trainer.commands.rollback", "publish the previous model version again as the newest"),
    "enrol": ("trainer.commands.enrol", "publish a version that also knows a person, from a few photos"),
    "remove": ("trainer.commands.remove", "publish a version that no longer knows a person"),
    "weights": ("trainer.commands.weights", "fetch, check and cache the pretrained face descriptor's weights"),
    "verify": ("trainer.commands.verify", "check that TF Serving would load a version and answer it"),
    "run": ("trainer.commands.run", "prepare, train, evaluate and publish in one go"),
    "update": ("trainer.commands.update", "publish a version in line with the data folder's people and strangers, "
               "or retrain when asked"),
    "tune": ("trainer.commands.tune", "random search over learning rate, weight decay, dropout and width"),
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """Every command with its help; the arguments of `command` only (its module is imported)."""
    parser = argparse.ArgumentParser(prog="python -m trainer")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return args.module.main(args)
    except TrainerError as exc:
        return _fail(exc.label, exc, exc.exit_code)
    except (OSError, ValueError) as exc:
        return _fail("error", exc, EXIT_BAD_INPUT)


def _fail(label: str, exc: Exception, exit_code: int) -> int:
    print(f"{label}: {exc}", file=sys.stderr)
    return exit_code
