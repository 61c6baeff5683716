"""`python -m trainer evaluate`: score a model and write report.json.

Three ways to call it:
  --run RUN [--records DIR] [--strangers DIR]   a training run on its test split; calibrates
                                                the unknown threshold (RUN/report.json)
  --model PATH --data DIR --out DIR              a published SavedModel on a photo folder
  --kfold K --records DIR --out DIR              K-fold cross-validation over train+validation
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainer.config import add_config_arguments, load_config


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
    try:
        _check(args)
        if args.run:
            return _evaluate_run(args)
        if args.model:
            return _evaluate_model(args)
        return _kfold(args)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _check(args) -> None:
    if args.model and not (args.data and args.out):
        raise ValueError("--model needs --data (photos, one folder per person) and --out")
    if args.kfold is not None and not (args.records and args.out):
        raise ValueError("--kfold needs --records (from `prepare`) and --out")


def _evaluate_run(args) -> int:
    from trainer.evaluation import describe, evaluate_run, records_of
    from trainer.rundir import RunDir

    strangers = None
    if args.strangers:
        info = RunDir(args.run).model_info()
        strangers = records_of(args.strangers, Path(args.run) / "strangers-records", info.detector, info.preprocess)
    report = evaluate_run(args.run, args.records, strangers)
    print(describe(report))
    print(f"\nreport: {Path(args.run) / 'report.json'}")
    return 0


def _evaluate_model(args) -> int:
    from trainer.evaluation import describe, evaluate_photos

    report = evaluate_photos(saved_model_path(args.model), args.data, args.out)
    print(describe(report))
    print(f"\nreport: {Path(args.out) / 'report.json'}")
    return 0


def saved_model_path(path: Path) -> Path:
    """`path` if it is a SavedModel, else its newest integer-named version."""
    from trainer.registry import versions

    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    published = versions(path)
    if not published:
        raise FileNotFoundError(f"no SavedModel at {path} (and no numbered versions inside it)")
    return path / str(published[-1])


def _kfold(args) -> int:
    from trainer.kfold import cross_validate

    config = load_config(args.config, args.overrides)
    summary = cross_validate(config, args.records, args.kfold, args.out)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "kfold.json").write_text(json.dumps(summary, indent=1))
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        print(f"{key:<12} {summary[key]['mean']:.4f} ± {summary[key]['std']:.4f}")
    print(f"\nreport: {Path(args.out) / 'kfold.json'}")
    return 0
