"""Person centres of the cosine head, in NumPy: unit columns and the mean of a person's faces.

No TensorFlow here: enrolment and `trainer update` edit a version's centres with these
(trainer/publishing/gallery.py), training sets them with the same two (trainer/model/network.py)
and measures how tightly people's faces gather (`concentration`), from which a centre made of
fewer photos gets its threshold (`size_factor`).
"""

from __future__ import annotations

import numpy as np

# ModelInfo.extra["centres"]: {"concentration": a, "photos_per_person": n} of the training faces
# the centres were made from (trainer/model/training.py writes RUN/centres.json, the export copies
# it); a person enrolled from other than n photos gets the pooled threshold times `size_factor`.
CENTRES_KEY = "centres"


def unit_columns(vectors: np.ndarray) -> np.ndarray:
    """`vectors` [E, C] with each column scaled to length 1 (a zero column stays zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=0, keepdims=True), 1e-12)


def centre_of(embeddings: np.ndarray) -> np.ndarray:
    """A person's centre [E]: the normalised mean of their unit embeddings [N, E]."""
    return unit_columns(embeddings.mean(axis=0)[:, None])[:, 0]


def concentration(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """How tightly each person's unit embeddings [N, E] (labels [N]) gather round their direction:
    the squared length a of a person's expected embedding, pooled over people (weighted by faces).

    The mean of n unit vectors has E|mean|^2 = a + (1 - a) / n, so each person with n >= 2 faces
    gives the unbiased estimate (|mean|^2 - 1/n) / (1 - 1/n)."""
    estimates, weights = [], []
    for person in np.unique(labels):
        own = embeddings[labels == person]
        if len(own) >= 2:
            length2 = float(np.sum(own.mean(axis=0) ** 2))
            estimates.append((length2 - 1.0 / len(own)) / (1.0 - 1.0 / len(own)))
            weights.append(len(own))
    return float(np.clip(np.average(estimates, weights=weights), 1e-6, 1.0)) if estimates else 1.0


def size_factor(concentration: float, photos: int, reference: float) -> float:
    """How much a face's expected cosine similarity to its person's centre changes when the centre
    is the mean of `photos` faces instead of `reference` faces: the expected similarity is
    a / sqrt(a + (1 - a) / n) (a: `concentration`), lower for a centre of fewer faces, which
    carries more of their noise. Multiplying a threshold calibrated on centres of `reference`
    faces by it keeps a centre of `photos` faces at the same share of its own faces accepted."""
    a = concentration
    return float(np.sqrt((a + (1.0 - a) / reference) / (a + (1.0 - a) / max(photos, 1))))
