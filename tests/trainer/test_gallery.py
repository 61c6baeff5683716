"""A version's people changed without training: centres replaced or merged, thresholds lifted above
stranger faces from their base, and what the ModelInfo then records (NumPy only, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from facecore.modelinfo import ModelInfo
from trainer.model.centres import concentration, size_factor
from trainer.publishing.gallery import LIFT_MARGIN, Gallery

# Three people on the axes of a 3-d embedding space.
CENTRES = np.eye(3, dtype=np.float32)  # [E, C]


def unit(*rows) -> np.ndarray:
    vectors = np.array(rows, np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def gallery(thresholds=(), extra=None) -> Gallery:
    info = ModelInfo(("ann", "bo", "cy"), unknown_threshold=0.6, class_thresholds=thresholds, extra=extra or {})
    return Gallery.of(info, CENTRES * 3.0)  # any length: the head normalises


def test_a_stranger_accepted_under_the_base_lifts_only_its_nearest_persons_threshold():
    people = gallery()
    strangers = unit([0.9, 0.3, 0.0], [0.7, 0.7, 0.1], [0.1, 0.2, 0.3])  # ann 0.95, ann/bo 0.70, cy 0.80
    lifted = people.lift(strangers)
    ann = float(strangers[0] @ CENTRES[:, 0])
    assert lifted == {"ann": (0.6, pytest.approx(ann + LIFT_MARGIN)), "cy": (0.6, pytest.approx(0.8018 + 0.01, 1e-3))}
    assert people.thresholds[1] == 0.6  # bo was nobody's nearest
    scores = people.scores(strangers)
    assert all(scores[i].max() < people.thresholds[int(scores[i].argmax())] for i in range(len(strangers)))
    info = people.model_info(ModelInfo(("ann", "bo", "cy"), unknown_threshold=0.6))
    assert info.class_thresholds == tuple(people.thresholds) and info.unknown_threshold == 0.6
    assert info.extra["base_thresholds"] == {"ann": 0.6, "bo": 0.6, "cy": 0.6}


def test_the_next_lift_starts_from_the_base_so_an_unmarked_stranger_stops_counting():
    info = ModelInfo(("ann", "bo", "cy"), unknown_threshold=0.6, class_thresholds=(0.97, 0.6, 0.6),
                     extra={"base_thresholds": {"ann": 0.6, "bo": 0.6, "cy": 0.6}})
    people = Gallery.of(info, CENTRES)
    assert people.thresholds == [0.97, 0.6, 0.6] and people.base == [0.6, 0.6, 0.6]
    assert people.lift(np.zeros((0, 3), np.float32)) == {}
    assert people.thresholds == [0.6, 0.6, 0.6]


def test_without_any_lift_a_global_threshold_stays_global():
    people = gallery()
    people.lift(unit([0.1, 0.1, 0.05]))  # nearest ann at 0.67 >= 0.6: lifted
    assert people.explicit
    untouched = gallery()
    untouched.lift(unit([0.5, 0.5, 0.5]))  # 0.577 < 0.6 for everyone
    assert untouched.model_info(ModelInfo(("ann", "bo", "cy"), unknown_threshold=0.6)).class_thresholds == ()


def test_put_replaces_a_known_centre_merges_with_a_weight_and_adds_a_new_person_at_the_pooled_threshold():
    people = gallery(thresholds=(0.5, 0.55, 0.65))
    people.put("bo", unit([0.0, 0.6, 0.8]), after_version=4)
    assert np.allclose(people.centres[:, 1], [0.0, 0.6, 0.8])  # replaced, not merged
    people.put("ann", unit([0.0, 1.0, 0.0]), after_version=4, weight=1)
    assert np.allclose(people.centres[:, 0], unit([1.0, 1.0, 0.0])[0])  # one old face, one new
    people.put("dee", unit([1.0, 0.0, 1.0], [1.0, 0.0, 1.0]), after_version=4)
    assert people.names == ["ann", "bo", "cy", "dee"] and people.thresholds[-1] == 0.6
    assert people.enrolled["dee"] == {"photos": 2, "after_version": 4}
    assert people.enrolled["ann"]["photos"] == 2


def test_a_new_person_from_few_photos_gets_the_pooled_threshold_scaled_for_their_centre():
    """With the training faces' spread recorded, a centre of 5 photos gets a lower threshold than
    the pooled one (calibrated on centres of ~25), one of 25 the pooled one; without it, the pooled."""
    spread = {"concentration": 0.95, "photos_per_person": 25.0}
    people = gallery(extra={"centres": spread})
    people.put("dee", unit(*[[1.0, 0.0, 1.0]] * 5), after_version=4)
    people.put("eve", unit(*[[0.0, 1.0, 1.0]] * 25), after_version=4)
    expected = 0.6 * np.sqrt((0.95 + 0.05 / 25) / (0.95 + 0.05 / 5))
    assert people.thresholds[-2:] == [pytest.approx(expected), pytest.approx(0.6)] and expected < 0.598
    assert people.base[-2] == people.thresholds[-2]
    info = people.model_info(ModelInfo(("ann", "bo", "cy"), unknown_threshold=0.6, extra={"centres": spread}))
    assert info.class_thresholds == (0.6, 0.6, 0.6, pytest.approx(expected), pytest.approx(0.6))
    assert info.extra["centres"] == spread  # kept for the next enrolment
    plain = gallery()
    plain.put("dee", unit(*[[1.0, 0.0, 1.0]] * 5), after_version=4)
    assert plain.thresholds[-1] == 0.6 and not plain.explicit


def test_concentration_and_size_factor():
    rng = np.random.default_rng(0)
    direction = np.zeros(64)
    direction[0] = 1.0
    faces = direction + rng.normal(0.0, 0.05, (4000, 64))  # a = 1 / (1 + 64 * 0.0025) ~ 0.862
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    labels = np.repeat(np.arange(400), 10)
    assert concentration(faces, labels) == pytest.approx(np.mean(faces @ direction) ** 2, abs=0.01)
    assert concentration(np.repeat(unit([1.0, 2.0, 2.0]), 4, axis=0), np.zeros(4, int)) == pytest.approx(1.0)
    assert size_factor(0.9, 25, 25.0) == pytest.approx(1.0) and size_factor(1.0, 1, 25.0) == pytest.approx(1.0)
    assert size_factor(0.9, 5, 25.0) < size_factor(0.9, 10, 25.0) < 1.0 < size_factor(0.9, 50, 25.0)
    # what a 5-face centre loses: the expected cosine of a face to it, over that to a 25-face one
    sims = {n: np.mean([faces[i * 10] @ (c := faces[i * 10 + 1: i * 10 + 1 + n].mean(0)) / np.linalg.norm(c)
                        for i in range(400)]) for n in (5, 9)}
    assert sims[5] / sims[9] == pytest.approx(size_factor(concentration(faces, labels), 5, 9.0), abs=0.003)


def test_remove_drops_the_person_and_their_records():
    people = gallery(extra={"sources": {"bo": ["1.jpg"], "cy": ["2.jpg"]}, "enrolled": {"bo": {"photos": 1}}})
    people.remove("bo")
    assert people.names == ["ann", "cy"] and people.centres.shape == (3, 2)
    assert people.sources == {"cy": ["2.jpg"]} and people.enrolled == {}


def test_named_share_needs_the_nearest_centre_and_the_threshold():
    people = gallery()
    faces = unit([1.0, 0.1, 0.0], [1.0, 0.9, 0.0], [0.2, 1.0, 0.0], [0.52, 0.5, 0.5])
    assert people.named("ann", faces) == 0.5  # ann 0.995 and 0.743 pass; nearest bo; ann 0.592 < 0.6
    assert people.nearest_other("ann") == ("bo", pytest.approx(0.0))
