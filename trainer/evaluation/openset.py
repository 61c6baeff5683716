"""Open-set recognition: a threshold on the top class probability below which a face is unknown."""

from __future__ import annotations

import numpy as np

from trainer.config import OpenSetConfig


def accepted_share(scores: np.ndarray, threshold: float) -> float:
    """Share of faces whose top probability reaches the threshold (0 for no faces)."""
    scores = np.asarray(scores)
    return float(np.mean(scores >= threshold)) if scores.size else 0.0


def quantile_threshold(known: np.ndarray, accept: float) -> float:
    """The highest threshold that accepts at least `accept` of the known faces."""
    ordered = np.sort(np.asarray(known, np.float64))
    if ordered.size == 0:
        return 0.0
    rejected = int(np.floor((1.0 - accept) * ordered.size + 1e-9))
    return float(ordered[min(rejected, ordered.size - 1)])


def separating_threshold(known: np.ndarray, strangers: np.ndarray, min_accept: float) -> float:
    """The threshold maximising known accepted + strangers rejected, keeping `min_accept`."""
    known, strangers = np.asarray(known, np.float64), np.asarray(strangers, np.float64)
    candidates = np.unique(np.concatenate([known, strangers, [0.0]]))
    best, best_score = 0.0, -1.0
    for threshold in candidates:
        kept = accepted_share(known, threshold)
        if kept < min_accept:
            break  # candidates ascend, so acceptance only falls from here
        score = kept + 1.0 - accepted_share(strangers, threshold)
        if score >= best_score:  # on a tie, the stricter threshold
            best, best_score = float(threshold), score
    return best


def calibrate(known: np.ndarray, strangers: np.ndarray | None, config: OpenSetConfig) -> float:
    """The unknown threshold from validation faces' top probabilities (and strangers', if any)."""
    if strangers is None or len(strangers) == 0:
        return quantile_threshold(known, config.known_accept)
    return separating_threshold(known, strangers, config.min_known_accept)


def rates(threshold: float, probabilities: np.ndarray, labels: np.ndarray | None = None,
          stranger_probabilities: np.ndarray | None = None) -> dict:
    """Known faces accepted (and accepted as the right person), strangers rejected."""
    result = {"threshold": threshold}
    probabilities = np.asarray(probabilities)
    if probabilities.size:
        top = probabilities.max(axis=1)
        result["known_faces"] = int(len(top))
        result["known_accepted"] = accepted_share(top, threshold)
        if labels is not None:
            right = probabilities.argmax(axis=1) == np.asarray(labels)
            result["known_accepted_correct"] = float(np.mean((top >= threshold) & right))
    if stranger_probabilities is not None and len(stranger_probabilities):
        top = np.asarray(stranger_probabilities).max(axis=1)
        result["strangers"] = int(len(top))
        result["strangers_rejected"] = 1.0 - accepted_share(top, threshold)
    return result
