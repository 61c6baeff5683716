"""PNG figures: learning curves and confusion-matrix heat maps (matplotlib, no display)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_history(path: Path) -> dict[str, list[float]]:
    """Columns of a Keras CSVLogger file, as floats, one value per epoch."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows = list({row.get("epoch"): row for row in rows}.values())  # a redone epoch: its last row
    columns = rows[0].keys() if rows else []
    return {name: [float(row[name]) for row in rows if row.get(name) not in (None, "")] for name in columns}


def learning_curves(history: dict[str, list[float]], path: Path) -> Path:
    """Loss, accuracy and learning rate per epoch, training against validation."""
    plt = _pyplot()
    panels = [("loss", "loss"), ("accuracy", "accuracy"), ("learning_rate", "learning rate")]
    panels = [(key, title) for key, title in panels if key in history]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    epochs = [int(e) + 1 for e in history.get("epoch", range(len(history.get("loss", []))))]
    for axis, (key, title) in zip(axes[0], panels):
        axis.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            axis.plot(epochs, history[f"val_{key}"], label="validation")
            axis.legend()
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def confusion_heatmap(matrix: np.ndarray, row_names: list[str], column_names: list[str], path: Path) -> Path:
    """Counts with rows = true class, columns = predicted class."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    side = max(4.0, 0.45 * max(len(row_names), len(column_names)) + 2)
    figure, axis = plt.subplots(figsize=(side + 1, side))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(column_names)), column_names, rotation=90, fontsize=8)
    axis.set_yticks(range(len(row_names)), row_names, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > threshold else "black"
            axis.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def openset_curve(points: list[dict], chosen: float, path: Path) -> Path | None:
    """Known faces named right against strangers rejected, as the per-person acceptance varies."""
    points = [p for p in points if "known_accepted_correct" in p]
    if not points:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 5))
    rejected = [p.get("strangers_rejected", 0.0) for p in points]
    axis.plot(rejected, [p["known_accepted_correct"] for p in points], marker=".", label="test part")
    at = min(points, key=lambda p: abs(p["known_accept"] - chosen))
    axis.scatter([at.get("strangers_rejected", 0.0)], [at["known_accepted_correct"]], color="red", zorder=3,
                 label=f"calibrated (accept {chosen:.3f})")
    axis.set_xlabel("strangers rejected (held-out people)")
    axis.set_ylabel("known faces accepted and named right")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left")
    axis.set_title("Unknown-face trade-off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
