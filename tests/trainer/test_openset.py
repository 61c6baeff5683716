"""Unknown-face threshold: calibration and the accepted/rejected shares it gives."""

import numpy as np
import pytest

from trainer.config import OpenSetConfig
from trainer.evaluation.openset import accepted_share, calibrate, quantile_threshold, rates, separating_threshold


def test_quantile_threshold_accepts_the_asked_share():
    known = np.linspace(0.01, 1.0, 100)
    threshold = quantile_threshold(known, 0.95)
    assert accepted_share(known, threshold) == pytest.approx(0.95)
    assert quantile_threshold(known, 1.0) == pytest.approx(0.01)
    assert quantile_threshold(np.array([]), 0.9) == 0.0


def test_strangers_move_the_threshold_to_the_gap():
    known = np.array([0.55, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.99, 1.0])
    strangers = np.array([0.2, 0.3, 0.4, 0.5, 0.6])
    threshold = separating_threshold(known, strangers, min_accept=0.9)
    assert 0.6 < threshold <= 0.8  # everything above the strangers, one known face lost
    assert accepted_share(known, threshold) == pytest.approx(0.9)
    assert accepted_share(strangers, threshold) == 0.0


def test_the_known_acceptance_floor_wins_over_rejecting_strangers():
    known = np.array([0.3, 0.4, 0.9, 0.95])
    strangers = np.array([0.5, 0.6])
    threshold = separating_threshold(known, strangers, min_accept=1.0)
    assert threshold == pytest.approx(0.3)


def test_calibrate_uses_strangers_only_when_given():
    known = np.linspace(0.5, 1.0, 21)
    config = OpenSetConfig(known_accept=0.8, min_known_accept=0.5)
    assert calibrate(known, None, config) == quantile_threshold(known, 0.8)
    assert calibrate(known, np.array([0.9] * 5), config) != quantile_threshold(known, 0.8)


def test_rates():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45]])
    labels = np.array([0, 0, 0])
    strangers = np.array([[0.5, 0.5], [0.2, 0.8]])
    result = rates(0.58, probabilities, labels, strangers)
    assert result["known_accepted"] == pytest.approx(2 / 3)
    assert result["known_accepted_correct"] == pytest.approx(1 / 3)  # 0.6 is accepted, but wrong
    assert result["strangers_rejected"] == pytest.approx(0.5)
    assert result["known_faces"] == 3 and result["strangers"] == 2
