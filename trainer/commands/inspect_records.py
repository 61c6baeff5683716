"""`python -m trainer inspect`: print a prepared dataset's counts and write a contact sheet PNG."""

from __future__ import annotations

import sys
from pathlib import Path

from trainer.data import manifest
from trainer.data.contact_sheet import contact_sheet, sample_crops


def add_arguments(parser) -> None:
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--split", default="train", choices=("train", "validation", "test"))
    parser.add_argument("--per-class", type=int, default=8, help="crops shown per class")
    parser.add_argument("--sheet", type=Path, help="PNG to write (default RECORDS/contact_sheet.png)")


def main(args) -> int:
    dataset = manifest.read(args.records)
    manifest.print_summary(dataset, sys.stdout)
    from trainer.data.records import read_split  # TensorFlow only once there is something to read

    samples = sample_crops(read_split(args.records, args.split), dataset["class_names"], args.per_class)
    sheet = contact_sheet(samples, dataset["crop_size"])
    path = args.sheet or Path(args.records) / "contact_sheet.png"
    sheet.save(path)
    print(f"\ncontact sheet of the {args.split} split: {path}")
    return 0
