"""`python -m trainer tune`: random search, in log space, over learning rate, weight decay,
dropout and width, with short trials scored by validation macro-F1 (the test split is not used).

Each trial is a training run in OUT/trial-<n>/; a trial already trained is scored, not retrained.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from trainer.config import TrainerConfig, add_config_arguments, from_dict, load_config

SEARCHED = ("learning_rate", "weight_decay", "dropout", "width")


def sample_trials(config: TrainerConfig) -> list[dict]:
    """`trials` parameter sets drawn log-uniformly from the [tune] ranges (seeded)."""
    tune = config.tune
    rng = np.random.default_rng(tune.seed)
    trials = []
    for _ in range(tune.trials):
        values = {name: math.exp(rng.uniform(*np.log(getattr(tune, name)))) for name in SEARCHED}
        values["width"] = max(4, int(round(values["width"] / 4)) * 4)
        trials.append(values)
    return trials


def trial_config(config: TrainerConfig, params: dict) -> TrainerConfig:
    """The base config with one trial's parameters and the short [tune] epoch count."""
    values = config.to_dict()
    values["train"].update(learning_rate=params["learning_rate"], weight_decay=params["weight_decay"],
                           epochs=config.tune.epochs, histogram_freq=0)
    values["train"]["warmup_epochs"] = min(values["train"]["warmup_epochs"], config.tune.epochs // 4)
    values["model"].update(dropout=params["dropout"], width=params["width"])
    return from_dict(values)


def run_trial(config: TrainerConfig, records_dir: Path, run_dir: Path) -> dict:
    """Train (unless done before) and return the validation metrics."""
    import keras

    from trainer.evaluation import BATCH, classification_report, predict
    from trainer.pipeline import make_dataset
    from trainer.rundir import RunDir
    from trainer.training import train

    run = RunDir(run_dir)
    if not run.model.exists():
        train(config, records_dir, run_dir)
    info = run.model_info()
    dataset = make_dataset(records_dir, "validation", info.preprocess, BATCH)
    probabilities, labels = predict(keras.models.load_model(run.model), dataset)
    report = classification_report(probabilities, labels, list(info.class_names))
    return {"val_macro_f1": report["macro_f1"], "val_accuracy": report["accuracy"]}


def search(config: TrainerConfig, records_dir: Path, out_dir: Path) -> list[dict]:
    """All trials with their parameters and scores, best first; also written to OUT/tune.json."""
    results = []
    for index, params in enumerate(sample_trials(config)):
        print(f"trial {index + 1}/{config.tune.trials}: " + _format(params), flush=True)
        scores = run_trial(trial_config(config, params), records_dir, Path(out_dir) / f"trial-{index:02d}")
        results.append({"trial": index, **params, **scores})
    results.sort(key=lambda r: (-r["val_macro_f1"], -r["val_accuracy"]))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "tune.json").write_text(json.dumps(results, indent=1))
    return results


def overrides(result: dict) -> list[str]:
    """`--set` arguments that reproduce one trial's parameters in a full training run."""
    return [f"train.learning_rate={result['learning_rate']:.3g}", f"train.weight_decay={result['weight_decay']:.3g}",
            f"model.dropout={result['dropout']:.3f}", f"model.width={result['width']}"]


def _format(values: dict) -> str:
    return ", ".join(f"{k} {values[k]:.3g}" if isinstance(values[k], float) else f"{k} {values[k]}" for k in values)


def add_arguments(parser) -> None:
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--out", type=Path, required=True, help="folder for the trials and tune.json")
    parser.add_argument("--top", type=int, default=3, help="best configs to print")
    add_config_arguments(parser)


def main(args) -> int:
    try:
        config = load_config(args.config, args.overrides)
        results = search(config, args.records, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\nbest configs (validation macro-F1):")
    for result in results[: args.top]:
        print(f"  {result['val_macro_f1']:.4f}  " + " ".join(f"--set {o}" for o in overrides(result)))
    print(f"\nall trials: {Path(args.out) / 'tune.json'}")
    return 0
