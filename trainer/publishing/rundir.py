"""The layout of a training run's folder: what `train` writes and `evaluate`/`export` read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from facecore.modelinfo import ModelInfo
from facecore.preprocess import PreprocessSpec
from trainer.config import TrainerConfig, from_dict
from trainer.jsonfiles import write_json


@dataclass(frozen=True)
class RunDir:
    """RUN/config.json, dataset.json, model.keras, history.csv, curves.png, report.json, ..."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / "config.json")  # resolved TrainerConfig
    dataset = property(lambda self: self.root / "dataset.json")  # class names, specs, records
    model = property(lambda self: self.root / "model.keras")  # the trained model (best epoch)
    history = property(lambda self: self.root / "history.csv")  # one row per epoch
    curves = property(lambda self: self.root / "curves.png")
    checkpoints = property(lambda self: self.root / "checkpoints")  # resume state, best weights
    tensorboard = property(lambda self: self.root / "tensorboard")
    report = property(lambda self: self.root / "report.json")  # from `evaluate`
    confusion = property(lambda self: self.root / "confusion.png")
    centres = property(lambda self: self.root / "centres.json")  # the training faces' concentration (descriptor)
    people = property(lambda self: self.root / "people.json")  # its sources, strangers, lifted thresholds (retrain)

    def write_json(self, path: Path, value: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(path, value, sort_keys=True)

    def read_json(self, path: Path) -> dict:
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: is {self.root} a finished `train` run?")
        return json.loads(path.read_text())

    def read_config(self) -> TrainerConfig:
        return from_dict(self.read_json(self.config))

    def model_info(self, unknown_threshold: float = 0.0, class_thresholds=(), extra: dict | None = None) -> ModelInfo:
        """The ModelInfo of this run's model, from dataset.json."""
        dataset = self.read_json(self.dataset)
        return ModelInfo.from_dict({"class_names": dataset["class_names"], "preprocess": dataset["preprocess"],
                                    "detector": dataset["detector"], "unknown_threshold": unknown_threshold,
                                    "class_thresholds": list(class_thresholds), "extra": extra or {}})


def dataset_record(records_dir: Path, manifest: dict, spec: PreprocessSpec) -> dict:
    """What dataset.json holds: where the data came from and how a model input is made."""
    return {
        "records_dir": str(Path(records_dir).resolve()),
        "data_dir": manifest.get("data_dir"),
        "class_names": manifest["class_names"],
        "counts": manifest["counts"],
        "preprocess": spec.to_dict(),
        "detector": manifest["detector"],
    }
