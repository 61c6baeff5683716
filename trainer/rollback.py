"""`python -m trainer rollback`: publish a copy of the previous version as the newest one."""

from __future__ import annotations

import sys
from pathlib import Path

from trainer import registry
from trainer.config import add_config_arguments, load_config


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    add_config_arguments(parser)


def main(args) -> int:
    try:
        config = load_config(args.config, args.overrides).publish
        version, restored = registry.rollback(Path(args.models) / config.model_name, config.keep)
    except registry.NothingToRollBack as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"version {version} now serves the model of version {restored}")
    return 0
