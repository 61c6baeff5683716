"""Two fixes that let Keras 3's `fit()` run under MultiWorkerMirroredStrategy.

Keras 3.15 (keras-team/keras#20585, tensorflow/tensorflow#72388) fails there twice:
- before the first step it averages a whole (x, y) batch of PerReplica values across workers,
  which TensorFlow cannot convert ("Attempt to convert a value (PerReplica...)");
- after each step it averages scalar logs along axis 0 ("Invalid reduction dimension 0").
The fixes build the model from this worker's own batch and average scalars with axis=None.
They patch private Keras functions, so they are applied only for the multi-worker strategy.
"""

from __future__ import annotations

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

_PATCHED = "_faceid_multiworker_patched"


def _local_batch(iterator):
    """The first batch of an epoch iterator, each PerReplica replaced by this worker's value."""
    for _, _, data in iterator:
        batch = next(data)
        break

    def local(value):
        return value.values[0] if isinstance(value, tf.distribute.DistributedValues) else value

    return tree.map_structure(local, batch)


def _make_symbolic_build(original):
    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None:
            return original(self, iterator, data_batch)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=_local_batch(iterator))

    return maybe_symbolic_build


def _make_reduce(original):
    def reduce_per_replica(values, strategy, reduction="auto"):
        if not (tf_trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean")):
            return original(values, strategy, reduction)

        def mean(value):
            local = value.values[0] if tf_trainer._is_per_replica_instance(value) else value
            return strategy.reduce("MEAN", value, axis=0 if local.shape.rank else None)

        return tree.map_structure(mean, values)

    return reduce_per_replica


def patch_keras_for_multi_worker() -> None:
    """Install both fixes (once per process)."""
    if getattr(tf_trainer, _PATCHED, False):
        return
    trainer = tf_trainer.TensorFlowTrainer
    trainer._maybe_symbolic_build = _make_symbolic_build(trainer._maybe_symbolic_build)
    tf_trainer.reduce_per_replica = _make_reduce(tf_trainer.reduce_per_replica)
    setattr(tf_trainer, _PATCHED, True)
