"""The unknown-face rule: the exported decision, per-person calibration, the person split."""

import numpy as np
import pytest

from trainer.config import OpenSetConfig
from trainer.evaluation.openset import (
    Faces, calibrate, curve, decide, figures, person_thresholds, pooled_threshold, rates, stranger_split,
)


def test_decide_takes_the_nearest_persons_score_and_threshold():
    class_scores = np.array([[0.9, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.25, 0.1]], np.float32)
    score, threshold = decide(class_scores, [0.5, 0.2, 0.7])
    np.testing.assert_allclose(score.numpy(), [0.9, 0.6, 0.25])
    np.testing.assert_allclose(threshold.numpy(), [0.5, 0.7, 0.2])  # persons 0, 2, 1
    assert score.shape == threshold.shape == (3,)  # per face: TF Serving's batching can split them


def test_decide_on_no_faces_gives_empty_rows():
    score, threshold = decide(np.zeros((0, 4), np.float32), [0.1, 0.2, 0.3, 0.4])
    assert score.shape == threshold.shape == (0,)


def _faces(scores_by_person: dict[int, list[float]], classes: int) -> Faces:
    """Faces named right: person p's faces score s on p and 0 elsewhere."""
    rows, labels = [], []
    for person, scores in scores_by_person.items():
        for value in scores:
            row = np.zeros(classes, np.float32)
            row[person] = value
            rows.append(row)
            labels.append(person)
    return Faces(np.array(rows), np.array(labels))


def test_person_thresholds_follow_each_persons_spread_shrunk_to_the_pool():
    validation = _faces({0: list(np.linspace(0.80, 0.99, 20)), 1: list(np.linspace(0.30, 0.60, 20))}, 2)
    alone = person_thresholds(validation, 2, accept=0.9, prior_faces=0.0)
    assert alone[0] == pytest.approx(np.quantile(np.linspace(0.80, 0.99, 20), 0.1))
    assert alone[1] == pytest.approx(np.quantile(np.linspace(0.30, 0.60, 20), 0.1))
    pooled = pooled_threshold(validation, 0.9)
    shrunk = person_thresholds(validation, 2, accept=0.9, prior_faces=20.0)
    np.testing.assert_allclose(shrunk, (alone + pooled) / 2)  # 20 own faces against a prior of 20
    assert person_thresholds(validation, 3, 0.9, 5.0)[2] == pytest.approx(pooled)  # no faces: the pool


def test_wrongly_named_faces_do_not_set_thresholds():
    right = _faces({0: [0.9, 0.95, 0.97]}, 2)
    wrong = Faces(np.array([[0.1, 0.99]], np.float32), np.array([0]))  # person 0 named as 1
    both = Faces(np.concatenate([right.class_scores, wrong.class_scores]), np.concatenate([right.labels, [0]]))
    np.testing.assert_allclose(person_thresholds(both, 2, 0.9, 0.0), person_thresholds(right, 2, 0.9, 0.0))


def test_figures_count_accepted_right_and_rejected():
    thresholds = np.array([0.5, 0.5])
    known = Faces(np.array([[0.9, 0.1], [0.2, 0.6], [0.3, 0.4]], np.float32), np.array([0, 0, 1]))
    strangers = Faces(np.array([[0.45, 0.1], [0.7, 0.2]], np.float32), np.array([-1, -1]))
    result = figures(thresholds, known, strangers)
    assert result["known_accepted"] == pytest.approx(2 / 3)  # 0.4 is below 0.5
    assert result["known_accepted_correct"] == pytest.approx(1 / 3)  # 0.6 is accepted, but wrong
    assert result["strangers_rejected"] == pytest.approx(0.5)
    assert result["known_faces"] == 3 and result["strangers"] == 2
    assert rates(np.array([True, False]), np.array([True, True])) == {
        "known_faces": 2, "known_accepted": 0.5, "known_accepted_correct": 0.5}


def test_calibration_without_strangers_uses_known_accept():
    validation = _faces({0: list(np.linspace(0.5, 1.0, 21)), 1: list(np.linspace(0.4, 0.9, 21))}, 2)
    config = OpenSetConfig(known_accept=0.9, min_known_accept=0.8)
    accept, thresholds = calibrate(validation, None, 2, config)
    assert accept == 0.9
    np.testing.assert_allclose(thresholds, person_thresholds(validation, 2, 0.9, config.prior_faces))


def test_strangers_move_acceptance_down_to_the_floor_only_when_it_pays():
    validation = _faces({0: list(np.linspace(0.5, 1.0, 41))}, 1)
    config = OpenSetConfig(known_accept=0.95, min_known_accept=0.8, prior_faces=0.0)
    far = Faces(np.full((10, 1), 0.1, np.float32), np.full(10, -1))
    assert calibrate(validation, far, 1, config)[0] == 0.95  # already all rejected: keep known faces
    close = Faces(np.linspace(0.5, 0.65, 10, dtype=np.float32)[:, None], np.full(10, -1))
    accept, _ = calibrate(validation, close, 1, config)
    assert 0.8 <= accept < 0.95  # rejecting these strangers is worth some known faces


def test_curve_runs_from_lenient_to_strict():
    validation = _faces({0: list(np.linspace(0.5, 1.0, 41))}, 1)
    test = _faces({0: list(np.linspace(0.5, 1.0, 41))}, 1)
    strangers = Faces(np.linspace(0.3, 0.9, 20, dtype=np.float32)[:, None], np.full(20, -1))
    points = curve(validation, test, strangers, 1, OpenSetConfig(prior_faces=0.0))
    assert points[0]["known_accept"] == 0.5 and points[-1]["known_accept"] == 1.0
    rejected = [p["strangers_rejected"] for p in points]
    accepted = [p["known_accepted_correct"] for p in points]
    assert rejected == sorted(rejected, reverse=True) and accepted == sorted(accepted)
    assert accepted[-1] == 1.0


def test_stranger_split_is_by_person_stable_and_disjoint():
    names = [f"person_{i}" for i in range(23)]
    calibration, test = stranger_split(names)
    assert calibration.isdisjoint(test) and calibration | test == set(names)
    assert len(calibration) == 12 and len(test) == 11
    assert stranger_split(list(reversed(names))) == (calibration, test)
    assert stranger_split(names, seed="other") != (calibration, test)
