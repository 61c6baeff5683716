"""`python -m trainer weights`: fetch, check, convert and cache the pretrained networks' weights
(the face descriptor and the landmark network that aligns its faces).

Run once at install or image build (scripts/bootstrap.sh, trainer/Dockerfile) so training
never waits on the registry; a later call finds them cached and returns at once.
"""

from __future__ import annotations

from trainer.errors import EXIT_OK


def add_arguments(parser) -> None:
    parser.add_argument("--print-path", action="store_true", help="print only the cached files' paths, one per line")


def main(args) -> int:
    from trainer.model.descriptor_weights import PACKAGE, VERSION, ensure_weights

    for network, path in ensure_weights().items():
        print(path if args.print_path else f"{network} weights ({PACKAGE}@{VERSION}): {path}")
    return EXIT_OK
