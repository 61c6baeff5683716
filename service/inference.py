"""Photo bytes -> named faces: decode, detect, preprocess, infer, label.

`prepare_faces` is the service's whole preprocessing path, the one the training/serving parity
test compares with the trainer's; it only calls the shared `facecore` implementation.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from facecore.detect import Box, DetectorParams, FaceDetector
from facecore.images import decode_image
from facecore.modelinfo import UNKNOWN_LABEL, ModelInfo, is_unknown
from facecore.preprocess import PreprocessSpec, face_crops, face_eyes, input_frame, model_inputs
from service.backend import ModelBackend, Scores, ServedModel
from service.errors import CannotExplain
from service.heatmaps import box_heatmap, png_base64


@dataclass(frozen=True)
class Options:
    """What a caller may ask of one prediction."""

    top_k: int = 3
    max_faces: int = 10
    min_face_size: int = 0
    explain: bool = False  # a heatmap per face: where the model looked for the person it named


@dataclass(frozen=True)
class PreparedFaces:
    """Faces found in a photo (largest first), their model inputs [N, S, S, channels] float32 and
    where each input lies in the photo (facecore.preprocess.input_frame)."""

    boxes: list[Box]
    batch: np.ndarray
    frames: list[np.ndarray] = field(default_factory=list)


@dataclass
class Recognition:
    """The answer for one photo."""

    model: ServedModel
    width: int
    height: int
    faces: list[dict]
    timings_ms: dict[str, float] = field(default_factory=dict)


def find_faces(rgb: np.ndarray, detector: FaceDetector, options: Options) -> list[Box]:
    """The largest `max_faces` faces at least `min_face_size` pixels wide and high."""
    boxes = [b for b in detector.detect(rgb) if min(b.width, b.height) >= options.min_face_size]
    return boxes[: options.max_faces]


def face_batch(rgb: np.ndarray, boxes: list[Box], spec: PreprocessSpec,
               detector: FaceDetector) -> tuple[np.ndarray, list[np.ndarray]]:
    """Model inputs [N, S, S, channels] float32 for the faces at `boxes`, and their frames."""
    eyes = face_eyes(rgb, boxes, spec, detector)
    frames = [input_frame(box, spec, rgb.shape, found) for box, found in zip(boxes, eyes)]
    return model_inputs(face_crops(rgb, boxes, spec, detector, eyes), spec), frames


def prepare_faces(rgb: np.ndarray, info: ModelInfo, options: Options = Options(),
                  detector: FaceDetector | None = None, stage=None) -> PreparedFaces:
    """Detect and preprocess the faces of an RGB photo exactly as the model's metadata says: the
    one composition, which requests take (Recognizer) and the parity test checks. `stage(name)`,
    a context manager, times the "detect" and "preprocess" steps."""
    detector = detector or FaceDetector(info.detector)
    stage = stage or (lambda name: nullcontext())
    with stage("detect"):
        boxes = find_faces(rgb, detector, options)
    with stage("preprocess"):
        batch, frames = face_batch(rgb, boxes, info.preprocess, detector)
    return PreparedFaces(boxes, batch, frames)


def label_faces(scores: Scores, info: ModelInfo, top_k: int) -> list[dict]:
    """Label, probability, open-set score and the threshold it was compared with, unknown flag and
    top-k for each face. An unknown face is labelled "unknown"; its top-k still names the nearest
    known people."""
    faces = []
    unknown = is_unknown(scores.score, scores.threshold)
    for row, score, threshold, stranger in zip(scores.probabilities, scores.score, scores.threshold, unknown):
        order = np.argsort(row)[::-1][: max(1, top_k)]
        faces.append({
            "label": UNKNOWN_LABEL if stranger else info.class_names[order[0]],
            "probability": float(row[order[0]]),
            "score": float(score),
            "threshold": float(threshold),
            "unknown": bool(stranger),
            "top_k": [{"label": info.class_names[i], "probability": float(row[i])} for i in order],
        })
    return faces


class Recognizer:
    """Runs photos through the stages, timing each, against whichever version the backend serves."""

    def __init__(self, backend: ModelBackend, metrics, max_image_pixels: int, detect_max_side: int | None) -> None:
        self._backend = backend
        self._metrics = metrics
        self._max_pixels = max_image_pixels
        self._max_side = detect_max_side
        self._detectors: dict[DetectorParams, FaceDetector] = {}

    def recognize(self, data: bytes, options: Options) -> Recognition:
        timings: dict[str, float] = {}
        served = self._backend.current()  # first: no model, no work on the photo
        with self._stage("decode", timings):
            rgb = decode_image(data, self._max_pixels)
        prepared, scores, served = self._prepare_and_infer(rgb, served, options, timings)
        faces = label_faces(scores, served.info, options.top_k) if scores else []
        for face, box in zip(faces, prepared.boxes):
            face["box"] = box.to_dict()
        if options.explain and scores:
            with self._stage("explain", timings):
                for face, heatmap, frame, box in zip(faces, scores.heatmaps, prepared.frames, prepared.boxes):
                    face["heatmap"] = png_base64(box_heatmap(heatmap, frame, box))
        return Recognition(served, rgb.shape[1], rgb.shape[0], [_ordered(f) for f in faces], timings)

    def _prepare_and_infer(self, rgb, served: ServedModel, options: Options, timings: dict):
        """Faces and scores; redone with the answering version's metadata if that differs."""
        if options.explain and not served.explainable:
            raise CannotExplain(f"{served.name} version {served.version} was exported without the 'explain' "
                                "signature; publish a version with this trainer to get heatmaps")
        prepared = self._prepare(rgb, served.info, options, timings)
        if not prepared.boxes:
            return prepared, None, served
        scores = self._infer(prepared.batch, None, options.explain, timings)
        if scores.version != served.version:
            answered = self._backend.describe(scores.version)
            if _preprocessing(answered.info) != _preprocessing(served.info):
                prepared = self._prepare(rgb, answered.info, options, timings)
                scores = self._infer(prepared.batch, scores.version, options.explain, timings) \
                    if prepared.boxes else None
            served = answered
        return prepared, scores, served

    def _prepare(self, rgb, info: ModelInfo, options: Options, timings: dict) -> PreparedFaces:
        return prepare_faces(rgb, info, options, self._detector(info.detector),
                             stage=lambda name: self._stage(name, timings))

    def _infer(self, batch: np.ndarray, version: int | None, explain: bool, timings: dict) -> Scores:
        with self._stage("infer", timings):
            return self._backend.predict(batch, version, explain)

    def _detector(self, params: DetectorParams) -> FaceDetector:
        """One detector per parameter set, with DETECT_MAX_SIDE applied when configured."""
        if self._max_side is not None:
            params = dataclasses.replace(params, max_side=self._max_side)
        if params not in self._detectors:
            self._detectors[params] = FaceDetector(params)
        return self._detectors[params]

    @contextmanager
    def _stage(self, name: str, timings: dict):
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self._metrics.stage_seconds.labels(name).observe(elapsed)
            timings[name] = round(timings.get(name, 0.0) + elapsed * 1000.0, 3)


def _preprocessing(info: ModelInfo) -> tuple:
    return (info.detector, info.preprocess)


def _ordered(face: dict) -> dict:
    keys = ("box", "label", "probability", "score", "threshold", "unknown", "top_k", "heatmap")
    return {key: face[key] for key in keys if key in face}
