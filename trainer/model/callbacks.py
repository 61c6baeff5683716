"""Keras callbacks of a training run: progress, logs, checkpoints, resume, early stopping."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import keras
import numpy as np
import tensorflow as tf

from trainer.config import TrainConfig
from trainer.evaluation.plots import read_history
from trainer.publishing.rundir import RunDir

BEST_WEIGHTS = "best.weights.h5"
RESUME_DIR = "resume"  # BackupAndRestore state, removed when training ends


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: losses, accuracies, learning rate, time and images per second."""

    def __init__(self, epochs: int, images_per_epoch: int, stream: TextIO = sys.stdout) -> None:
        super().__init__()
        self.epochs, self.images, self.stream = epochs, images_per_epoch, stream
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        seconds = time.perf_counter() - self._start
        shown = " ".join(f"{k} {v:.4g}" for k, v in logs.items() if k.endswith(("loss", "accuracy")))
        print(f"epoch {epoch + 1}/{self.epochs}  {shown}  lr {logs['learning_rate']:.3g}  "
              f"{seconds:.1f} s  {self.images / seconds:.0f} img/s", file=self.stream, flush=True)


class AugmentedSamples(keras.callbacks.Callback):
    """Writes a grid of augmented training inputs to TensorBoard when training starts."""

    def __init__(self, log_dir, images: np.ndarray, value_range: tuple[float, float]) -> None:
        super().__init__()
        self.log_dir, self.images, self.value_range = str(log_dir), images, value_range

    def on_train_begin(self, logs=None):
        low, high = self.value_range
        pixels = np.clip((self.images - low) / (high - low), 0.0, 1.0)  # [N, S, S, 1] in [0, 1]
        with tf.summary.create_file_writer(self.log_dir).as_default():
            tf.summary.image("augmented_inputs", pixels, step=0, max_outputs=len(pixels))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on validation loss that keeps its patience across an interruption.

    Keras resets `best` and `wait` on every `fit`; after BackupAndRestore has set the epoch to
    resume from, both are rebuilt from the run's history so that a resumed run stops at the
    same epoch as an uninterrupted one.
    """

    def __init__(self, history_path, patience: int) -> None:
        super().__init__(monitor="val_loss", mode="min", patience=patience)
        self.history_path = history_path

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        start = int(getattr(self.model, "_initial_epoch", 0) or 0)
        if start == 0 or not self.history_path.exists():
            return
        history = read_history(self.history_path)
        losses = [loss for epoch, loss in zip(history.get("epoch", []), history.get("val_loss", []))
                  if epoch < start]
        if losses:
            best_epoch = int(np.argmin(losses))
            self.best, self.best_epoch = float(losses[best_epoch]), best_epoch
            self.wait = len(losses) - 1 - best_epoch


def best_val_loss(run: RunDir) -> float | None:
    """The lowest validation loss logged so far (to resume best-checkpoint tracking)."""
    if not run.history.exists():
        return None
    losses = read_history(run.history).get("val_loss", [])
    return min(losses) if losses else None


def build_callbacks(run: RunDir, config: TrainConfig, images_per_epoch: int,
                    samples: np.ndarray | None, value_range) -> list[keras.callbacks.Callback]:
    """Progress first: it adds the learning rate to the logs the others write."""
    callbacks = [
        EpochProgress(config.epochs, images_per_epoch),
        # The log row before the backup: an epoch cut short between the two is redone and
        # logged twice (read_history keeps the later row), never lost.
        keras.callbacks.CSVLogger(str(run.history), append=True),
        keras.callbacks.ModelCheckpoint(
            str(run.checkpoints / BEST_WEIGHTS), monitor="val_loss", save_best_only=True,
            save_weights_only=True, initial_value_threshold=best_val_loss(run),
        ),
        keras.callbacks.BackupAndRestore(str(run.checkpoints / RESUME_DIR)),
        keras.callbacks.TensorBoard(str(run.tensorboard), histogram_freq=config.histogram_freq,
                                    write_graph=False),
    ]
    if config.patience:
        callbacks.append(ResumableEarlyStopping(run.history, config.patience))  # after BackupAndRestore
    if samples is not None:
        callbacks.append(AugmentedSamples(run.tensorboard / "samples", samples, value_range))
    return callbacks
