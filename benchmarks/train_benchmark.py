"""Input pipeline against training speed, printed as JSON.

    python benchmarks/train_benchmark.py --records DIR [--config F] [--set k=v ...] [--epochs N] [--out DIR]

- pipeline_first_epoch_images_per_s: decode + model_input + augmentation, cache cold;
- pipeline_images_per_s: later epochs (cached model inputs + augmentation), what training sees;
- train_images_per_s and seconds_per_epoch: `fit` on that same pipeline (after a warm-up epoch);
- ratio: pipeline_images_per_s / train_images_per_s (the pipeline must stay well ahead).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import recording


def pipeline_speed(dataset, epochs: int) -> tuple[float, float]:
    """Images per second of the first (cold) epoch and of the following ones."""
    rates = []
    for _ in range(epochs + 1):
        start, count = time.perf_counter(), 0
        for inputs, _ in dataset:
            count += int(inputs.shape[0])
        rates.append(count / (time.perf_counter() - start))
    return rates[0], sum(rates[1:]) / epochs


def training_speed(config, dataset, spec, class_counts: list[int], epochs: int) -> float:
    """Seconds per epoch of `fit`, after one warm-up epoch (tracing, cache filling)."""
    import keras
    import tensorflow as tf

    from trainer.model.network import build_model, classifier
    from trainer.model.optimizers import build_optimizer

    model = classifier(build_model(config.model, spec, len(class_counts)))
    steps = math.ceil(sum(class_counts) / config.train.batch_size)
    model.compile(build_optimizer(config.train, steps), keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    one_hot = dataset.map(lambda x, y: (x, tf.one_hot(y, len(class_counts))))
    model.fit(one_hot, epochs=1, shuffle=False, verbose=0)  # the pipeline shuffles
    start = time.perf_counter()
    model.fit(one_hot, epochs=epochs, shuffle=False, verbose=0)
    return (time.perf_counter() - start) / epochs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=Path, required=True, help="output folder of `prepare`")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)

    from trainer.data import manifest as manifest_io
    from trainer.model import devices
    from trainer.config import load_config
    from trainer.data.pipeline import make_dataset, model_spec

    config = load_config(args.config, args.overrides)
    devices.seed_everything(config.train.seed, config.train.deterministic)
    manifest = manifest_io.read(args.records)
    spec = model_spec(manifest, config)
    counts = [manifest["counts"]["train"]["per_class"][name] for name in manifest["class_names"]]

    def dataset():
        return make_dataset(args.records, "train", spec, config.train.batch_size, training=True,
                            seed=config.train.seed, augment=config.augment)

    cold, warm = pipeline_speed(dataset(), args.epochs)
    seconds = training_speed(config, dataset(), spec, counts, args.epochs)
    trained = sum(counts) / seconds
    recording.write({
        "images_per_epoch": sum(counts), "input_size": spec.input_size, "batch_size": config.train.batch_size,
        "model": dataclasses.asdict(config.model), "deterministic": config.train.deterministic,
        "pipeline_first_epoch_images_per_s": round(cold, 1), "pipeline_images_per_s": round(warm, 1),
        "train_images_per_s": round(trained, 1), "seconds_per_epoch": round(seconds, 2),
        "ratio": round(warm / trained, 1), "ratio_first_epoch": round(cold / trained, 1),
    }, args, name="train")


if __name__ == "__main__":
    main()
