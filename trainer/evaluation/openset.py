"""Open-set recognition: which faces belong to none of the known people.

The rule (`decide`, TensorFlow ops) is exported inside the SavedModel, so TF Serving, the
service's local backend and `trainer evaluate` run the same ops: a face's score is its highest
class score (the cosine similarity to the nearest person's centre for the cosine head, the top
probability for the softmax head) and its threshold is that person's own; the face is unknown
when its score is below its threshold (`facecore.modelinfo.is_unknown`). Every output is per
face, so TF Serving's batching can split them.

Calibration (NumPy), `openset.thresholds` `global` (the default): one threshold for everyone,
the one that maximises the share of validation faces named right and accepted plus the share of
impostors rejected. Impostors are the calibration strangers and, with `openset.impostors`, every
known validation face scored against the other people only (`impostors`: what the model says of
a face whose person it does not know); of all thresholds with the best sum, the middle one.

`person`: each person's threshold is the (1 - q) quantile of the scores of that
person's validation faces the model names right, shrunk toward the pooled quantile with the
weight of `prior_faces` faces (a person has a handful of validation faces; a lone quantile of
five would be noise). q is `known_accept` without strangers; with strangers, the q between
`min_known_accept` and `known_accept` that maximises known faces named right plus calibration
strangers rejected. Strangers are split by person (`stranger_split`): the people of the test
part never take part in calibration, so their rejection rate is honest.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from facecore.modelinfo import is_unknown
from trainer.config import OpenSetConfig

SPLIT_SEED = "faceid-openset-v1"
CURVE_ACCEPT = tuple(round(q, 3) for q in np.linspace(0.5, 1.0, 51))


def decide(class_scores, thresholds):
    """(score [N], threshold [N]) of class scores [N, C] under per-person thresholds [C]."""
    class_scores = tf.convert_to_tensor(class_scores, tf.float32)
    nearest = tf.argmax(class_scores, axis=1, output_type=tf.int32)
    score = tf.reduce_max(class_scores, axis=1)
    return score, tf.gather(tf.convert_to_tensor(thresholds, tf.float32), nearest)


@dataclass(frozen=True)
class Faces:
    """Class scores [N, C] of some faces and their true labels [N] (-1: a stranger)."""

    class_scores: np.ndarray
    labels: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.class_scores.argmax(axis=1) if len(self.class_scores) else np.zeros(0, np.int64)

    def select(self, mask: np.ndarray) -> "Faces":
        return Faces(self.class_scores[mask], self.labels[mask])


def stranger_split(names, seed: str = SPLIT_SEED) -> tuple[set[str], set[str]]:
    """People (folder names) for calibration and for the test: half each, by a hash of the name."""
    ordered = sorted(names, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).hexdigest())
    half = math.ceil(len(ordered) / 2)
    return set(ordered[:half]), set(ordered[half:])


def pooled_threshold(validation: Faces, accept: float) -> float:
    """The threshold accepting about `accept` of all validation faces named right."""
    return _quantile(_right_scores(validation)[0], accept)


def person_thresholds(validation: Faces, num_classes: int, accept: float, prior_faces: float) -> np.ndarray:
    """Per-person thresholds [C] accepting about `accept` of the validation faces named right."""
    scores, people = _right_scores(validation)
    return shrunk_thresholds(scores, people, num_classes, accept, prior_faces)


def shrunk_thresholds(scores: np.ndarray, people: np.ndarray, num_classes: int, accept: float,
                      prior_faces: float) -> np.ndarray:
    """Each person's (1 - accept) quantile of `scores` (faces named right, of `people`), shrunk
    toward the pooled one with the weight of `prior_faces` faces; the pooled one without faces."""
    pooled = _quantile(scores, accept)
    thresholds = np.full(num_classes, pooled)
    for person in range(num_classes):
        own = scores[people == person]
        if own.size:
            thresholds[person] = (own.size * _quantile(own, accept) + prior_faces * pooled) / (own.size + prior_faces)
    return thresholds


def _quantile(scores: np.ndarray, accept: float) -> float:
    return float(np.quantile(scores, 1.0 - accept)) if scores.size else 0.0


def _right_scores(faces: Faces) -> tuple[np.ndarray, np.ndarray]:
    right = faces.select(faces.predicted == faces.labels)
    return (right.class_scores.max(axis=1) if len(right.labels) else np.zeros(0)), right.labels


def figures(thresholds: np.ndarray, known: Faces, strangers: Faces | None = None) -> dict:
    """Known faces accepted, accepted and named right; strangers rejected (rule applied here)."""
    return rates(_unknown(known, thresholds), known.predicted == known.labels,
                 _unknown(strangers, thresholds) if strangers is not None else None)


def rates(known_unknown: np.ndarray, known_right: np.ndarray, strangers_unknown: np.ndarray | None = None) -> dict:
    """The open-set figures from decisions already made (e.g. by an exported model)."""
    result = {}
    if len(known_unknown):
        result.update(known_faces=int(len(known_unknown)), known_accepted=float(np.mean(~known_unknown)),
                      known_accepted_correct=float(np.mean(~known_unknown & known_right)))
    if strangers_unknown is not None and len(strangers_unknown):
        result.update(strangers=int(len(strangers_unknown)), strangers_rejected=float(np.mean(strangers_unknown)))
    return result


def _unknown(faces: Faces, thresholds: np.ndarray) -> np.ndarray:
    if not len(faces.labels):
        return np.zeros(0, bool)
    score, threshold = decide(faces.class_scores, thresholds)
    return is_unknown(score.numpy(), threshold.numpy())


def impostors(faces: Faces) -> Faces:
    """Known faces as strangers: each face's own person's score taken away, so the nearest other
    person decides, as if its own person were not enrolled."""
    scores = np.array(faces.class_scores, np.float32, copy=True)
    if scores.shape[1] < 2:
        return Faces(scores[:0], faces.labels[:0])
    scores[np.arange(len(faces.labels)), faces.labels] = -np.inf
    return Faces(scores, np.full(len(faces.labels), -1))


def global_threshold(validation: Faces, strangers: Faces | None) -> float:
    """The one threshold maximising validation faces named right and accepted plus strangers
    rejected (each as a share); the middle of the widest range of such thresholds.

    A face is accepted when score >= threshold, so the sum changes only where the threshold
    passes a score: it is constant on each (previous score, score], and the best range is
    such an interval, or a run of them."""
    right = _right_scores(validation)[0]
    others = strangers.class_scores.max(axis=1) if strangers is not None and len(strangers.labels) else np.zeros(0)
    others = others[np.isfinite(others)]
    if not right.size:
        return 0.0
    candidates = np.unique(np.concatenate([right, others]))
    gain = np.mean(right[None, :] >= candidates[:, None], axis=1)
    if others.size:
        gain = gain + np.mean(others[None, :] < candidates[:, None], axis=1)
    best = np.flatnonzero(gain >= gain.max() - 1e-12)
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)
    low_end = {run[0]: (candidates[run[0] - 1] if run[0] > 0 else None) for run in runs}
    widest = max(runs, key=lambda run: candidates[run[-1]] - (low_end[run[0]] if low_end[run[0]] is not None
                                                             else candidates[run[-1]]))
    low, high = low_end[widest[0]], candidates[widest[-1]]
    return float(high if low is None else (low + high) / 2.0)


def calibration_impostors(validation: Faces, strangers: Faces | None, config: OpenSetConfig) -> Faces | None:
    """The faces calibration must reject: the strangers, and with `impostors` the known
    validation faces against the other people."""
    parts = [f for f in (strangers, impostors(validation) if config.impostors else None)
             if f is not None and len(f.labels)]
    if not parts:
        return None
    return Faces(np.concatenate([f.class_scores for f in parts]), np.concatenate([f.labels for f in parts]))


def calibrate(validation: Faces, strangers: Faces | None, num_classes: int,
              config: OpenSetConfig) -> tuple[float, np.ndarray]:
    """(q, thresholds [C]): see the module docstring. For the global rule, q is the share of
    validation faces named right that the threshold accepts."""
    if config.thresholds == "global":
        threshold = global_threshold(validation, calibration_impostors(validation, strangers, config))
        right = _right_scores(validation)[0]
        accept = float(np.mean(right >= threshold)) if right.size else 1.0
        return accept, np.full(num_classes, threshold, np.float64)

    def thresholds(accept: float) -> np.ndarray:
        return person_thresholds(validation, num_classes, accept, config.prior_faces)

    if strangers is None or not len(strangers.labels):
        return config.known_accept, thresholds(config.known_accept)
    candidates = np.round(np.arange(config.min_known_accept, config.known_accept + 1e-9, 0.005), 4)

    def gain(accept: float) -> float:
        found = figures(thresholds(accept), validation, strangers)
        return found.get("known_accepted_correct", 0.0) + found.get("strangers_rejected", 0.0)

    best = max(reversed(candidates), key=gain)  # on a tie, the higher acceptance
    return float(best), thresholds(float(best))


def curve(validation: Faces, test: Faces, strangers: Faces | None, num_classes: int,
          config: OpenSetConfig) -> list[dict]:
    """Test figures as the acceptance q runs from 0.5 to 1: the ROC-style trade-off."""
    def thresholds(accept: float) -> np.ndarray:
        if config.thresholds == "global":
            return np.full(num_classes, pooled_threshold(validation, accept))
        return person_thresholds(validation, num_classes, accept, config.prior_faces)

    points = []
    for accept in CURVE_ACCEPT:
        found = figures(thresholds(accept), test, strangers)
        points.append({"known_accept": accept, **{k: v for k, v in found.items() if isinstance(v, float)}})
    return points
