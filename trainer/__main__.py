"""`python -m trainer COMMAND ...`: one sub-command per job, each in its own module.

Only the chosen command's module is imported, so `prepare` never pays for TensorFlow's import.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module with `add_arguments(parser)` and `main(args) -> int`, one-line help)
COMMANDS = {
    "prepare": ("trainer.prepare", "detect faces and write face-crop TFRecords"),
    "inspect": ("trainer.inspect", "print record counts and write a contact sheet PNG"),
    "schedule": ("trainer.schedule", "run the retraining job on a cron schedule"),
    "train": ("trainer.train", "train the CNN on prepared records"),
    "evaluate": ("trainer.evaluate", "score a run, a published model or K folds; write report.json"),
    "export": ("trainer.export", "export an evaluated run as a SavedModel"),
    "publish": ("trainer.publish", "export a run as the next model version, behind a quality gate"),
    "rollback": ("trainer.rollback", "publish the previous model version again as the newest"),
    "run": ("trainer.run", "prepare, train, evaluate and publish in one go"),
    "tune": ("trainer.tune", "random search over learning rate, weight decay, dropout and width"),
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
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
    return args.module.main(args)


if __name__ == "__main__":
    sys.exit(main())
