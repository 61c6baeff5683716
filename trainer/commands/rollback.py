"""`python -m trainer rollback`: publish a copy of the previous version as the newest one.

It holds the model folder's lock like a publish (waiting for one in progress) and, like a
publish, renames the copy into place only once TF Serving would load it.
"""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config
from trainer.publishing import registry
from trainer.publishing.loadcheck import check_in_fresh_process


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides).publish
    version, restored = registry.rollback(Path(args.models) / config.model_name, config.keep,
                                          verify=check_in_fresh_process)
    print(f"version {version} now serves the model of version {restored}")
    return 0
