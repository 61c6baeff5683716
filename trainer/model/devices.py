"""Where training runs: seeding, op determinism, float precision and distribution strategy."""

from __future__ import annotations

import keras
import tensorflow as tf

from trainer.config import TrainConfig
from trainer.model.cluster import this_task
from trainer.model.multiworker import patch_keras_for_multi_worker


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow; with `deterministic`, make ops repeatable too."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def gpu_count() -> int:
    return len(tf.config.list_physical_devices("GPU"))


def set_precision(name: str) -> str:
    """Set Keras's global dtype policy; `auto` is mixed_float16 with a GPU, else float32."""
    policy = name if name != "auto" else ("mixed_float16" if gpu_count() else "float32")
    keras.mixed_precision.set_global_policy(policy)
    return policy


def worker_count() -> int:
    """Workers named in TF_CONFIG (1 without it)."""
    return this_task().workers


def strategy_name(name: str) -> str:
    """The strategy `auto` resolves to on this machine."""
    if name != "auto":
        return name
    if worker_count() > 1:
        return "multi_worker"
    return "mirrored" if gpu_count() > 1 else "one_device"


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The distribution strategy `name` (see TrainConfig.strategy); build it before other TF work."""
    resolved = strategy_name(name)
    if resolved == "multi_worker":
        patch_keras_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if resolved == "mirrored":
        return tf.distribute.MirroredStrategy()
    # The default strategy, not OneDeviceStrategy: that one feeds batches through a
    # multi-device iterator which, on CPU, spends as much time in page faults as in training.
    return tf.distribute.get_strategy()


def configure(config: TrainConfig) -> tuple[tf.distribute.Strategy, str]:
    """Seed, fix the precision and build the strategy, in the order TensorFlow needs."""
    seed_everything(config.seed, config.deterministic)
    strategy = make_strategy(config.strategy)
    return strategy, set_precision(config.precision)
