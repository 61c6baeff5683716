"""A contact sheet: sample crops of every class in one PNG, to see what the records hold."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

LABEL_WIDTH = 220


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
