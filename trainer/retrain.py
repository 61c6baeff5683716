"""The retraining job behind `python -m trainer run`: prepare, train, evaluate, publish.

Work files go to WORK/records (face crops; its cache makes later runs detect only new photos),
WORK/strangers-records, and WORK/runs/<UTC time>/ per run. Nothing is published unless every
step succeeds; the quality gate's refusal is raised as GateRefused (exit status EXIT_REFUSED).
"""

from __future__ import annotations

import time
from pathlib import Path

from trainer.config import TrainerConfig
from trainer.data.preparation import prepare
from trainer.errors import BadInput
from trainer.evaluation.scoring import describe, evaluate_run, records_of
from trainer.model.training import train
from trainer.publishing.release import publish_run


def retrain(data_dir: Path, models_dir: Path, work: Path, config: TrainerConfig,
            strangers: Path | None = None, force: bool = False) -> int:
    """The four steps; return the published version's number."""
    records = work / "records"
    manifest = prepare(data_dir, records, config, force=True)
    if len(manifest["class_names"]) < 2:
        raise BadInput(f"{data_dir} gave {len(manifest['class_names'])} usable classes; at least 2 are needed")
    run_dir = work / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    train(config, records, run_dir)
    stranger_records = records_of(strangers, work / "strangers-records", config.detector, config.preprocess) \
        if strangers else None
    print(describe(evaluate_run(run_dir, records, stranger_records)))
    return publish_run(run_dir, models_dir, config.publish, force=force)
