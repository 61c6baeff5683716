"""Classification metrics from a confusion matrix (rows: true class, columns: predicted)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C] of (true, predicted) label pairs."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(true, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class."""
    matrix = np.asarray(matrix, np.int64)
    hits = np.diag(matrix)
    precision = _ratio(hits, matrix.sum(axis=0))
    recall = _ratio(hits, matrix.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": matrix.sum(axis=1)}


def f1_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall (0 if both are 0)."""
    return float(_ratio(2 * precision * recall, precision + recall))


def summary(matrix: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, macro and weighted averages, per-class figures and the matrix itself.

    `macro_f1` is the mean of the per-class F1 scores; `f1_of_macro_means` is the F1 of the
    mean precision and mean recall, the other definition in use.
    """
    matrix = np.asarray(matrix, np.int64)
    scores = per_class(matrix)
    support = scores["support"]
    weights = support / support.sum() if support.sum() else np.zeros(len(support))
    macro = {name: float(scores[name].mean()) if len(support) else 0.0 for name in ("precision", "recall", "f1")}
    return {
        "accuracy": float(_ratio(np.trace(matrix), matrix.sum())),
        "macro_precision": macro["precision"],
        "macro_recall": macro["recall"],
        "macro_f1": macro["f1"],
        "f1_of_macro_means": f1_score(macro["precision"], macro["recall"]),
        "weighted_precision": float(scores["precision"] @ weights),
        "weighted_recall": float(scores["recall"] @ weights),
        "weighted_f1": float(scores["f1"] @ weights),
        "support": int(support.sum()),
        "class_names": list(class_names),
        "per_class": _per_class_dict(scores, class_names),
        "confusion_matrix": matrix.tolist(),
    }


def _per_class_dict(scores: dict[str, np.ndarray], class_names: list[str]) -> dict[str, dict]:
    return {
        name: {"precision": float(scores["precision"][i]), "recall": float(scores["recall"][i]),
               "f1": float(scores["f1"][i]), "support": int(scores["support"][i])}
        for i, name in enumerate(class_names)
    }


def format_table(report: dict) -> str:
    """Per-class precision/recall/F1/support, then the averages and the accuracy."""
    names = report["class_names"]
    width = max([len("weighted avg")] + [len(n) for n in names])
    lines = [f"{'':<{width}}  precision  recall      f1  support"]
    for name in names:
        row = report["per_class"][name]
        lines.append(_row(name, width, row["precision"], row["recall"], row["f1"], row["support"]))
    lines.append("")
    for label, key in (("macro avg", "macro"), ("weighted avg", "weighted")):
        lines.append(_row(label, width, report[f"{key}_precision"], report[f"{key}_recall"],
                          report[f"{key}_f1"], report["support"]))
    lines.append(f"{'accuracy':<{width}}  {report['accuracy']:>34.3f}  {report['support']:>7}")
    return "\n".join(lines)


def _row(label: str, width: int, precision: float, recall: float, f1: float, support: int) -> str:
    return f"{label:<{width}}  {precision:>9.3f}  {recall:>6.3f}  {f1:>6.3f}  {support:>7}"
