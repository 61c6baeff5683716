"""The contract between an exported model and its clients.

An exported SavedModel has two signatures:
- `serving_default`: input `faces` float32 [N, S, S, channels] (see `preprocess.model_input`);
  outputs `probabilities` float32 [N, C], `embedding` float32 [N, D], and the open-set rule's
  `score` and `threshold` float32 [N]: a face is unknown when its score is below its threshold
  (`is_unknown`; the rule is trainer/evaluation/openset.py's `decide`, baked into the graph).
- `explain` (models exported since issue #22): input `faces` as `serving_default`'s; its outputs
  and `heatmap` float32 [N, S, S] in 0..1, where in each input the network looked for the person
  it named (trainer/model/saliency.py; 1 at the peak). Batched like the others, so TF Serving
  serves it; the service calls it instead of `serving_default` when a caller asks `explain=true`.
- `metadata`: input `rows` int32 [N] (values ignored); output `model_info` string [N], each
  row `ModelInfo` as JSON. It takes an input and answers per row only because TF Serving's
  batching (`--enable_batching`) refuses a call without an input tensor and splits every
  output along its first dimension; clients send one row (`metadata_inputs()`).
The same JSON is also written to `assets.extra/model_info.json` for people and tools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from facecore.detect import DetectorParams
from facecore.preprocess import PreprocessSpec

SERVING_SIGNATURE = "serving_default"
METADATA_SIGNATURE = "metadata"
EXPLAIN_SIGNATURE = "explain"
HEATMAP_KEY = "heatmap"
INPUT_KEY = "faces"
PROBABILITIES_KEY = "probabilities"
EMBEDDING_KEY = "embedding"
CLASS_SCORES_KEY = "class_scores"  # the Keras model's per-class scores (not exported)
SCORE_KEY = "score"
THRESHOLD_KEY = "threshold"
METADATA_INPUT_KEY = "rows"
MODEL_INFO_KEY = "model_info"
MODEL_INFO_FILE = "model_info.json"
UNKNOWN_LABEL = "unknown"
# ModelInfo.extra keys the trainer writes and the service reads.
TRAIN_CONFIG_KEY = "train_config"  # the resolved trainer config the version was trained with
ENROLLED_KEY = "enrolled"  # {person: {"photos": n, "after_version": v}}: people given a centre without training
# The smallest face (pixels wide and high) training takes: the trainer's `prepare.min_face_size`
# default (trainer/config.py), and what a model whose metadata carries no training config needs.
DEFAULT_MIN_FACE_SIZE = 40


@dataclass(frozen=True)
class ModelInfo:
    """What a client needs to use a model: labels, preprocessing, detector and threshold."""

    class_names: tuple[str, ...]
    preprocess: PreprocessSpec = PreprocessSpec()
    detector: DetectorParams = DetectorParams()
    unknown_threshold: float = 0.0  # the pooled threshold; a person's own is in class_thresholds
    class_thresholds: tuple[float, ...] = ()  # per class; empty: unknown_threshold for every class
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ValueError("a model needs at least one class name")
        if UNKNOWN_LABEL in self.class_names:
            raise ValueError(f"'{UNKNOWN_LABEL}' is reserved and cannot be a class name")
        if self.class_thresholds and len(self.class_thresholds) != len(self.class_names):
            raise ValueError(f"{len(self.class_thresholds)} class thresholds for {len(self.class_names)} classes")

    def thresholds(self) -> tuple[float, ...]:
        """Each class's unknown threshold, in class order."""
        return self.class_thresholds or (self.unknown_threshold,) * len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        size = self.preprocess.input_size
        return (size, size, self.preprocess.channels)

    @property
    def min_face_size(self) -> int:
        """The smallest face (pixels, width and height) the model's training took."""
        prepare = self.extra.get(TRAIN_CONFIG_KEY, {}).get("prepare", {})
        return int(prepare.get("min_face_size", DEFAULT_MIN_FACE_SIZE))

    def to_dict(self) -> dict:
        return {
            "class_names": list(self.class_names),
            "preprocess": self.preprocess.to_dict(),
            "detector": self.detector.to_dict(),
            "unknown_threshold": self.unknown_threshold,
            "class_thresholds": list(self.class_thresholds),
            "extra": self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelInfo":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, values: dict) -> "ModelInfo":
        """The ModelInfo of a `to_dict`; settings not given take their defaults."""
        return cls(
            class_names=tuple(values["class_names"]),
            preprocess=PreprocessSpec.from_dict(values.get("preprocess", {})),
            detector=DetectorParams.from_dict(values.get("detector", {})),
            unknown_threshold=float(values.get("unknown_threshold", 0.0)),
            class_thresholds=tuple(float(v) for v in values.get("class_thresholds", ())),
            extra=dict(values.get("extra", {})),
        )


def is_unknown(score, threshold) -> np.ndarray:
    """The open-set decision on the serving signature's `score` and `threshold` outputs [N]."""
    return np.asarray(score) < np.asarray(threshold)


def metadata_inputs() -> dict[str, np.ndarray]:
    """The inputs of one `metadata` call: a single row."""
    return {METADATA_INPUT_KEY: np.zeros((1,), np.int32)}  # [N=1]


def info_from_output(model_info) -> ModelInfo:
    """The ModelInfo from a `metadata` call's `model_info` output (string [N], every row equal)."""
    rows = np.asarray(model_info).reshape(-1)
    if rows.size == 0:
        raise ValueError(f"the '{MODEL_INFO_KEY}' output is empty")
    return ModelInfo.from_json(rows[0])


def read_model_info(loaded) -> ModelInfo:
    """The ModelInfo of a SavedModel loaded in this process (`tf.saved_model.load`)."""
    outputs = loaded.signatures[METADATA_SIGNATURE](**metadata_inputs())
    return info_from_output(outputs[MODEL_INFO_KEY].numpy())
