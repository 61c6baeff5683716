"""`python -m trainer schedule`: run the retraining job at each time a cron expression names, and
`trainer update` whenever the data folder has changes pending (checked every --watch-s seconds).

Every event is one JSON line on stdout (trainer/scheduler.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from trainer.config import load_config
from trainer.data.enrolled import work_folder
from trainer.publishing.changes import watcher
from trainer.scheduler import Scheduler, Watch, cron_schedule, default_job, json_lines, never


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cron",
        default=os.environ.get("RETRAIN_CRON"),
        help="cron expression, 5 fields or 6 with seconds last, in the local time zone "
        "(default: $RETRAIN_CRON)",
    )
    parser.add_argument(
        "--once", action="store_true", help="run the job once now, then exit with its status"
    )
    parser.add_argument(
        "--max-runs", type=int, default=None, help="exit after this many runs have finished"
    )
    parser.add_argument(
        "--grace", type=float, default=30.0,
        help="seconds a running job gets to stop after SIGTERM before it is killed",
    )
    parser.add_argument(
        "--watch-s", type=float, default=5.0,
        help="seconds between checks of $DATA_DIR for changes that `trainer update` publishes "
        "(default 5; 0: no checks)",
    )
    parser.add_argument(
        "job", nargs="*",
        help="job command after `--` (default: python -m trainer run --data $DATA_DIR "
        "--models $MODELS_DIR)",
    )


def main(args: argparse.Namespace) -> int:
    command = args.job or default_job(os.environ)
    next_due = never if args.once else cron_schedule(args.cron, os.environ.get("TZ"))
    watch = pending_check(os.environ) if args.watch_s > 0 and not args.once else None
    scheduler = Scheduler(next_due, command, log=json_lines(sys.stdout), grace_s=args.grace,
                          max_runs=args.max_runs, watch=watch, watch_command=default_job(os.environ, "update"),
                          watch_s=args.watch_s)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop())
    return scheduler.run_once() if args.once else scheduler.run()


def pending_check(env: Mapping[str, str]) -> Watch:
    """The watch on the data and models folders the jobs get (DATA_DIR, MODELS_DIR, MODEL_NAME)."""
    models = Path(env.get("MODELS_DIR", "/models"))
    model_name = load_config(environ=env).publish.model_name
    return watcher(Path(env.get("DATA_DIR", "/data")), models, work_folder(models, environ=env), model_name)
