"""Can the scratch CNN learn at all? Its untrained loss is chance's, and it memorises a tiny subset.

The trainer's own pieces throughout: `build_model`, `training_loss` and `training.fit` for the
network, loss and optimiser, `crops_dataset` -> `model_inputs_dataset` -> `batches` for the
input pipeline (augmentation off), on real face crops of five-celebrities. A broken loss, label
pipeline or optimiser leaves the accuracy near chance (1/3 here) and fails the second test;
a loss that is not cross-entropy on the right scores fails the first.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from facecore.modelinfo import CLASS_SCORES_KEY
from trainer.data import manifest as manifest_io
from trainer.data.pipeline import batches, crops_dataset, model_inputs_dataset, model_spec
from trainer.model.network import build_model, classifier, training_loss
from trainer.model.training import fit
from trainer.publishing.rundir import RunDir

PEOPLE, PHOTOS = 3, 4  # the subset: the first PHOTOS training crops of the first PEOPLE people
EPOCHS = 60  # one batch of 12 per epoch: 60 steps (the inference-mode answers settle after ~40)


@pytest.fixture(scope="module")
def subset(five_records, tiny_config):
    """(config, spec, crops [12, C, C, 3] uint8, labels [12]): the tiny config (the scratch CNN, its
    default cosine head) with every regulariser off, as memorising needs, and no augmentation."""
    config = dataclasses.replace(
        tiny_config, augment=None, model=dataclasses.replace(tiny_config.model, dropout=0.0),
        train=dataclasses.replace(tiny_config.train, epochs=EPOCHS, batch_size=PEOPLE * PHOTOS, patience=0,
                                  learning_rate=5e-3, class_weights=False, label_smoothing=0.0, weight_decay=0.0))
    spec = model_spec(manifest_io.read(five_records), config)
    crops, labels = [], []
    for crop, label in crops_dataset(five_records, "train").as_numpy_iterator():
        if label < PEOPLE and labels.count(label) < PHOTOS:
            crops.append(crop)
            labels.append(label)
    assert sorted(labels) == sorted(list(range(PEOPLE)) * PHOTOS)
    return config, spec, np.stack(crops), np.array(labels, np.int32)


def pipeline(subset, training: bool) -> tf.data.Dataset:
    config, spec, crops, labels = subset
    inputs = model_inputs_dataset(tf.data.Dataset.from_tensor_slices((crops, labels)), spec)
    return batches(inputs, config.train.batch_size, training, config.train.seed, config.augment, spec)


def test_the_untrained_loss_is_chance(subset):
    config, spec, _, labels = subset
    model_config = dataclasses.replace(config.model, head="softmax")  # cross-entropy of uniform guesses: ln C
    keras.utils.set_random_seed(config.train.seed)
    model = classifier(build_model(model_config, spec, PEOPLE))
    inputs = next(iter(pipeline(subset, training=False)))[0]
    loss = training_loss(model_config, label_smoothing=0.0)(tf.one_hot(labels, PEOPLE), model(inputs, training=False))
    assert float(loss) == pytest.approx(math.log(PEOPLE), rel=0.2)


def test_a_tiny_subset_is_learnt_in_a_few_dozen_steps(subset, tmp_path):
    config, spec, crops, labels = subset
    keras.utils.set_random_seed(config.train.seed)
    counts = [PHOTOS] * PEOPLE
    model = fit(config, tf.distribute.get_strategy(), spec, counts, pipeline(subset, training=True),
                pipeline(subset, training=False), [], RunDir(tmp_path))
    scores = model.predict(pipeline(subset, training=False), verbose=0)[CLASS_SCORES_KEY]  # as exported
    assert np.mean(np.argmax(scores, axis=1) == labels) >= 0.95  # 12 of 12: chance is 1/3
