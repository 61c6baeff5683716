"""`python -m trainer remove`: publish a version that no longer knows one person, without training.

Published like any version (lock, load check; trainer/publishing/enrolment.py). The person's
photos are moved aside, WORK/enrolled/<person>/ to WORK/enrolled/.removed/<person>-<time>/ and,
with --data, DATA/<person>/ to DATA/.removed/..., so the next scheduled run does not bring the
person back; delete those folders to drop the photos for good.
"""

from __future__ import annotations

from pathlib import Path

from trainer.commands.run import work_dir
from trainer.config import add_config_arguments, load_config
from trainer.errors import EXIT_OK


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--person", required=True, help="the person to forget")
    parser.add_argument("--work", type=Path, help="the trainer's work folder (default: $TRAINER_WORK_DIR, "
                        "else MODELS/.trainer-work)")
    parser.add_argument("--data", type=Path, help="also move DATA/<person>/ aside (a writable photo folder)")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    from trainer.publishing.enrolment import remove_person  # TensorFlow from here

    version = remove_person(args.models, args.person, config.publish, work_dir(args), args.data)
    print(f"published {Path(args.models) / config.publish.model_name / str(version)} without {args.person}")
    return EXIT_OK
