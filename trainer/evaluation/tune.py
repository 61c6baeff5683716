"""Random search, in log space, over learning rate, weight decay, dropout and width, with short
trials scored by validation macro-F1 (the test split is not used).

Each trial is a training run in OUT/trial-<n>/; a trial already trained is scored, not retrained.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from facecore.modelinfo import PROBABILITIES_KEY
from trainer.config import TrainerConfig, from_dict
from trainer.data.pipeline import make_dataset
from trainer.evaluation.scoring import BATCH, classification_report, predict
from trainer.jsonfiles import write_json
from trainer.model.training import train
from trainer.publishing.rundir import RunDir

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
    run = RunDir(run_dir)
    if not run.model.exists():
        train(config, records_dir, run_dir)
    info = run.model_info()
    dataset = make_dataset(records_dir, "validation", info.preprocess, BATCH)
    outputs, labels = predict(keras.models.load_model(run.model), dataset, (PROBABILITIES_KEY,))
    report = classification_report(outputs[PROBABILITIES_KEY], labels, list(info.class_names))
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
    write_json(Path(out_dir) / "tune.json", results)
    return results


def overrides(result: dict) -> list[str]:
    """`--set` arguments that reproduce one trial's parameters in a full training run."""
    return [f"train.learning_rate={result['learning_rate']:.3g}", f"train.weight_decay={result['weight_decay']:.3g}",
            f"model.dropout={result['dropout']:.3f}", f"model.width={result['width']}"]


def _format(values: dict) -> str:
    return ", ".join(f"{k} {values[k]:.3g}" if isinstance(values[k], float) else f"{k} {values[k]}" for k in values)

