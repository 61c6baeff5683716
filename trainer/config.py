"""The trainer's configuration: one frozen dataclass tree, defaults here, a TOML file and
`--set section.key=value` overrides on top. The resolved config is saved with every output.

Containers set two of these through the environment: `TRAINER_CONFIG` (the TOML file, or the
name of one in trainer/configs/, e.g. `quick`) when no `--config` is given, and `MODEL_NAME`
(publish.model_name), the name TF Serving and the service use too.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from facecore.detect import DetectorParams
from facecore.modelinfo import DEFAULT_MIN_FACE_SIZE
from facecore.preprocess import PreprocessSpec
from trainer.configs import CONFIG_DIR


@dataclass(frozen=True)
class SplitConfig:
    """Train/validation/test fractions; the split of a photo is a hash of its pixels and `seed`."""

    train: float = 0.70
    validation: float = 0.15
    test: float = 0.15
    seed: str = "faceid-split-v1"

    def __post_init__(self) -> None:
        parts = (self.train, self.validation, self.test)
        if min(parts) < 0 or abs(sum(parts) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {parts}")


@dataclass(frozen=True)
class PrepareConfig:
    """How photos become records."""

    min_per_class: int = 5
    min_face_size: int = DEFAULT_MIN_FACE_SIZE
    shard_size: int = 256
    workers: int = 0  # 0: one process per core


OPTIMIZERS = ("sgd", "adam", "adamw")
BACKBONES = ("descriptor", "scratch")
DESCRIPTOR_TRAINING = ("centres", "head", "last_stage")
HEADS = ("cosine", "softmax")
THRESHOLD_RULES = ("global", "person")
SCHEDULES = ("constant", "step", "exponential", "inverse_time", "cosine")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_float16")


def _check_choice(section: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"[{section}] {key} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The network. `backbone` `descriptor` (the default): the pretrained face descriptor
    (trainer/model/descriptor.py) with a cosine head whose person centres are the mean
    descriptors of each person's training faces; `descriptor_training` says what is then
    trained: nothing (`centres`), the head (`head`), or the head and the last stage
    (`last_stage`). `scratch`: the course's CNN trained from scratch (trainer/configs/scratch.toml):
    `depth` blocks of `convs_per_block` conv-BN-ReLU, then pooling; filters start at `width` and
    double per block up to `max_width`."""

    backbone: str = "descriptor"
    descriptor_training: str = "centres"
    width: int = 16
    depth: int = 4
    convs_per_block: int = 2
    max_width: int = 256
    embedding_size: int = 128
    dropout: float = 0.2
    l2: float = 0.0  # L2 penalty on conv and dense kernels (coupled weight decay)
    flip_average: bool = False  # the exported model averages each face with its mirror image
    head: str = "cosine"  # cosine: CosFace head, scores are cosine similarities; softmax: dense + softmax
    cosine_scale: float = 30.0  # cosine head: logits = scale * similarity
    cosine_margin: float = 0.35  # cosine head: additive margin on the true person's similarity

    def __post_init__(self) -> None:
        _check_choice("model", "backbone", self.backbone, BACKBONES)
        _check_choice("model", "descriptor_training", self.descriptor_training, DESCRIPTOR_TRAINING)
        _check_choice("model", "head", self.head, HEADS)
        if self.cosine_scale <= 0 or not 0.0 <= self.cosine_margin < 1.0:
            raise ValueError(f"[model] cosine_scale must be > 0 and cosine_margin in [0, 1): {self}")
        if min(self.width, self.depth, self.convs_per_block, self.embedding_size) < 1:
            raise ValueError(f"[model] width, depth, convs_per_block, embedding_size must be >= 1: {self}")
        if not 0.0 <= self.dropout < 1.0 or self.l2 < 0:
            raise ValueError(f"[model] dropout must be in [0, 1) and l2 >= 0: {self}")


