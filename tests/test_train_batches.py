"""With several replicas, training and validation use whole batches only."""

from __future__ import annotations

import numpy as np
import pytest


class Replicas:
    def __init__(self, count: int) -> None:
        self.num_replicas_in_sync = count


def batched(total: int, batch: int):
    import tensorflow as tf

    images = np.zeros((total, 4, 4, 1), np.float32)
    return tf.data.Dataset.from_tensor_slices((images, np.arange(total) % 3)).batch(batch)


def test_whole_batches_leave_out_the_short_last_batch():
    from trainer.training import _for_training

    sizes = [int(x.shape[0]) for x, _ in _for_training(batched(37, 16), 3, whole_batch=16)]
    assert sizes == [16, 16]
    labels = [y.numpy() for _, y in _for_training(batched(37, 16), 3)]
    assert [len(y) for y in labels] == [16, 16, 5] and labels[0].shape == (16, 3)  # one-hot


def test_a_split_smaller_than_a_batch_is_refused_with_several_replicas():
    from trainer.training import _require_whole_batches

    manifest = {"counts": {"train": {"total": 40}, "validation": {"total": 9}}}
    _require_whole_batches(Replicas(1), manifest, 16)  # one replica: short batches are fine
    with pytest.raises(ValueError, match="validation split has 9 faces"):
        _require_whole_batches(Replicas(2), manifest, 16)
