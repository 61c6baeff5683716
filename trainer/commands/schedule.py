"""`python -m trainer schedule`: run the retraining job at each time a cron expression names.

Every event is one JSON line on stdout (trainer/scheduler.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from trainer.scheduler import Scheduler, cron_schedule, default_job, json_lines, never


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
        "job", nargs="*",
        help="job command after `--` (default: python -m trainer run --data $DATA_DIR "
        "--models $MODELS_DIR)",
    )


def main(args: argparse.Namespace) -> int:
    command = args.job or default_job(os.environ)
    next_due = never if args.once else cron_schedule(args.cron)
    scheduler = Scheduler(next_due, command, log=json_lines(sys.stdout), grace_s=args.grace,
                          max_runs=args.max_runs)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop())
    return scheduler.run_once() if args.once else scheduler.run()
