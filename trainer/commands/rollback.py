"""`python -m trainer rollback`: publish a copy of the previous version as the newest one."""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config
from trainer.publishing import registry


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides).publish
    version, restored = registry.rollback(Path(args.models) / config.model_name, config.keep)
    print(f"version {version} now serves the model of version {restored}")
    return 0
