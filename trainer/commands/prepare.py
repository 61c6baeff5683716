"""`python -m trainer prepare`: detect faces and write face-crop TFRecords."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from trainer.config import add_config_arguments, load_config


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with one sub-folder per person")
    parser.add_argument("--out", type=Path, required=True, help="folder for TFRecords and manifest.json")
    parser.add_argument("--workers", type=int, help="processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="replace a different dataset in --out")
    add_config_arguments(parser)


def main(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    config = load_config(args.config, args.overrides)
    from trainer.data import manifest
    from trainer.data.preparation import prepare  # TensorFlow only if records are (re)written

    result = prepare(args.data, args.out, config, workers=args.workers, force=args.force)
    manifest.print_summary(result, sys.stdout)
    return 0 if result["class_names"] else 1
