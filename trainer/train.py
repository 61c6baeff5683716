"""`python -m trainer train`: fit the CNN on prepared records; resumes an interrupted run."""

from __future__ import annotations

import sys
from pathlib import Path

from trainer.config import add_config_arguments, load_config


def add_arguments(parser) -> None:
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--run", type=Path, required=True,
                        help="folder for this run's model, logs and checkpoints; "
                             "an interrupted run resumes from its last epoch")
    add_config_arguments(parser)


def main(args) -> int:
    try:
        config = load_config(args.config, args.overrides)
    except (OSError, ValueError) as exc:
        print(f"error: bad config: {exc}", file=sys.stderr)
        return 2
    from trainer.training import RunConfigChanged, RunFinished, train  # TensorFlow only from here

    try:
        train(config, args.records, args.run)
    except (FileNotFoundError, RunFinished, RunConfigChanged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model: {Path(args.run) / 'model.keras'}")
    return 0
