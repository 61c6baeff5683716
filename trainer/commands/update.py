"""`python -m trainer update`: bring the served model in line with the data folder (docs/people.md).

A retrain requested since the last run (DATA/.retrain-requested), or no version yet: the same job
as `trainer run`. Else people or strangers changed: one new version without training
(trainer/publishing/update.py). Else nothing to do: exit 0 at once, TensorFlow never imported
(trainer/publishing/changes.py). While it works it holds the run lock, so it never overlaps a
run, and the status file <models>/.trainer-status.json says what it does.

Exit status as `trainer run` (trainer/errors.py): 0 published or nothing to do, 3 refused, 2 bad
input, 1 other failure, 75 a run or update holds the lock.
"""

from __future__ import annotations

from pathlib import Path

from trainer.commands.run import LOCK_FILE, retrain_locked, work_dir
from trainer.config import TrainerConfig, add_config_arguments, load_config
from trainer.errors import EXIT_OK
from trainer.publishing.changes import MIN_PHOTOS, Changes, pending
from trainer.publishing.runlock import run_lock
from trainer.publishing.update import publish_update
from trainer.status import PUBLISHED, job_status


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with one sub-folder per person")
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--work", type=Path, help="the trainer's work folder (default: $TRAINER_WORK_DIR, "
                        "else MODELS/.trainer-work)")
    parser.add_argument("--min-photos", type=int, default=MIN_PHOTOS, help="fewest photos with a usable face "
                        f"a person needs to be enrolled (default {MIN_PHOTOS}, as `trainer enrol`)")
    add_config_arguments(parser)


def main(args) -> int:
    config, work = load_config(args.config, args.overrides), work_dir(args)
    if not pending(args.data, args.models, work, config.publish.model_name, args.min_photos):
        print(f"nothing to do: {args.models / config.publish.model_name} is in line with {args.data}")
        return EXIT_OK
    with run_lock(Path(args.models) / LOCK_FILE):
        changes = pending(args.data, args.models, work, config.publish.model_name, args.min_photos)  # again, locked
        print(f"to do: {changes.describe()}")
        if changes.retrain:
            version = retrain_locked(args.data, args.models, work, config)
        else:
            version = _update(args, work, config, changes)
    if version is not None:
        print(f"published {args.models / config.publish.model_name / str(version)}")
    return EXIT_OK


def _update(args, work: Path, config: TrainerConfig, changes: Changes) -> int | None:
    """One version without training, its progress and outcome in the status file; None if nothing."""
    with job_status(args.models, "update") as job:
        if not changes:
            return None  # the job's result stays nothing-to-do
        done = publish_update(args.data, args.models, work, config, args.min_photos, job.stage)
        job.result = (PUBLISHED, done.version)
    for what, names in (("enrolled", done.enrolled), ("re-centred", done.recentred), ("removed", done.removed)):
        if names:
            print(f"{what}: {', '.join(names)}")
    for person, reason in done.left_out.items():
        print(f"left out {person}: {reason}")
    for person, (base, lifted) in done.lifted.items():
        print(f"{person}: threshold lifted from {base:.4f} to {lifted:.4f} above a stranger's face")
    print(f"{done.strangers} stranger faces kept below their nearest person's threshold")
    return done.version
