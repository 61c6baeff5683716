"""`python -m trainer evaluate`: score a model and write report.json.

Three ways to call it:
  --run RUN [--records DIR] [--strangers DIR]   a training run on its test split; calibrates
                                                the unknown threshold (RUN/report.json)
  --model PATH --data DIR --out DIR              a published SavedModel on a photo folder
  --kfold K --records DIR --out DIR              K-fold cross-validation over train+validation
"""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config
from trainer.errors import BadInput
from trainer.jsonfiles import write_json


def add_arguments(parser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", type=Path, help="a `train` run folder")
    what.add_argument("--model", type=Path, help="a SavedModel version folder, or a model folder "
                      "holding versions (the newest is scored)")
    what.add_argument("--kfold", type=int, metavar="K", help="cross-validate with K folds")
    parser.add_argument("--records", type=Path, help="prepared records (default: the run's own)")
    parser.add_argument("--strangers", type=Path,
                        help="photos (or records) of people the model must reject, for calibration")
    parser.add_argument("--data", type=Path, help="with --model: folder with one sub-folder per person")
    parser.add_argument("--out", type=Path, help="with --model or --kfold: folder for the report")
    add_config_arguments(parser)


def main(args) -> int:
    _check(args)
    if args.run:
        return _evaluate_run(args)
    if args.model:
        return _evaluate_model(args)
    return _kfold(args)


def _check(args) -> None:
    if args.model and not (args.data and args.out):
        raise BadInput("--model needs --data (photos, one folder per person) and --out")
    if args.kfold is not None and not (args.records and args.out):
        raise BadInput("--kfold needs --records (from `prepare`) and --out")


def _evaluate_run(args) -> int:
    from trainer.evaluation.scoring import describe, evaluate_run, records_of
    from trainer.publishing.rundir import RunDir

    strangers = None
    if args.strangers:
        info = RunDir(args.run).model_info()
        strangers = records_of(args.strangers, Path(args.run) / "strangers-records", info.detector, info.preprocess)
    from trainer.evaluation.run_report import write_run_report

    report = evaluate_run(args.run, args.records, strangers)
    print(describe(report))
    print(f"\nreport: {Path(args.run) / 'report.json'}, {write_run_report(args.run, args.records)}")
    return 0


def _evaluate_model(args) -> int:
    from facecore.versions import saved_model_folder
    from trainer.evaluation.scoring import describe, evaluate_photos

    from trainer.evaluation.run_report import write_model_report

    folder = saved_model_folder(args.model)
    report = evaluate_photos(folder, args.data, args.out)
    print(describe(report))
    print(f"\nreport: {Path(args.out) / 'report.json'}, {write_model_report(folder, args.out)}")
    return 0


def _kfold(args) -> int:
    from trainer.evaluation.kfold import cross_validate

    config = load_config(args.config, args.overrides)
    summary = cross_validate(config, args.records, args.kfold, args.out)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / "kfold.json", summary)
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        print(f"{key:<12} {summary[key]['mean']:.4f} ± {summary[key]['std']:.4f}")
    print(f"\nreport: {Path(args.out) / 'kfold.json'}")
    return 0
