"""Print a prepared dataset's counts and write a contact sheet PNG of sample crops per class."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from trainer import manifest as manifest_io

LABEL_WIDTH = 220


def add_arguments(parser) -> None:
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--split", default="train", choices=("train", "validation", "test"))
    parser.add_argument("--per-class", type=int, default=8, help="crops shown per class")
    parser.add_argument("--sheet", type=Path, help="PNG to write (default RECORDS/contact_sheet.png)")


def main(args) -> int:
    try:
        manifest = manifest_io.read(args.records)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest_io.print_summary(manifest, sys.stdout)
    from trainer.records import read_split  # TensorFlow only once there is something to read

    samples = sample_crops(read_split(args.records, args.split), manifest["class_names"], args.per_class)
    sheet = contact_sheet(samples, manifest["crop_size"])
    path = args.sheet or Path(args.records) / "contact_sheet.png"
    sheet.save(path)
    print(f"\ncontact sheet of the {args.split} split: {path}")
    return 0


def sample_crops(records: list[dict], class_names: list[str], per_class: int) -> dict[str, list[np.ndarray]]:
    """Up to `per_class` crops of each class, in record order."""
    samples: dict[str, list[np.ndarray]] = {name: [] for name in class_names}
    for record in records:
        chosen = samples.setdefault(record["class_name"], [])
        if len(chosen) < per_class:
            chosen.append(record["image"])
    return samples


def contact_sheet(samples: dict[str, list[np.ndarray]], crop_size: int) -> Image.Image:
    """One row per class: its name, then its crops side by side."""
    columns = max([len(crops) for crops in samples.values()] + [1])
    sheet = Image.new("RGB", (LABEL_WIDTH + columns * crop_size, max(1, len(samples)) * crop_size), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, crops) in enumerate(samples.items()):
        top = row * crop_size
        draw.text((6, top + crop_size // 2 - 6), f"{name} ({len(crops)})", fill="black")
        for column, crop in enumerate(crops):
            sheet.paste(Image.fromarray(crop), (LABEL_WIDTH + column * crop_size, top))
    return sheet
