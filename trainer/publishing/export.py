"""Export a trained Keras model as a SavedModel that TF Serving and the service can use.

See `facecore.modelinfo` for the signatures; this module is their one implementation.
`python -m trainer export --run RUN --out DIR` exports an evaluated training run.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facecore.modelinfo import (
    CLASS_SCORES_KEY, EMBEDDING_KEY, EXPLAIN_SIGNATURE, HEATMAP_KEY, INPUT_KEY, METADATA_INPUT_KEY, METADATA_SIGNATURE,
    MODEL_INFO_FILE, MODEL_INFO_KEY, PROBABILITIES_KEY, SCORE_KEY, SERVING_SIGNATURE, THRESHOLD_KEY, TRAIN_CONFIG_KEY,
    ModelInfo, metadata_inputs,
)
from facecore.tfserving_api import serving_api
from trainer.evaluation.openset import decide
from trainer.model.centres import CENTRES_KEY
from trainer.model.saliency import cut_model, gradcam
from trainer.publishing.rundir import RunDir

WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH_SIZES = (1, 4)


def export_model(model, info: ModelInfo, directory: Path, model_name: str = "faces") -> Path:
    """Write the SavedModel of `model` (outputs: probabilities, embedding, optionally class_scores)
    into `directory`, with the open-set rule under `info`'s thresholds (facecore.modelinfo)."""
    directory = Path(directory)
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, *info.input_shape], tf.float32, name=INPUT_KEY)

    thresholds = tf.constant(info.thresholds(), tf.float32)  # [C], the open-set rule's

    def serve(faces):
        outputs = model(faces, training=False)
        probabilities = outputs[PROBABILITIES_KEY]
        score, threshold = decide(outputs.get(CLASS_SCORES_KEY, probabilities), thresholds)
        return {PROBABILITIES_KEY: probabilities, EMBEDDING_KEY: outputs[EMBEDDING_KEY],
                SCORE_KEY: score, THRESHOLD_KEY: threshold}

    archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[spec])
    explainable = _add_explain(archive, model, serve, spec)
    info_json = tf.constant(info.to_json())

    def metadata(rows):  # rows: [N] int32 -> model_info: [N] string (batching-safe)
        return {MODEL_INFO_KEY: tf.fill(tf.shape(rows), info_json)}

    rows_spec = tf.TensorSpec([None], tf.int32, name=METADATA_INPUT_KEY)
    archive.add_endpoint(METADATA_SIGNATURE, metadata, input_signature=[rows_spec])
    archive.write_out(str(directory), verbose=False)
    extra = directory / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / MODEL_INFO_FILE).write_text(info.to_json())
    write_warmup_requests(extra / WARMUP_FILE, info, model_name, explainable)
    return directory


def _add_explain(archive, model, serve, spec) -> bool:
    """The `explain` signature: `serve`'s outputs and a Grad-CAM heatmap [N, S, S] per face;
    False (no signature) for a model without a feature map to explain."""
    try:
        cut = cut_model(model)
    except ValueError:
        return False

    def explain(faces):
        return {**serve(faces), HEATMAP_KEY: gradcam(cut, faces)}

    archive.track(cut.features)
    archive.track(cut.head)
    if cut.aligner is not None:
        archive.track(cut.aligner)
    archive.add_endpoint(EXPLAIN_SIGNATURE, explain, input_signature=[spec])
    return True


def write_warmup_requests(path: Path, info: ModelInfo, model_name: str, explainable: bool = False) -> None:
    """TF Serving replays these PredictRequests when it loads the version: every signature, so a
    version whose signatures batching would refuse fails to load instead of failing clients."""
    api = serving_api()
    spec = api.message("tensorflow.serving.ModelSpec")
    faces = [(SERVING_SIGNATURE, batch) for batch in WARMUP_BATCH_SIZES]
    faces += [(EXPLAIN_SIGNATURE, 1)] if explainable else []
    requests = [api.predict_request(spec(name=model_name, signature_name=signature),
                                    {INPUT_KEY: np.zeros((batch, *info.input_shape), np.float32)})
                for signature, batch in faces]
    requests.append(api.predict_request(spec(name=model_name, signature_name=METADATA_SIGNATURE),
                                        metadata_inputs()))
    log_class, predict_log_class = (api.message("tensorflow.serving.PredictionLog"),
                                    api.message("tensorflow.serving.PredictLog"))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            writer.write(log_class(predict_log=predict_log_class(request=request)).SerializeToString())


def run_model_info(run: RunDir) -> ModelInfo:
    """A run's ModelInfo: `report_model_info`, with the run's RUN/people.json when it has one (what
    it was made from, its thresholds lifted above the strangers' faces: trainer/retrain.py)."""
    info = report_model_info(run)
    if not run.people.exists():
        return info
    people = run.read_json(run.people)
    return dataclasses.replace(info, class_thresholds=tuple(people["class_thresholds"]),
                               extra={**info.extra, **people["extra"]})


def report_model_info(run: RunDir) -> ModelInfo:
    """A run's ModelInfo: its classes and preprocessing, its evaluation's threshold and scores."""
    report = run.read_json(run.report)
    extra = {
        "exported_at": time.time(),
        "macro_f1": report["macro_f1"],
        "accuracy": report["accuracy"],
        TRAIN_CONFIG_KEY: run.read_json(run.config),
        "openset": {key: report["openset"][key] for key in ("rule", "known_accept") if key in report["openset"]},
    }
    if run.centres.exists():
        extra[CENTRES_KEY] = run.read_json(run.centres)
    return run.model_info(unknown_threshold=report["unknown_threshold"],
                          class_thresholds=report.get("class_thresholds", ()), extra=extra)


def export_run(run_dir: Path, directory: Path, model_name: str = "faces") -> ModelInfo:
    """Export an evaluated run's model (RUN/model.keras, RUN/report.json) into `directory`."""
    run = RunDir(run_dir)
    info = run_model_info(run)
    if not run.model.exists():
        raise FileNotFoundError(f"{run.model} not found: train the run first")
    export_model(keras.models.load_model(run.model), info, directory, model_name)
    return info

