"""The train/validation/test split: stratified per person, deterministic and stable.

Every photo is keyed by the hash of its pixels. A photo that was assigned before keeps its
split for good (assignments are stored with the dataset), so adding photos never moves
existing ones. New photos of a person are taken in the order of sha256(seed:pixel hash) and
each goes to the split furthest below its target share of that person's photos. The same
folder therefore always gives the same split, and every class gets its 70/15/15 share
as closely as its photo count allows (no shuffle, no random state).
"""

from __future__ import annotations

import hashlib

from trainer.config import SplitConfig

SPLITS = ("train", "validation", "test")
RULE = (
    "per person: kept photos keep their split; new photos in order of sha256(seed:pixel_sha256) "
    "each go to the split furthest below its target share"
)


def assignment_key(config: SplitConfig) -> str:
    """Assignments are valid for one seed and one set of fractions."""
    return f"{config.seed}:{config.train}:{config.validation}:{config.test}"


def assign(photos: list[str], known: dict[str, str], config: SplitConfig) -> dict[str, str]:
    """Split of each pixel hash in `photos` (one person's), keeping those in `known`."""
    targets = (config.train, config.validation, config.test)
    result = {h: known[h] for h in photos if h in known}
    counts = [sum(1 for s in result.values() if s == name) for name in SPLITS]
    new = sorted((h for h in set(photos) if h not in result), key=lambda h: _order(h, config.seed))
    total = len(result) + len(new)
    for pixel_hash in new:
        deficits = [target * total - count for target, count in zip(targets, counts)]
        chosen = max(range(len(SPLITS)), key=lambda i: (deficits[i], -i))
        counts[chosen] += 1
        result[pixel_hash] = SPLITS[chosen]
    return result


def _order(pixel_hash: str, seed: str) -> str:
    return hashlib.sha256(f"{seed}:{pixel_hash}".encode()).hexdigest()
