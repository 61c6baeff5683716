"""Person centres of the cosine head, in NumPy: unit columns and the mean of a person's faces.

No TensorFlow here: enrolment and `trainer update` edit a version's centres with these
(trainer/publishing/gallery.py), training sets them with the same two (trainer/model/network.py).
"""

from __future__ import annotations

import numpy as np


def unit_columns(vectors: np.ndarray) -> np.ndarray:
    """`vectors` [E, C] with each column scaled to length 1 (a zero column stays zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=0, keepdims=True), 1e-12)


def centre_of(embeddings: np.ndarray) -> np.ndarray:
    """A person's centre [E]: the normalised mean of their unit embeddings [N, E]."""
    return unit_columns(embeddings.mean(axis=0)[:, None])[:, 0]
