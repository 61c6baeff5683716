"""The retraining job behind `python -m trainer run`: prepare, train, evaluate, publish.

Work files go to WORK/records (face crops; its cache makes later runs detect only new photos),
WORK/strangers-records, and WORK/runs/<UTC time>/ per run. People enrolled with `trainer enrol`
are trained on from WORK/enrolled/ beside DATA (trainer/data/enrolled.py). Nothing is published unless every
step succeeds; the quality gate's refusal is raised as GateRefused (exit status EXIT_REFUSED).

In a multi-worker cluster (TF_CONFIG) only the chief runs `retrain`; every other worker runs
`train_as_worker`: it prepares the same photos into a work folder of its own and trains with the
chief (the workers' records are compared before the first step, trainer/model/training.py), then
stops: it neither evaluates nor publishes.
"""

from __future__ import annotations

import time
from pathlib import Path

from trainer.config import TrainerConfig
from trainer.data.enrolled import training_folder
from trainer.data.preparation import prepare
from trainer.errors import BadInput
from trainer.evaluation.scoring import describe, evaluate_run, records_of
from trainer.model.training import train
from trainer.publishing.release import publish_run


def retrain(data_dir: Path, models_dir: Path, work: Path, config: TrainerConfig,
            strangers: Path | None = None, force: bool = False) -> int:
    """The four steps; return the published version's number."""
    records, run_dir = prepare_and_train(data_dir, work, config)
    stranger_records = records_of(strangers, work / "strangers-records", config.detector, config.preprocess) \
        if strangers else None
    print(describe(evaluate_run(run_dir, records, stranger_records)))
    return publish_run(run_dir, models_dir, config.publish, force=force)


def prepare_and_train(data_dir: Path, work: Path, config: TrainerConfig) -> tuple[Path, Path]:
    """Prepare WORK/records and train a new WORK/runs/<UTC time>/; return both folders."""
    records = work / "records"
    manifest = prepare(training_folder(data_dir, work), records, config, force=True)
    if len(manifest["class_names"]) < 2:
        raise BadInput(f"{data_dir} gave {len(manifest['class_names'])} usable classes; at least 2 are needed")
    run_dir = work / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    train(config, records, run_dir)
    return records, run_dir


def train_as_worker(data_dir: Path, work: Path, config: TrainerConfig) -> Path:
    """A non-chief worker's share of the job; return its run folder."""
    return prepare_and_train(data_dir, work, config)[1]