@dataclass(frozen=True)
class AugmentConfig:
    """Random changes to training inputs; ranges are fractions (rotation: of a full turn)."""

    flip: bool = True
    rotation: float = 0.03
    shift: float = 0.08
    zoom: float = 0.10
    brightness: float = 0.10
    contrast: float = 0.20
    noise: float = 0.03  # Gaussian noise std, as a fraction of the input value range

    def __post_init__(self) -> None:
        values = (self.rotation, self.shift, self.zoom, self.brightness, self.contrast, self.noise)
        if min(values) < 0 or max(values) >= 1:
            raise ValueError(f"[augment] ranges must be in [0, 1): {self}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, stopping, reproducibility and devices."""

    epochs: int = 90
    batch_size: int = 16
    optimizer: str = "adamw"
    learning_rate: float = 2e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 1e-3  # decoupled, applied by the optimizer
    schedule: str = "cosine"
    warmup_epochs: int = 3  # cosine only
    decay_epochs: float = 15.0  # step, exponential, inverse_time: epochs per decay period
    decay_rate: float = 0.5
    label_smoothing: float = 0.1
    class_weights: bool = True  # weight classes by inverse frequency
    patience: int = 20  # early stopping on validation loss; 0: never stop early
    seed: int = 1234
    deterministic: bool = True  # op determinism: same seed, same weights (slower on GPU)
    precision: str = "auto"  # auto: mixed_float16 on GPU, float32 on CPU
    strategy: str = "auto"  # auto: multi_worker with TF_CONFIG, mirrored on >1 GPU, else one_device
    histogram_freq: int = 5  # epochs between TensorBoard weight histograms; 0: none

    def __post_init__(self) -> None:
        _check_choice("train", "optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("train", "schedule", self.schedule, SCHEDULES)
        _check_choice("train", "strategy", self.strategy, STRATEGIES)
        _check_choice("train", "precision", self.precision, PRECISIONS)
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(f"[train] epochs, batch_size and learning_rate must be positive: {self}")
        if not 0.0 <= self.label_smoothing < 1.0 or self.weight_decay < 0 or self.patience < 0:
            raise ValueError(f"[train] label_smoothing in [0, 1), weight_decay and patience >= 0: {self}")


@dataclass(frozen=True)
class OpenSetConfig:
    """How the unknown thresholds are chosen (trainer/evaluation/openset.py).

    `thresholds` `global` (the default): one threshold for everyone, the one that maximises
    validation faces named right and accepted plus impostors rejected, where the impostors are
    the calibration strangers and (with `impostors`) every known validation face scored as if
    its own person were not enrolled. `person`: each person's threshold accepts about
    `known_accept` of that person's validation faces the model names right, shrunk toward the
    pooled threshold with the weight of `prior_faces` faces; with strangers, the acceptance is
    chosen between `min_known_accept` and `known_accept` to maximise known faces named right
    plus strangers rejected. `stranger_seed` decides which stranger people calibrate and which
    only test.
    """

    thresholds: str = "global"
    impostors: bool = True
    known_accept: float = 0.95
    min_known_accept: float = 0.93
    prior_faces: float = 5.0
    stranger_seed: str = "faceid-openset-v1"

    def __post_init__(self) -> None:
        _check_choice("openset", "thresholds", self.thresholds, THRESHOLD_RULES)
        if not 0.0 < self.min_known_accept <= self.known_accept <= 1.0:
            raise ValueError(f"[openset] need 0 < min_known_accept <= known_accept <= 1: {self}")
        if self.prior_faces < 0:
            raise ValueError(f"[openset] prior_faces must be >= 0: {self}")


MIN_KEEP = 2  # [publish] keep: the newest version and one to fall back to


@dataclass(frozen=True)
class PublishConfig:
    """Where versions go and when one is refused."""

    model_name: str = "faces"
    keep: int = 5  # versions kept in <models>/<model_name>/; >= 2, so a rollback has one to go back to
    tolerance: float = 0.02  # largest macro-F1 drop against the published version accepted

    def __post_init__(self) -> None:
        if not self.model_name or "/" in self.model_name or self.model_name.startswith("."):
            raise ValueError(f"[publish] model_name must be a plain folder name, got {self.model_name!r}")
        # With one version kept, the version a rollback would restore, and the one TF Serving
        # could fall back to if a restart finds the newest unloadable, are already deleted.
        if self.keep < MIN_KEEP or self.tolerance < 0:
            raise ValueError(f"[publish] keep must be >= {MIN_KEEP} and tolerance >= 0: {self}")


@dataclass(frozen=True)
class TuneConfig:
    """Random search: each range [low, high] is sampled uniformly in log space."""

    trials: int = 12
    epochs: int = 12
    seed: int = 7
    learning_rate: tuple[float, float] = (3e-4, 1e-2)
    weight_decay: tuple[float, float] = (1e-5, 1e-2)
    dropout: tuple[float, float] = (0.1, 0.6)
    width: tuple[float, float] = (16, 64)

    def __post_init__(self) -> None:
        for name in ("learning_rate", "weight_decay", "dropout", "width"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"[tune] {name} must be [low, high] with 0 < low <= high")
            object.__setattr__(self, name, (low, high))


@dataclass(frozen=True)
class TrainerConfig:
    """Everything the trainer's commands can be told."""

    detector: DetectorParams = field(default_factory=DetectorParams)
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    split: SplitConfig = field(default_factory=SplitConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    openset: OpenSetConfig = field(default_factory=OpenSetConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    def __post_init__(self) -> None:
        if self.preprocess.align_landmarks and self.model.backbone != "descriptor":
            raise ValueError("preprocess.align_landmarks is the descriptor's alignment (the model cuts dlib's chip "
                             f"from a loose crop); the {self.model.backbone} backbone takes its faces as cropped: "
                             "set preprocess.align_landmarks = false and its crop (trainer/configs/scratch.toml)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: list[str] = (),
                base: TrainerConfig | None = None, environ: Mapping[str, str] = os.environ) -> TrainerConfig:
    """Defaults (or `base`), the TOML file at `path` (else $TRAINER_CONFIG), $MODEL_NAME, then
    `section.key=value` overrides."""
    values: dict[str, dict[str, Any]] = base.to_dict() if base is not None else {}
    path = path if path is not None else config_path(environ.get("TRAINER_CONFIG", "").strip() or None)
    if path is not None:
        with open(path, "rb") as handle:
            for section, settings in tomllib.load(handle).items():
                values.setdefault(section, {}).update(settings)
    if environ.get("MODEL_NAME", "").strip():
        values.setdefault("publish", {})["model_name"] = environ["MODEL_NAME"].strip()
    for override in overrides:
        section, key, value = _parse_override(override)
        values.setdefault(section, {})[key] = value
    return from_dict(values)


def config_path(name: str | None) -> Path | None:
    """A TOML file's path, or the packaged config of that name (`quick` -> trainer/configs/quick.toml)."""
    if name is None or Path(name).is_file():
        return Path(name) if name else None
    packaged = CONFIG_DIR / f"{name}.toml"
    if "/" not in name and packaged.is_file():
        return packaged
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    raise FileNotFoundError(f"TRAINER_CONFIG={name!r} is neither a file nor a packaged config ({known})")


def from_dict(values: dict[str, dict[str, Any]]) -> TrainerConfig:
    """Build a config from nested dicts, naming any unknown section or key."""
    sections = {f.name: f for f in dataclasses.fields(TrainerConfig)}
    unknown = set(values) - set(sections)
    if unknown:
        raise ValueError(f"unknown config section(s): {', '.join(sorted(unknown))}")
    built = {}
    for name, section in values.items():
        section_type = sections[name].default_factory
        keys = {f.name for f in dataclasses.fields(section_type)}
        bad = set(section) - keys
        if bad:
            raise ValueError(f"unknown key(s) in [{name}]: {', '.join(sorted(bad))}")
        defaults = section_type()
        built[name] = section_type(**{key: _typed(name, key, value, getattr(defaults, key))
                                      for key, value in section.items()})
    return TrainerConfig(**built)


def _typed(section: str, key: str, value: Any, default: Any) -> Any:
    """`value` as the type of the key's default (ints allowed for floats, lists for tuples)."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if default is not None and type(value) is not type(default):
        raise ValueError(f"[{section}] {key} must be of type {type(default).__name__}, got {value!r}")
    return value


def _parse_override(text: str) -> tuple[str, str, Any]:
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not key:
        raise ValueError(f"override {text!r} must look like section.key=value")
    raw = raw.strip()
    if raw in ("true", "false"):  # the TOML spelling the config files use; Python's True/False too
        return section, key, raw == "true"
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return section, key, value


def add_config_arguments(parser) -> None:
    """The `--config` and `--set` options every command shares."""
    parser.add_argument("--config", type=Path,
                        help="TOML file with config sections (default: $TRAINER_CONFIG, a file or a packaged name)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable), e.g. --set prepare.workers=1",
    )
