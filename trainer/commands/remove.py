"""`python -m trainer remove`: publish a version that no longer knows one person, without training.

Published like any version (lock, load check; trainer/publishing/enrolment.py). With --data,
DATA/<person>/ is moved to DATA/.removed/<person>-<time>/, so the next scheduled run does
not bring the person back; delete that folder to drop the photos for good.
"""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config
from trainer.errors import EXIT_OK


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--person", required=True, help="the person to forget")
    parser.add_argument("--data", type=Path, help="the scheduled run's photo folder: DATA/<person>/ is moved aside")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    from trainer.publishing.enrolment import remove_person  # TensorFlow from here

    version = remove_person(args.models, args.person, config.publish, args.data)
    print(f"published {Path(args.models) / config.publish.model_name / str(version)} without {args.person}")
    return EXIT_OK
