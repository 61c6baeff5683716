"""`python -m trainer run`: prepare, train, evaluate and publish in one go (the scheduled job).

Work files go to --work, else $TRAINER_WORK_DIR, else <models>/.trainer-work (see
trainer/retrain.py). One run at a time per models folder: the lock <models>/.trainer-run.lock
is held throughout (`trainer update` takes it too), and the status file
<models>/.trainer-status.json says what the run is doing and how it ended (trainer/status.py).

With TF_CONFIG naming several workers (k8s/overlays/multiworker), every worker runs this
command; only the chief takes the lock, evaluates and publishes. The others prepare into
WORK/<type>-<index>/ (never the chief's folder, should WORK be shared), train with the chief
and exit 0.

Exit status (trainer/errors.py): 0 published (or, on a worker other than the chief, trained),
3 refused by the quality gate or the load check, 2 bad input, 1 other failure, 75 another run
holds the lock. Nothing is published unless every step succeeds.
"""

from __future__ import annotations

from pathlib import Path

from trainer.config import TrainerConfig, add_config_arguments, load_config
from trainer.data.enrolled import work_folder
from trainer.errors import EXIT_OK
from trainer.model.cluster import Task, this_task
from trainer.publishing.runlock import run_lock
from trainer.status import PUBLISHED, job_status

LOCK_FILE = ".trainer-run.lock"


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with one sub-folder per person")
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--work", type=Path, help="folder for records and runs "
                        "(default: $TRAINER_WORK_DIR, else MODELS/.trainer-work)")
    parser.add_argument("--strangers", type=Path, help="photos of people to reject, to calibrate the unknown "
                        "threshold (default: DATA/.strangers when it holds photos)")
    parser.add_argument("--force", action="store_true", help="publish even if the quality gate refuses")
    add_config_arguments(parser)


def work_dir(args, task: Task | None = None) -> Path:
    """The chief's work folder, or WORK/<type>-<index> for another worker."""
    base = work_folder(args.models, args.work)
    return base if task is None or task.chief else base / f"{task.type}-{task.index}"


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    task = this_task()
    if not task.chief:
        from trainer.retrain import train_as_worker  # TensorFlow from here

        run_dir = train_as_worker(args.data, work_dir(args, task), config)
        print(f"{task.name} of {task.workers}: trained ({run_dir}); the chief evaluates and publishes")
        return EXIT_OK
    with run_lock(Path(args.models) / LOCK_FILE):
        version = retrain_locked(args.data, args.models, work_dir(args, task), config, args.strangers, args.force)
    print(f"published {Path(args.models) / config.publish.model_name / str(version)}")
    return EXIT_OK


def retrain_locked(data: Path, models: Path, work: Path, config: TrainerConfig, strangers: Path | None = None,
                   force: bool = False) -> int:
    """The retraining job, its progress and outcome in the status file; call it holding the run lock."""
    from trainer.retrain import retrain  # TensorFlow from here

    with job_status(models, "run") as job:
        version = retrain(data, models, work, config, strangers, force, job.stage)
        job.result = (PUBLISHED, version)
    return version
