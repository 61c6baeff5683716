"""`python -m trainer run`: prepare, train, evaluate and publish in one go (the scheduled job).

Work files go to --work, else $TRAINER_WORK_DIR, else <models>/.trainer-work:
WORK/records (face crops; its cache makes later runs detect only new photos),
WORK/strangers-records, and WORK/runs/<UTC time>/ per run. One run at a time per models
folder: the lock <models>/.trainer-run.lock is held throughout.

Exit status: 0 published, 3 refused by the quality gate, 2 bad input, 1 other failure,
75 another run holds the lock. Nothing is published unless every step succeeds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from trainer.config import TrainerConfig, add_config_arguments, load_config
from trainer.runlock import RunInProgress, run_lock

EXIT_PUBLISHED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 1, 2, 3
LOCK_FILE = ".trainer-run.lock"


class BadInput(ValueError):
    """The data cannot make a model (no classes, no records)."""


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with one sub-folder per person")
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--work", type=Path, help="folder for records and runs "
                        "(default: $TRAINER_WORK_DIR, else MODELS/.trainer-work)")
    parser.add_argument("--strangers", type=Path, help="photos of people to reject, to calibrate the unknown threshold")
    parser.add_argument("--force", action="store_true", help="publish even if the quality gate refuses")
    add_config_arguments(parser)


def work_dir(args) -> Path:
    return Path(args.work or os.environ.get("TRAINER_WORK_DIR") or Path(args.models) / ".trainer-work")


def main(args) -> int:
    try:
        config = load_config(args.config, args.overrides)
        with run_lock(Path(args.models) / LOCK_FILE):
            return run_all(args, config)
    except RunInProgress as exc:
        print(f"busy: {exc}", file=sys.stderr)
        return exc.exit_code
    except (BadInput, FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def run_all(args, config: TrainerConfig) -> int:
    """The four steps; the gate's refusal is an exit status, not an error."""
    from trainer.evaluation import describe, evaluate_run, records_of
    from trainer.prepare import prepare
    from trainer.publish import publish_run
    from trainer.registry import GateRefused
    from trainer.training import train

    work = work_dir(args)
    records = work / "records"
    manifest = prepare(args.data, records, config, force=True)
    if len(manifest["class_names"]) < 2:
        raise BadInput(f"{args.data} gave {len(manifest['class_names'])} usable classes; at least 2 are needed")
    run_dir = work / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    train(config, records, run_dir)
    strangers = records_of(args.strangers, work / "strangers-records", config.detector, config.preprocess) \
        if args.strangers else None
    print(describe(evaluate_run(run_dir, records, strangers)))
    try:
        version = publish_run(run_dir, args.models, config.publish, force=args.force)
    except GateRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"published {Path(args.models) / config.publish.model_name / str(version)}")
    return EXIT_PUBLISHED
