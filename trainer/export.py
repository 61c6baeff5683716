"""Export a trained Keras model as a SavedModel that TF Serving and the service can use.

See `facecore.modelinfo` for the signatures; this module is their one implementation.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facecore.modelinfo import (
    EMBEDDING_KEY, INPUT_KEY, METADATA_SIGNATURE, MODEL_INFO_FILE, MODEL_INFO_KEY,
    PROBABILITIES_KEY, SERVING_SIGNATURE, ModelInfo,
)

WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH_SIZES = (1, 4)


def export_model(model: keras.Model, info: ModelInfo, directory: Path, model_name: str = "faces") -> Path:
    """Write the SavedModel of `model` (outputs: probabilities, embedding) into `directory`."""
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
