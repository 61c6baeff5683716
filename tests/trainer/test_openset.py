"""The unknown-face rule: the exported decision, per-person calibration, the person split."""

import numpy as np
import pytest

from trainer.config import OpenSetConfig
from trainer.evaluation.openset import (
    global_threshold, impostors,
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
    config = OpenSetConfig(thresholds="person", known_accept=0.9, min_known_accept=0.8)
    accept, thresholds = calibrate(validation, None, 2, config)
    assert accept == 0.9
    np.testing.assert_allclose(thresholds, person_thresholds(validation, 2, 0.9, config.prior_faces))


def test_strangers_move_acceptance_down_to_the_floor_only_when_it_pays():
    validation = _faces({0: list(np.linspace(0.5, 1.0, 41))}, 1)
    config = OpenSetConfig(thresholds="person", known_accept=0.95, min_known_accept=0.8, prior_faces=0.0)
    far = Faces(np.full((10, 1), 0.1, np.float32), np.full(10, -1))
    assert calibrate(validation, far, 1, config)[0] == 0.95  # already all rejected: keep known faces
    close = Faces(np.linspace(0.5, 0.65, 10, dtype=np.float32)[:, None], np.full(10, -1))
    accept, _ = calibrate(validation, close, 1, config)
    assert 0.8 <= accept < 0.95  # rejecting these strangers is worth some known faces


def test_curve_runs_from_lenient_to_strict():
    validation = _faces({0: list(np.linspace(0.5, 1.0, 41))}, 1)
    test = _faces({0: list(np.linspace(0.5, 1.0, 41))}, 1)
    strangers = Faces(np.linspace(0.3, 0.9, 20, dtype=np.float32)[:, None], np.full(20, -1))
    points = curve(validation, test, strangers, 1, OpenSetConfig(thresholds="person", prior_faces=0.0))
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


def test_impostors_are_known_faces_scored_against_the_other_people():
    known = Faces(np.array([[0.9, 0.3, 0.5], [0.2, 0.8, 0.7]], np.float32), np.array([0, 1]))
    others = impostors(known)
    np.testing.assert_array_equal(others.labels, [-1, -1])
    np.testing.assert_allclose(others.class_scores.max(axis=1), [0.5, 0.7])  # the nearest other person
    assert others.class_scores.argmax(axis=1).tolist() == [2, 2]


def test_global_threshold_sits_in_the_middle_of_the_gap():
    validation = _faces({0: [0.95, 0.97, 0.99], 1: [0.96, 0.98]}, 2)
    strangers = Faces(np.array([[0.90, 0.1], [0.1, 0.92]], np.float32), np.full(2, -1))
    # every known face at or above 0.95 accepted, every stranger at or below 0.92 rejected
    assert global_threshold(validation, strangers) == pytest.approx((0.92 + 0.95) / 2, abs=1e-5)
    assert global_threshold(validation, None) == pytest.approx(0.95)  # nothing to reject: accept all


def test_global_threshold_trades_known_faces_for_strangers_one_for_one():
    validation = _faces({0: list(np.linspace(0.90, 0.99, 10))}, 1)  # 0.90, 0.91, ..., 0.99
    strangers = Faces(np.array([[0.905], [0.915], [0.925], [0.5]], np.float32), np.full(4, -1))
    # rejecting the strangers at 0.925 costs 3 of 10 known faces (0.3) and gains 3 of 4 strangers (0.75)
    threshold = global_threshold(validation, strangers)
    assert 0.925 < threshold <= 0.93 + 1e-6


def test_global_calibration_uses_impostors_and_one_threshold_for_all():
    validation = Faces(np.array([[0.97, 0.93], [0.91, 0.96], [0.98, 0.90]], np.float32), np.array([0, 1, 0]))
    config = OpenSetConfig()  # global, with impostors
    accept, thresholds = calibrate(validation, None, 2, config)
    # known faces score 0.96-0.98; as impostors (own person removed) 0.90-0.93: the middle of the gap
    np.testing.assert_allclose(thresholds, [(0.93 + 0.96) / 2] * 2, atol=1e-5)
    assert accept == 1.0
    without = calibrate(validation, None, 2, OpenSetConfig(impostors=False))[1]
    np.testing.assert_allclose(without, [0.96] * 2, atol=1e-5)  # nothing to reject: the lowest known face
