"""Optimisers and learning-rate schedules named in TrainConfig."""

from __future__ import annotations

import keras

from trainer.config import TrainConfig


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """The learning rate: a float (constant) or a schedule over optimizer steps."""
    rate, period = config.learning_rate, max(1, round(config.decay_epochs * steps_per_epoch))
    schedules = keras.optimizers.schedules
    if config.schedule == "step":
        return schedules.ExponentialDecay(rate, period, config.decay_rate, staircase=True)
    if config.schedule == "exponential":
        return schedules.ExponentialDecay(rate, period, config.decay_rate)
    if config.schedule == "inverse_time":
        return schedules.InverseTimeDecay(rate, period, config.decay_rate)
    if config.schedule == "cosine":
        return _cosine(config, steps_per_epoch)
    return rate


def _cosine(config: TrainConfig, steps_per_epoch: int):
    """Linear warm-up to the learning rate, then cosine decay to zero at the last epoch."""
    warmup = min(config.warmup_epochs, config.epochs - 1) * steps_per_epoch
    total = config.epochs * steps_per_epoch
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10, total - warmup, warmup_target=config.learning_rate, warmup_steps=warmup,
    )


def build_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD with momentum, Adam or AdamW, with decoupled weight decay for all three."""
    rate = learning_rate(config, steps_per_epoch)
    decay = config.weight_decay or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum, nesterov=True, weight_decay=decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate, weight_decay=decay)
    return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
