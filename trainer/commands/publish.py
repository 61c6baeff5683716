"""`python -m trainer publish`: export an evaluated run into `<models>/<name>/<next version>/`.

Refused (exit 3) when the run's test macro-F1 is below the published version's by more than
[publish] tolerance, unless --force. Keeps the newest [publish] keep versions.
"""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config
from trainer.publishing.rundir import RunDir


def add_arguments(parser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="an evaluated `train` run folder")
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--force", action="store_true", help="publish even if the quality gate refuses")
    add_config_arguments(parser)


def main(args) -> int:
    base = RunDir(args.run).read_config()
    config = load_config(args.config, args.overrides, base=base).publish
    from trainer.publishing.release import publish_run  # TensorFlow (the export) from here

    version = publish_run(args.run, args.models, config, force=args.force)
    print(f"published {Path(args.models) / config.model_name / str(version)}")
    return 0
