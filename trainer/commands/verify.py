"""`python -m trainer verify --version DIR`: would TF Serving load this version and answer it?

The check the registry runs, in a fresh process, before a version is published or restored
(trainer/publishing/servable.py): every signature under TF Serving's batching rules, and the
version's warm-up requests replayed; then every signature run in a TensorFlow session, the way
TF Serving runs it (trainer/publishing/loadcheck.py). Exit status 0 if it passes, 3 (refused)
with the reason if not.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--version", type=Path, required=True,
                        help="a version folder (holding saved_model.pb); `-`: read it from stdin once "
                             "TensorFlow is loaded (the registry starts the check before the export ends)")
    parser.add_argument("--max-batch-size", type=int, default=None,
                        help="TF Serving's max_batch_size (default: TensorFlow's, 1000)")


def main(args) -> int:
    from trainer.publishing.loadcheck import check_session
    from trainer.publishing.servable import MAX_BATCH_SIZE, check_version  # TensorFlow from here

    version = Path(sys.stdin.readline().strip()) if str(args.version) == "-" else args.version
    replayed = check_version(version, args.max_batch_size or MAX_BATCH_SIZE)
    signatures = check_session(version)
    print(f"{version}: loads as TF Serving would; every signature batches; "
          f"{replayed} warm-up requests replayed; {signatures} signatures run in a TensorFlow session")
    return 0
