"""The data folder's people and their photos (docs/people.md): listed, kept, deleted, set aside.

The folder's layout and its name rule are facecore/datafolder.py's, the trainer's too. A photo
is kept as px-<first 16 hex of its pixel hash>.<ext>: written to a hidden temporary file in its
folder, published with `os.link` (which fails if the name exists), then the temporary file is
removed, so a reader of the folder sees only whole files. Every change holds DATA/.people.lock
(an flock: threads and processes alike).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from facecore.datafolder import (
    NAME_RULE, STRANGERS, encoded_length, is_hidden, is_usable_name, request_retrain, set_aside, visible_files,
)
from service.pixelindex import HASH_PREFIX_HEX, PixelIndex

PHOTO_PREFIX = "px-"
LOCK_FILE = ".people.lock"
MAX_PHOTO_ID_BYTES = 1000  # a photo's path in its person's folder (well within PATH_MAX)


class PeopleError(Exception):
    """A request about people or photos that cannot be done; `members` add detail for clients."""

    def members(self) -> dict:
        return {}


class BadName(PeopleError):
    """Not usable as a person's name (a folder name) or a photo's."""


class NotFound(PeopleError):
    """No such person or photo in the data folder."""


class DataUnavailable(PeopleError):
    """The data folder cannot be written (missing, read-only, full)."""


class DuplicatePhoto(PeopleError):
    """A photo with the same pixels is kept already."""

    def __init__(self, person: str | None, photo: str) -> None:
        where = f"{person}'s photo {photo}" if person else f"the stranger photo {photo}"
        super().__init__(f"the same photo (same decoded pixels) is kept already, as {where}")
        self.person, self.photo = person, photo

    def members(self) -> dict:
        return {"existing": {"person": self.person, "photo": self.photo}}


def check_name(name: str, what: str = "a person's name") -> str:
    """`name` if it can be a plain folder or file name (facecore.datafolder.NAME_RULE, the trainer's too)."""
    if not is_usable_name(name):
        raise BadName(f"{name!r} cannot be {what} ({NAME_RULE})")
    return name


def photo_name(digest: str, extension: str) -> str:
    """The name a photo is kept under: px-<first 16 hex of its pixel hash>.<extension>."""
    return f"{PHOTO_PREFIX}{digest[:HASH_PREFIX_HEX]}.{extension}"


@dataclass(frozen=True)
class Kept:
    """Where a photo was kept: a person's (or None: a stranger's) photo `photo`."""

    person: str | None
    photo: str


class PhotoStore:
    """The people and photos under one data folder."""

    def __init__(self, root: Path, max_pixels: int) -> None:
        self.root = Path(root)
        self._index = PixelIndex(max_pixels)

    def people(self) -> dict[str, int]:
        """Each person's folder name and how many photos it holds."""
        return {folder.name: len(visible_files(folder)) for folder in _folders(self.root)}

    def photos(self, person: str) -> list[tuple[str, int]]:
        """(photo id, bytes) of each of a person's photos, by id; NotFound without a folder. A photo's
        id is its path in the person's folder (photos in subfolders count, as in training)."""
        folder = self._person(person)
        if not folder.is_dir():
            raise NotFound(f"no folder of {person} in the data folder")
        return [(_photo_id(folder, path), path.stat().st_size) for path in visible_files(folder)]

    def photo(self, person: str, photo: str) -> Path:
        """The file of one photo; NotFound if there is none."""
        if encoded_length(photo) > MAX_PHOTO_ID_BYTES:
            raise BadName(f"a photo id is at most {MAX_PHOTO_ID_BYTES} bytes")
        path = self._person(person).joinpath(*(check_name(part, "a photo id") for part in photo.split("/")))
        if not path.is_file():
            raise NotFound(f"{person} has no photo {photo}")
        return path

    def keep(self, person: str | None, data: bytes, digest: str, extension: str) -> Kept:
        """Keep a photo of `person` (None: a stranger) unless one with the same pixels is kept anywhere."""
        name = photo_name(digest, extension)
        folder = self._person(person) if person else self.root / STRANGERS / Path(name).stem
        with self._writing():
            self._index.refresh(self._kept_photos())  # the slow part (decoding new files) before the lock
        with self._writing(), self._locked():
            same = self._index.find(digest, self._kept_photos())
            if same is not None:
                raise DuplicatePhoto(*self._owner(same))
            folder.mkdir(parents=True, exist_ok=True)
            _publish(folder, name, data, person)
        return Kept(person, name)

    def delete_photo(self, person: str, photo: str) -> None:
        with self._writing(), self._locked():
            self.photo(person, photo).unlink()

    def remove_person(self, person: str) -> Path:
        """Move a person's folder to DATA/.removed/<name>-<UTC time>/; return where it went."""
        folder = self._person(person)
        with self._writing(), self._locked():
            aside = set_aside(folder)
        if aside is None:
            raise NotFound(f"no folder of {person} in the data folder")
        return aside

    def request_retrain(self, now: float) -> None:
        """Write DATA/.retrain-requested, whole or not at all."""
        with self._writing():
            request_retrain(self.root, now, by="api")

    def _person(self, person: str) -> Path:
        return self.root / check_name(person)

    def _kept_photos(self) -> Iterator[Path]:
        """Every photo in the data folder: people's and strangers'."""
        for folder in [*_folders(self.root), self.root / STRANGERS]:
            yield from visible_files(folder)

    def _owner(self, path: Path) -> tuple[str | None, str]:
        """Whose photo `path` is (None: a stranger's), and its id."""
        person, *_ = path.relative_to(self.root).parts
        return (None, path.name) if person == STRANGERS else (person, _photo_id(self.root / person, path))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """OSErrors of the data folder become DataUnavailable (a 503, never a traceback)."""
        try:
            yield
        except OSError as exc:
            raise DataUnavailable(f"the data folder {self.root} cannot be written: {exc.strerror or exc}") from exc


def _publish(folder: Path, name: str, data: bytes, person: str | None) -> None:
    """Write `data` as folder/name: a hidden temporary file, linked to its name, then removed."""
    partial = folder / f".{name}.{uuid.uuid4().hex}.partial"
    _write_whole(partial, data)
    try:
        os.link(partial, folder / name)
    except FileExistsError:
        raise DuplicatePhoto(person, name) from None
    finally:
        partial.unlink(missing_ok=True)


def _write_whole(path: Path, data: bytes) -> None:
    with open(path, "xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _folders(root: Path) -> list[Path]:
    """The people's folders."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p.relative_to(root)))


def _photo_id(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()
