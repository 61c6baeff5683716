"""The retraining job behind `python -m trainer run`: prepare, train, evaluate, publish.

Work files go to WORK/records (face crops; its cache makes later runs detect only new photos),
WORK/strangers-records, and WORK/runs/<UTC time>/ per run. People enrolled with `trainer enrol`
are trained on from WORK/enrolled/ beside DATA (trainer/data/enrolled.py). Nothing is published unless every
step succeeds; the quality gate's refusal is raised as GateRefused (exit status EXIT_REFUSED).

The calibration strangers are `strangers`, else DATA/.strangers when it holds photos. After
calibration every threshold is lifted above the faces of DATA/.strangers nearest that person,
as `trainer update` lifts them (trainer/publishing/gallery.py); RUN/people.json records that and
what the run was made from (docs/people.md), and the version carries it in its ModelInfo.

In a multi-worker cluster (TF_CONFIG) only the chief runs `retrain`; every other worker runs
`train_as_worker`: it prepares the same photos into a work folder of its own and trains with the
chief (the workers' records are compared before the first step, trainer/model/training.py), then
stops: it neither evaluates nor publishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import keras

from facecore.datafolder import stranger_photos, strangers_dir
from trainer.config import TrainerConfig
from trainer.data import manifest as manifest_io
from trainer.data.enrolled import training_folder
from trainer.data.preparation import prepare
from trainer.errors import BadInput
from trainer.evaluation.run_report import write_run_report
from trainer.evaluation.scoring import describe, evaluate_run, records_of
from trainer.model.training import train
from trainer.publishing.enrolment import EnrolmentRefused, centres_of, embeddings, photo_inputs
from trainer.publishing.export import report_model_info
from trainer.publishing.gallery import BASE_KEY, SOURCES_KEY, STRANGERS_KEY, Gallery
from trainer.publishing.release import publish_run
from trainer.publishing.rundir import RunDir

Stage = Callable[[str, int, int], None]  # (stage, done, total), e.g. trainer.status.Job.stage


def retrain(data_dir: Path, models_dir: Path, work: Path, config: TrainerConfig,
            strangers: Path | None = None, force: bool = False, stage: Stage = lambda *_: None) -> int:
    """The four steps; return the published version's number."""
    if strangers is None and stranger_photos(data_dir):
        strangers = strangers_dir(data_dir)
    records, run_dir = prepare_and_train(data_dir, work, config, stage)
    stage("evaluating", 0, 0)
    print(describe(evaluate_run(run_dir, records, stranger_records(strangers, work, config))))
    lifted = record_people(run_dir, records, data_dir, config.prepare.min_face_size)
    for person, (base, raised) in lifted.items():
        print(f"{person}: threshold lifted from {base:.4f} to {raised:.4f} above a stranger's face")
    write_run_report(run_dir, records)
    stage("publishing", 0, 0)
    return publish_run(run_dir, models_dir, config.publish, force=force)


def prepare_and_train(data_dir: Path, work: Path, config: TrainerConfig,
                      stage: Stage = lambda *_: None) -> tuple[Path, Path]:
    """Prepare WORK/records and train a new WORK/runs/<UTC time>/; return both folders."""
    records = work / "records"
    stage("detecting faces", 0, 0)
    manifest = prepare(training_folder(data_dir, work), records, config, force=True,
                       progress=lambda done, total: stage("detecting faces", done, total))
    if len(manifest["class_names"]) < 2:
        raise BadInput(f"{data_dir} gave {len(manifest['class_names'])} usable classes; at least 2 are needed")
    run_dir = work / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    stage("training", 0, 0)
    train(config, records, run_dir)
    return records, run_dir


def stranger_records(strangers: Path | None, work: Path, config: TrainerConfig) -> Path | None:
    """Records of the calibration strangers' faces (WORK/strangers-records), or None without any face."""
    if strangers is None:
        return None
    records = records_of(strangers, work / "strangers-records", config.detector, config.preprocess)
    if not manifest_io.read(records)["class_names"]:
        print(f"no face found in the stranger photos of {strangers}: calibrated without strangers")
        return None
    return records


def record_people(run_dir: Path, records: Path, data_dir: Path, min_face_size: int) -> dict:
    """Write RUN/people.json: the photos the run was made from, the stranger photos of DATA and the
    thresholds lifted above their faces; return {person: (base, lifted)} of those lifted."""
    run = RunDir(run_dir)
    info, model = report_model_info(run), keras.models.load_model(run.model)
    strangers = stranger_photos(data_dir)
    people = {"class_thresholds": list(info.class_thresholds),
              "extra": {SOURCES_KEY: manifest_io.sources(manifest_io.read(records)), STRANGERS_KEY: list(strangers)}}
    try:
        gallery = Gallery.of(info, centres_of(model))
    except EnrolmentRefused:  # a softmax head has no centres: its calibration alone took the strangers in
        run.write_json(run.people, people)
        return {}
    inputs, _, _ = photo_inputs(list(strangers.values()), info, min_face_size)
    lifted = gallery.lift(embeddings(model, inputs))
    made = gallery.model_info(info)
    people["class_thresholds"] = list(made.class_thresholds)
    if BASE_KEY in made.extra:
        people["extra"][BASE_KEY] = made.extra[BASE_KEY]
    run.write_json(run.people, people)
    return lifted


def train_as_worker(data_dir: Path, work: Path, config: TrainerConfig) -> Path:
    """A non-chief worker's share of the job; return its run folder."""
    return prepare_and_train(data_dir, work, config)[1]
