"""`python -m trainer enrol`: publish a version that also knows one person, from a few photos, without training.

The largest face of each photo in --photos is cropped as training does; the newest version's
own network describes them, and their mean becomes the person's centre in a new version,
published under the model folder's lock, behind the quality gate and TF Serving's load check
(trainer/publishing/enrolment.py). TF Serving and the service pick it up at their next poll.
The photos used are kept in WORK/enrolled/<person>/ (the work folder `trainer run` uses), or with
--data in DATA/<person>/, so the next scheduled run keeps the person.
"""

from __future__ import annotations

from pathlib import Path

from trainer.commands.run import work_dir
from trainer.config import add_config_arguments, load_config
from trainer.errors import EXIT_OK


def add_arguments(parser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--person", required=True, help="the person's name (a plain folder name)")
    parser.add_argument("--photos", type=Path, required=True, help="folder of photos of that person only")
    parser.add_argument("--work", type=Path, help="the trainer's work folder, where the photos used are kept "
                        "for the next run (default: $TRAINER_WORK_DIR, else MODELS/.trainer-work)")
    parser.add_argument("--data", type=Path, help="keep the photos used in DATA/<person>/ instead (a writable "
                        "photo folder)")
    parser.add_argument("--min-photos", type=int, default=3, help="fewest photos with a usable face (default 3)")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    from trainer.publishing.enrolment import enrol_person  # TensorFlow from here

    result = enrol_person(args.models, args.person, args.photos, config.publish, work_dir(args), args.min_photos,
                          config.prepare.min_face_size, args.data)
    for path, reason in result.refused.items():
        print(f"skipped {path}: {reason}")
    print(f"published {Path(args.models) / config.publish.model_name / str(result.version)}: {args.person} "
          f"from {len(result.used)} photos, named on {result.named:.0%} of them")
    if result.nearest_other is not None:
        name, similarity = result.nearest_other
        print(f"closest other person: {name} (centre similarity {similarity:.3f})")
    return EXIT_OK
