"""`python -m trainer train`: fit the CNN on prepared records; resumes an interrupted run."""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config


def add_arguments(parser) -> None:
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--run", type=Path, required=True,
                        help="folder for this run's model, logs and checkpoints; "
                             "an interrupted run resumes from its last epoch")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    from trainer.model.training import train  # TensorFlow only from here

    train(config, args.records, args.run)
    print(f"model: {Path(args.run) / 'model.keras'}")
    return 0
