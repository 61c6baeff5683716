"""`python -m trainer export`: export an evaluated training run as a SavedModel."""

from __future__ import annotations

from pathlib import Path

from trainer.errors import BadInput


def add_arguments(parser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="an evaluated `train` run folder")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the SavedModel")
    parser.add_argument("--model-name", default="faces", help="model name in the warm-up requests")


def main(args) -> int:
    if args.out.exists() and any(args.out.iterdir()):
        raise BadInput(f"{args.out} is not empty; choose a new folder")
    from trainer.publishing.export import export_run  # TensorFlow from here

    info = export_run(args.run, args.out, args.model_name)
    print(f"exported {len(info.class_names)} classes, input {info.input_shape}, "
          f"unknown threshold {info.unknown_threshold:.4f} to {args.out}")
    return 0
