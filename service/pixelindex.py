"""Which kept photo has given pixels: the duplicate check of the people store.

Photos are compared by the SHA-256 of their decoded pixels (facecore.images.pixel_hash), on its
first HASH_PREFIX_HEX hex digits: the part a photo kept through the API carries in its name
(px-<digits>.<ext>), so those are never decoded; any other photo is decoded once and its hash
remembered for as long as its (path, size, mtime) stay the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

from facecore.errors import ImageError
from facecore.images import decode_image, pixel_hash

log = logging.getLogger(__name__)

HASH_PREFIX_HEX = 16
_KEPT_NAME = re.compile(rf"px-([0-9a-f]{{{HASH_PREFIX_HEX}}})\.[A-Za-z0-9]+")


class PixelIndex:
    """Pixel-hash prefixes of photo files, cached per (path, size, mtime)."""

    def __init__(self, max_pixels: int) -> None:
        self._max_pixels = max_pixels
        self._seen: dict[Path, tuple[tuple[int, int], str | None]] = {}

    def refresh(self, photos: Iterable[Path]) -> None:
        """Hash those of `photos` that are new or changed; forget files no longer among them."""
        entries = ((path, self._entry(path)) for path in photos)
        self._seen = {path: entry for path, entry in entries if entry is not None}

    def find(self, digest: str, photos: Iterable[Path]) -> Path | None:
        """The first of `photos` whose pixels hash like `digest`, or None."""
        self.refresh(photos)
        wanted = digest[:HASH_PREFIX_HEX]
        return next((path for path, (_, prefix) in self._seen.items() if prefix == wanted), None)

    def _entry(self, path: Path) -> tuple[tuple[int, int], str | None] | None:
        named = _KEPT_NAME.fullmatch(path.name)
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while the folder was listed
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        if named:
            return key, named.group(1)
        cached = self._seen.get(path)
        if cached is not None and cached[0] == key:
            return cached
        return key, self._digest(path)

    def _digest(self, path: Path) -> str | None:
        """The hash prefix of a photo file; None for a file that is no photo (it equals none)."""
        try:
            return pixel_hash(decode_image(path.read_bytes(), self._max_pixels))[:HASH_PREFIX_HEX]
        except (ImageError, OSError) as exc:
            log.info("not comparing %s with new photos: %s", path, exc)
            return None
