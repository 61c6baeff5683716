"""With several replicas, training and validation use whole batches only; labels are one-hot."""

from __future__ import annotations

import numpy as np
import pytest


class Replicas:
    def __init__(self, count: int) -> None:
        self.num_replicas_in_sync = count


def faces(total: int):
    import tensorflow as tf

    images = np.zeros((total, 4, 4, 1), np.float32)
    return tf.data.Dataset.from_tensor_slices((images, np.arange(total) % 3))


def test_whole_batches_leave_out_the_short_last_batch():
    from trainer.data.pipeline import batches

    sizes = [int(x.shape[0]) for x, _ in batches(faces(37), 16, False, 0, None, None, drop_remainder=True)]
    assert sizes == [16, 16]
    sizes = [int(x.shape[0]) for x, _ in batches(faces(37), 16, False, 0, None, None)]
    assert sizes == [16, 16, 5]


def test_training_labels_are_one_hot():
    from trainer.model.training import _for_training

    labels = [y.numpy() for _, y in _for_training(faces(37).batch(16), 3)]
    assert [len(y) for y in labels] == [16, 16, 5] and labels[0].shape == (16, 3)


def test_a_split_smaller_than_a_batch_is_refused_with_several_replicas():
    from trainer.model.training import _needs_whole_batches

    manifest = {"counts": {"train": {"total": 40}, "validation": {"total": 9}}}
    assert not _needs_whole_batches(Replicas(1), manifest, 16)  # one replica: short batches are fine
    assert _needs_whole_batches(Replicas(2), {"counts": {"train": {"total": 40}, "validation": {"total": 16}}}, 16)
    with pytest.raises(ValueError, match="validation split has 9 faces"):
        _needs_whole_batches(Replicas(2), manifest, 16)
