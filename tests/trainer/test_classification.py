"""Metric code against hand-computed examples."""

import numpy as np
import pytest

from trainer.evaluation.classification import confusion_matrix, f1_score, format_table, per_class, summary

# The course's worked example: rows are the true class, columns the predicted one.
COURSE = np.array([[1, 0, 1], [0, 3, 2], [2, 1, 2]])


def test_course_example_accuracy_precision_recall():
    report = summary(COURSE, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(0.5)
    scores = per_class(COURSE)
    assert scores["precision"] == pytest.approx([1 / 3, 3 / 4, 2 / 5])
    assert scores["recall"] == pytest.approx([1 / 2, 3 / 5, 2 / 5])
    assert report["macro_precision"] == pytest.approx(0.494, abs=5e-4)
    assert report["macro_recall"] == pytest.approx(0.5)


def test_course_example_f1_of_the_means_and_mean_of_the_f1s():
    report = summary(COURSE, ["a", "b", "c"])
    assert report["f1_of_macro_means"] == pytest.approx(0.497, abs=5e-4)
    # Per class: 2PR/(P+R) = 0.4, 2/3, 0.4; their mean is the usual macro-F1.
    assert per_class(COURSE)["f1"] == pytest.approx([0.4, 2 / 3, 0.4])
    assert report["macro_f1"] == pytest.approx((0.4 + 2 / 3 + 0.4) / 3)


def test_weighted_averages_use_support():
    report = summary(COURSE, ["a", "b", "c"])
    weights = np.array([2, 5, 5]) / 12
    assert report["weighted_recall"] == pytest.approx(0.5)  # weighted recall is accuracy
    assert report["weighted_precision"] == pytest.approx(np.dot([1 / 3, 3 / 4, 2 / 5], weights))
    assert report["weighted_f1"] == pytest.approx(np.dot([0.4, 2 / 3, 0.4], weights))
    assert report["per_class"]["b"] == pytest.approx({"precision": 0.75, "recall": 0.6, "f1": 2 / 3, "support": 5})


def test_confusion_matrix_counts_pairs():
    true = [0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    predicted = [0, 2, 1, 1, 1, 2, 2, 0, 0, 1, 2, 2]
    assert confusion_matrix(true, predicted, 3).tolist() == COURSE.tolist()


def test_classes_never_predicted_or_absent_score_zero_not_nan():
    matrix = np.array([[2, 0, 0], [1, 0, 0], [0, 0, 0]])
    report = summary(matrix, ["a", "b", "c"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_class"]["c"]["support"] == 0
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert f1_score(0.0, 0.0) == 0.0
    assert summary(np.zeros((2, 2), int), ["a", "b"])["accuracy"] == 0.0


def test_table_lists_every_class_and_the_averages():
    table = format_table(summary(COURSE, ["alice", "bob", "carol"]))
    for text in ("alice", "bob", "carol", "macro avg", "weighted avg", "accuracy", "0.494"):
        assert text in table


def test_no_classes_at_all_gives_zeros():
    report = summary(np.zeros((0, 0), int), [])
    assert report["macro_f1"] == 0.0 and report["accuracy"] == 0.0 and report["support"] == 0
