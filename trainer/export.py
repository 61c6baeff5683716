"""Export a trained Keras model as a SavedModel that TF Serving and the service can use.

See `facecore.modelinfo` for the signatures; this module is their one implementation.
`python -m trainer export --run RUN --out DIR` exports an evaluated training run.
TensorFlow is imported inside the functions, so the command's parser starts fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from facecore.modelinfo import (
    EMBEDDING_KEY, INPUT_KEY, METADATA_SIGNATURE, MODEL_INFO_FILE, MODEL_INFO_KEY,
    PROBABILITIES_KEY, SERVING_SIGNATURE, ModelInfo,
)
from trainer.rundir import RunDir

WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH_SIZES = (1, 4)


def export_model(model, info: ModelInfo, directory: Path, model_name: str = "faces") -> Path:
    """Write the SavedModel of `model` (outputs: probabilities, embedding) into `directory`."""
    import keras
    import tensorflow as tf

    directory = Path(directory)
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, *info.input_shape], tf.float32, name=INPUT_KEY)

    def serve(faces):
        outputs = model(faces, training=False)
        return {PROBABILITIES_KEY: outputs[PROBABILITIES_KEY], EMBEDDING_KEY: outputs[EMBEDDING_KEY]}

    archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[spec])
    info_json = tf.constant(info.to_json())
    archive.add_endpoint(METADATA_SIGNATURE, tf.function(lambda: {MODEL_INFO_KEY: info_json}, input_signature=[]))
    archive.write_out(str(directory), verbose=False)
    extra = directory / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / MODEL_INFO_FILE).write_text(info.to_json())
    write_warmup_requests(extra / WARMUP_FILE, info, model_name)
    return directory


def write_warmup_requests(path: Path, info: ModelInfo, model_name: str) -> None:
    """TF Serving replays these PredictRequests when it loads the version."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in WARMUP_BATCH_SIZES:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SERVING_SIGNATURE)
            )
            faces = np.zeros((batch, *info.input_shape), np.float32)
            request.inputs[INPUT_KEY].CopyFrom(tf.make_tensor_proto(faces))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())


def read_model_info(loaded) -> ModelInfo:
    """The ModelInfo of a SavedModel loaded with tf.saved_model.load."""
    value = loaded.signatures[METADATA_SIGNATURE]()[MODEL_INFO_KEY]
    return ModelInfo.from_json(value.numpy())


def run_model_info(run: RunDir) -> ModelInfo:
    """A run's ModelInfo: its classes and preprocessing, its evaluation's threshold and scores."""
    report = run.read_json(run.report)
    extra = {
        "exported_at": time.time(),
        "macro_f1": report["macro_f1"],
        "accuracy": report["accuracy"],
        "train_config": run.read_json(run.config),
    }
    return run.model_info(unknown_threshold=report["unknown_threshold"], extra=extra)


def export_run(run_dir: Path, directory: Path, model_name: str = "faces") -> ModelInfo:
    """Export an evaluated run's model (RUN/model.keras, RUN/report.json) into `directory`."""
    import keras

    run = RunDir(run_dir)
    info = run_model_info(run)
    if not run.model.exists():
        raise FileNotFoundError(f"{run.model} not found: train the run first")
    export_model(keras.models.load_model(run.model), info, directory, model_name)
    return info


def add_arguments(parser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="an evaluated `train` run folder")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the SavedModel")
    parser.add_argument("--model-name", default="faces", help="model name in the warm-up requests")


def main(args) -> int:
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty; choose a new folder", file=sys.stderr)
        return 2
    try:
        info = export_run(args.run, args.out, args.model_name)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {len(info.class_names)} classes, input {info.input_shape}, "
          f"unknown threshold {info.unknown_threshold:.4f} to {args.out}")
    return 0
