"""`python -m trainer tune`: random search over learning rate, weight decay, dropout and width.

Each trial is a training run in OUT/trial-<n>/; a trial already trained is scored, not retrained.
"""

from __future__ import annotations

from pathlib import Path

from trainer.config import add_config_arguments, load_config


def add_arguments(parser) -> None:
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--out", type=Path, required=True, help="folder for the trials and tune.json")
    parser.add_argument("--top", type=int, default=3, help="best configs to print")
    add_config_arguments(parser)


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    from trainer.evaluation.tune import overrides, search  # TensorFlow from here

    results = search(config, args.records, args.out)
    print("\nbest configs (validation macro-F1):")
    for result in results[: args.top]:
        print(f"  {result['val_macro_f1']:.4f}  " + " ".join(f"--set {o}" for o in overrides(result)))
    print(f"\nall trials: {Path(args.out) / 'tune.json'}")
    return 0
