"""A version's people as its cosine head knows them, changed without training (NumPy only).

A descriptor model scores a face by the cosine similarity of its embedding to each person's
centre and compares the best score with that person's threshold (trainer/evaluation/openset.py).
So adding, re-centring or removing a person changes the centres [E, C] and thresholds [C] only,
and a face's class scores under the changed gallery are its embedding times the unit centres:
what the rebuilt model computes (with flip averaging too, the scores being linear in it).

Thresholds: `base` is each person's calibrated one; a person added without training gets the pooled
`unknown_threshold`, scaled by `centres.size_factor` for the number of photos their centre is made
of where the version records how its training faces gathered (extra["centres"]): a centre of 5
photos carries more of their noise than the training people's, so their own faces score a little
lower against it (by about 0.004 with the default descriptor), and the pooled threshold alone would
turn more of them away than it turns away of a trained person's; `lift` raises a person's threshold
above every stranger face nearest to them. The base is kept in ModelInfo.extra["base_thresholds"]
beside the lifted thresholds, so the next update lifts from the base again and a photo no longer
marked as a stranger stops counting. What a version was made from: extra["sources"] (person ->
sorted photo names) and extra["strangers"] (sorted stranger photos its thresholds took into
account).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from facecore.modelinfo import ENROLLED_KEY, ModelInfo
from trainer.model.centres import CENTRES_KEY, centre_of, size_factor, unit_columns

SOURCES_KEY = "sources"
STRANGERS_KEY = "strangers"
BASE_KEY = "base_thresholds"
# How far above the highest stranger score a lifted threshold lies. The served graph and these
# NumPy products differ by float32 rounding (~1e-6); but the API keeps a corrected face as a cut of
# its photo (service/screening.py), and the same face found again in the whole photo is cropped
# from a slightly different box: its best score moved by at most 0.010 (median 0.003, p90 0.007;
# 79 lfw-strangers faces, the default descriptor, 2026-12-03). So 0.01 keeps it out in either
# photo. No more: the descriptor's scores are close together (own faces ~0.95-0.98, its pooled
# threshold ~0.94), and a lifted person turns away their own faces scoring within the margin.
LIFT_MARGIN = 0.01


@dataclass
class Gallery:
    """People, their unit centres [E, C] and thresholds, and what the version records of them."""

    names: list[str]
    centres: np.ndarray  # [E, C], unit columns
    thresholds: list[float]  # what the version applies
    base: list[float]  # before the strangers' lift
    pooled: float  # the unknown_threshold: a person added without training starts from it
    explicit: bool  # per-person thresholds in the ModelInfo (else the one pooled threshold)
    enrolled: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    strangers: list = field(default_factory=list)
    spread: dict = field(default_factory=dict)  # extra["centres"]: how the training faces gathered

    @classmethod
    def of(cls, info: ModelInfo, centres: np.ndarray) -> "Gallery":
        """The gallery of a version: its ModelInfo and its head's centres [E, C]."""
        current = [float(t) for t in info.thresholds()]
        recorded = info.extra.get(BASE_KEY, {})
        return cls(list(info.class_names), unit_columns(np.array(centres, np.float32)), current,
                   [float(recorded.get(name, t)) for name, t in zip(info.class_names, current)],
                   info.unknown_threshold, bool(info.class_thresholds), dict(info.extra.get(ENROLLED_KEY, {})),
                   dict(info.extra.get(SOURCES_KEY, {})), list(info.extra.get(STRANGERS_KEY, [])),
                   dict(info.extra.get(CENTRES_KEY, {})))

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Class scores [N, C] of embeddings [N, E]."""
        return np.asarray(embeddings, np.float32) @ self.centres

    def put(self, person: str, embeddings: np.ndarray, after_version: int, weight: int = 0) -> None:
        """Centre `person` on `embeddings` [N, E], merged with their current centre counted as
        `weight` faces if they are known; a new person starts at `new_threshold`."""
        centre = centre_of(embeddings)
        if person in self.names:
            index = self.names.index(person)
            if weight:
                mean = (weight * self.centres[:, index] + len(embeddings) * embeddings.mean(axis=0)) \
                    / (weight + len(embeddings))
                centre = unit_columns(mean[:, None])[:, 0]
            self.centres[:, index] = centre
        else:
            self.names.append(person)
            self.centres = np.concatenate([self.centres, centre[:, None]], axis=1)
            threshold = self.new_threshold(len(embeddings))
            self.thresholds.append(threshold)
            self.base.append(threshold)
            self.explicit = self.explicit or threshold != self.pooled
        self.enrolled[person] = {"photos": int(weight + len(embeddings)), "after_version": after_version}

    def new_threshold(self, photos: int) -> float:
        """The threshold of a person added from `photos` faces: the pooled one, scaled for a centre
        of that many faces (the module docstring); the pooled one where the version records no spread."""
        if not self.spread:
            return self.pooled
        return self.pooled * size_factor(self.spread["concentration"], photos, self.spread["photos_per_person"])

    def remove(self, person: str) -> None:
        """Forget `person`: their centre, thresholds and records."""
        if person in self.names:
            index = self.names.index(person)
            del self.names[index], self.thresholds[index], self.base[index]
            self.centres = np.delete(self.centres, index, axis=1)
        self.enrolled.pop(person, None)
        self.sources.pop(person, None)

    def lift(self, strangers: np.ndarray, margin: float = LIFT_MARGIN) -> dict[str, tuple[float, float]]:
        """Each threshold from its base, raised to `margin` above the best score of a stranger face
        (embeddings [N, E]) nearest to that person which the base would accept; returns
        {person: (base, lifted)} of those raised."""
        self.thresholds, raised = list(self.base), {}
        if len(strangers):
            scores = self.scores(strangers)
            nearest, best = scores.argmax(axis=1), scores.max(axis=1)
            for index in np.unique(nearest):
                top = float(best[nearest == index].max())
                if top >= self.base[index]:
                    self.thresholds[index] = top + margin
                    raised[self.names[index]] = (self.base[index], self.thresholds[index])
        self.explicit = self.explicit or bool(raised)
        return raised

    def named(self, person: str, embeddings: np.ndarray) -> float:
        """The share of `embeddings` [N, E] this gallery names as `person` (nearest and accepted)."""
        scores, index = self.scores(embeddings), self.names.index(person)
        return float(np.mean((scores.argmax(axis=1) == index) & (scores[:, index] >= self.thresholds[index])))

    def nearest_other(self, person: str) -> tuple[str, float] | None:
        """The person whose centre is closest to `person`'s, and the cosine similarity of the two."""
        if len(self.names) < 2:
            return None
        index = self.names.index(person)
        similarity = self.centres[:, index] @ self.centres  # [C]
        similarity[index] = -np.inf
        other = int(similarity.argmax())
        return self.names[other], float(similarity[other])

    def model_info(self, parent: ModelInfo) -> ModelInfo:
        """The parent's ModelInfo with these people, thresholds and records."""
        extra = {**parent.extra, ENROLLED_KEY: self.enrolled, SOURCES_KEY: dict(sorted(self.sources.items())),
                 STRANGERS_KEY: sorted(self.strangers), "exported_at": time.time()}
        extra.pop(BASE_KEY, None)
        if self.explicit:
            extra[BASE_KEY] = dict(zip(self.names, self.base))
        return dataclasses.replace(parent, class_names=tuple(self.names), extra=extra,
                                   class_thresholds=tuple(self.thresholds) if self.explicit else ())
