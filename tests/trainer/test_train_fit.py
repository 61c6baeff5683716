"""Training itself: resume after an interruption, reproducibility, K-fold, tuning and a
two-worker MultiWorkerMirroredStrategy run, all on five-celebrities with the tiny config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from processes import free_ports
from trainer.config import from_dict
from trainer.configs import TINY_CONFIG

pytestmark = [pytest.mark.slow, pytest.mark.data]

ROOT = Path(__file__).resolve().parents[2]


def with_values(config, **sections):
    """`config` with some keys of some sections replaced, e.g. train={"epochs": 3}."""
    values = config.to_dict()
    for section, changes in sections.items():
        values[section].update(changes)
    return from_dict(values)


class Interrupted(Exception):
    pass


def interrupt_after(epochs: int):
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                raise Interrupted()

    return Interrupt()


def epochs_seen():
    import keras

    class Seen(keras.callbacks.Callback):
        epochs: list[int] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    return Seen()


def test_resume_continues_from_the_last_checkpoint(tiny_config, five_records, tmp_path):
    from trainer.evaluation.plots import read_history
    from trainer.model.training import train

    config = with_values(tiny_config, train={"epochs": 3})
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config, five_records, run, callbacks=[interrupt_after(2)])
    assert not (run / "model.keras").exists()
    seen = epochs_seen()
    train(config, five_records, run, callbacks=[seen])
    assert seen.epochs == [2]  # epochs 0 and 1 were restored, not redone
    assert read_history(run / "history.csv")["epoch"] == [0, 1, 2]
    assert (run / "model.keras").exists()


def test_same_seed_same_weights(tiny_config, five_records, tmp_path):
    from trainer.model.training import train

    config = with_values(tiny_config, train={"epochs": 1})
    first = train(config, five_records, tmp_path / "a").get_weights()
    second = train(config, five_records, tmp_path / "b").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    other = train(with_values(config, train={"seed": 99}), five_records, tmp_path / "c").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_kfold_reports_mean_and_spread(tiny_config, five_records, tmp_path):
    from trainer.evaluation.kfold import assign_folds, cross_validate

    assert assign_folds([0, 0, 0, 1, 1, 0], 3) == [0, 1, 2, 0, 1, 0]
    summary = cross_validate(with_values(tiny_config, train={"epochs": 1}), five_records, 3, tmp_path)
    assert len(summary["folds"]) == 3
    # each fold's figure is its own run's evaluation, and the summary their mean and spread
    reported = [json.loads((tmp_path / f"fold-{i}" / "run" / "report.json").read_text())["macro_f1"] for i in range(3)]
    assert [fold["macro_f1"] for fold in summary["folds"]] == reported
    assert summary["macro_f1"]["mean"] == pytest.approx(sum(reported) / 3)
    assert summary["macro_f1"]["std"] == pytest.approx(float(np.std(reported)))
    tested = [json.loads((tmp_path / f"fold-{i}" / "records" / "manifest.json").read_text())["counts"]["test"]["total"]
              for i in range(3)]
    pooled = json.loads((five_records / "manifest.json").read_text())["counts"]
    assert sum(tested) == pooled["train"]["total"] + pooled["validation"]["total"]


def test_tune_samples_log_space_and_ranks_trials(tiny_config, five_records, tmp_path):
    from trainer.evaluation.tune import sample_trials, search

    config = with_values(tiny_config, tune={"trials": 2, "epochs": 1})
    trials = sample_trials(with_values(config, tune={"trials": 200}))
    rates = np.log10([t["learning_rate"] for t in trials])
    low, high = np.log10(config.tune.learning_rate)
    assert low <= rates.min() and rates.max() <= high
    assert np.mean(rates < (low + high) / 2) == pytest.approx(0.5, abs=0.15)  # uniform in the log
    results = search(config, five_records, tmp_path)
    assert len(results) == 2 and results[0]["val_macro_f1"] >= results[1]["val_macro_f1"]
    assert json.loads((tmp_path / "tune.json").read_text()) == results


def test_two_worker_multi_worker_mirrored_training(five_records, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}}),
               "CUDA_VISIBLE_DEVICES": ""}
        command = [sys.executable, "-m", "trainer", "train", "--records", str(five_records),
                   "--run", str(tmp_path / f"worker-{index}"), "--config", str(TINY_CONFIG),
                   "--set", "train.strategy=multi_worker", "--set", "train.histogram_freq=0"]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    import keras

    model = keras.models.load_model(tmp_path / "worker-0" / "model.keras")
    assert model.output["probabilities"].shape[-1] == 5
