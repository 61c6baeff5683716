"""Listing a photo folder laid out as DATA/<person>/<photos...>."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facecore.datafolder import is_hidden

# Only for the manifest's sake: a folder named like a photo is listed (and then reported as
# unreadable), since a user may take it for one. Files are inputs whatever their suffix.
_PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})



@dataclass(frozen=True)
class Item:
    path: Path
    source: str  # relative to the data folder, with forward slashes
    person: str


@dataclass
class Listing:
    """Every file under the person folders, plus what was not an input and why."""

    root: Path
    files: list[Item] = field(default_factory=list)  # with anything else a user may take for a photo
    ignored: list[str] = field(default_factory=list)  # files beside the person folders, hidden files
    empty_classes: list[str] = field(default_factory=list)


def scan(root: Path) -> Listing:
    """All files of all person folders, sorted; every file is an input, whatever its suffix."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"data folder {root} is not a folder")
    listing = Listing(root)
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not is_hidden(entry.relative_to(root)):
            _scan_person(entry, listing)
        else:
            listing.ignored.append(entry.name)
    return listing


def _scan_person(folder: Path, listing: Listing) -> None:
    found = False
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(listing.root).as_posix()
        if is_hidden(path.relative_to(folder)):
            listing.ignored.append(relative)
        elif path.is_file() or _looks_like_input(path):
            listing.files.append(Item(path, relative, folder.name))
            found = True
    if not found:
        listing.empty_classes.append(folder.name)


def _looks_like_input(path: Path) -> bool:
    """A symlink (broken, looping or to a folder), a FIFO or device, or a folder named like a photo:
    listed so that the manifest reports it, though only regular files are ever read."""
    if path.is_symlink() or not path.is_dir():
        return True
    return path.suffix.lower() in _PHOTO_SUFFIXES
