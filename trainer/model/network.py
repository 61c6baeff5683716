"""The face classifier: a face embedding network and a head that scores it against each person.

The embedding comes from the pretrained face descriptor (`model.backbone` `descriptor`, the
default: trainer/model/descriptor.py, its output L2-normalised) or from a plain CNN trained from
scratch (`scratch`, the course's), whose penultimate layer is the embedding.

Its head (`model.head`) scores each face against each person (`class_scores` [N, C]):
- `cosine` (the default): the cosine similarity of the embedding to each person's centre, a
  learned unit vector, trained with CosFace's additive margin (Wang et al. 2018): a person's
  faces must lie `cosine_margin` closer to their own centre than to any other, which leaves
  room for faces of nobody. Probabilities are softmax(cosine_scale * similarity).
- `softmax`: a dense layer and softmax; the class scores are the probabilities.
The open-set rule (trainer/evaluation/openset.py) decides on the highest class score.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from facecore.modelinfo import CLASS_SCORES_KEY, EMBEDDING_KEY, INPUT_KEY, PROBABILITIES_KEY
from facecore.preprocess import PreprocessSpec
from trainer.config import ModelConfig
from trainer.model.align import CHIPS_KEY, build_aligner
from trainer.model.centres import centre_of
from trainer.model.descriptor import LAST_STAGE, SIZE, build_descriptor
from trainer.model.descriptor_weights import load_descriptor_weights, load_landmark_weights

# Few steps per epoch on small data sets: moving statistics must follow the weights quickly.
BN_MOMENTUM = 0.9


def build_model(config: ModelConfig, spec: PreprocessSpec, num_classes: int, pretrained: bool = True) -> keras.Model:
    """Inputs [N, S, S, channels] (S: `spec.input_size`) -> {"probabilities": [N, C], "embedding":
    [N, E], "class_scores": [N, C]} (all float32). `pretrained`: load the pretrained networks'
    weights (else they are left for set_weights)."""
    regularizer = keras.regularizers.L2(config.l2) if config.l2 else None
    faces = keras.Input((spec.input_size, spec.input_size, spec.channels), name=INPUT_KEY)
    if config.backbone == "descriptor":
        x = _descriptor_features(faces, config, spec, pretrained)
    else:
        x = _scratch_features(faces, config, regularizer)
    if config.head == "cosine":
        embedding = keras.layers.UnitNormalization(dtype="float32", name=EMBEDDING_KEY)(x)
        scores = CosineSimilarity(num_classes, dtype="float32", name=CLASS_SCORES_KEY)(embedding)
        logits = keras.layers.Rescaling(config.cosine_scale, dtype="float32", name="logits")(scores)
        probabilities = keras.layers.Activation("softmax", dtype="float32", name=PROBABILITIES_KEY)(logits)
    else:
        embedding = keras.layers.Activation("relu", dtype="float32", name=EMBEDDING_KEY)(x)
        x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(embedding)
        logits = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
        probabilities = keras.layers.Activation("softmax", dtype="float32", name=PROBABILITIES_KEY)(logits)
        scores = keras.layers.Identity(dtype="float32", name=CLASS_SCORES_KEY)(probabilities)
    outputs = {PROBABILITIES_KEY: probabilities, EMBEDDING_KEY: embedding, CLASS_SCORES_KEY: scores}
    return keras.Model(faces, outputs, name="face_cnn")


def _scratch_features(faces, config: ModelConfig, regularizer):
    """The course's CNN up to its (batch-normalised) embedding [N, E]."""
    x = faces
    for block in range(config.depth):
        filters = min(config.width * 2**block, config.max_width)
        x = _conv_block(x, filters, config.convs_per_block, regularizer, f"block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.dropout, name="pool_dropout")(x)
    x = keras.layers.Dense(config.embedding_size, use_bias=False, kernel_regularizer=regularizer,
                           name="embedding_dense")(x)
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="embedding_bn")(x)


def _descriptor_features(faces, config: ModelConfig, spec: PreprocessSpec, pretrained: bool):
    """The pretrained descriptor [N, 128], frozen but for what `descriptor_training` trains; with
    `align_landmarks` of the chip the (frozen) aligner cuts from each face."""
    if spec.align_landmarks:
        aligner = build_aligner(spec, load_landmark_weights() if pretrained else None)
        aligner.trainable = False
        faces = aligner(faces)[CHIPS_KEY]
    elif faces.shape[1] != SIZE:
        raise ValueError(f"the descriptor takes {SIZE}x{SIZE} faces: set preprocess.input_size = {SIZE} "
                         "(or align_landmarks, which cuts them from a larger input)")
    descriptor = build_descriptor(load_descriptor_weights() if pretrained else None, spec.channels)
    descriptor.trainable = config.descriptor_training == "last_stage"
    if descriptor.trainable:
        for layer in descriptor.layers:
            layer.trainable = layer.name.startswith(LAST_STAGE) or layer.name == "fc"
    return descriptor(faces)


def training_loss(config: ModelConfig, label_smoothing: float) -> keras.losses.Loss:
    """The loss on `classifier(model)`'s output: CosFace for the cosine head, else cross-entropy."""
    if config.head == "cosine":
        return CosFaceLoss(config.cosine_scale, config.cosine_margin, label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)


@keras.saving.register_keras_serializable(package="faceid")
class CosineSimilarity(keras.layers.Layer):
    """Cosine similarity [N, C] of unit embeddings [N, E] to each person's centre (unit vectors)."""

    def __init__(self, classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.classes = classes

    def build(self, input_shape) -> None:
        self.centres = self.add_weight(shape=(input_shape[-1], self.classes), initializer="glorot_uniform",
                                       name="centres")

    def call(self, embedding):
        return keras.ops.matmul(embedding, keras.ops.normalize(self.centres, axis=0))

    def get_config(self) -> dict:
        return {**super().get_config(), "classes": self.classes}


@keras.saving.register_keras_serializable(package="faceid")
class CosFaceLoss(keras.losses.Loss):
    """Cross-entropy of scale * (similarity - margin on the true person), from class scores [N, C]
    and one-hot labels; the margin applies to the hard label, the smoothing to the target."""

    def __init__(self, scale: float, margin: float, label_smoothing: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale, self.margin, self.label_smoothing = scale, margin, label_smoothing

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        logits = self.scale * (y_pred - self.margin * y_true)
        return keras.losses.categorical_crossentropy(y_true, logits, from_logits=True,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "margin": self.margin,
                "label_smoothing": self.label_smoothing}


def compiled(model: keras.Model):
    """`model(inputs, training=False)` as one traced graph: ~3x faster than calling it eagerly per
    batch on a CPU (the descriptor's 70-odd layers each dispatched one by one). Traced once for
    any batch size: a dataset's last, smaller batch would otherwise trace it again (~0.5 s)."""
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype)
    return tf.function(lambda inputs: model(inputs, training=False), input_signature=[spec], autograph=False)


def set_centres(model: keras.Model, embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Point the cosine head at each person's centre: the normalised mean of their unit
    embeddings [N, E] (labels [N]); return the centres [E, C]. A person without faces keeps
    the centre the head had."""
    layer = model.get_layer(CLASS_SCORES_KEY)
    centres = np.array(layer.get_weights()[0], np.float32)  # [E, C]
    for person in range(centres.shape[1]):
        own = embeddings[labels == person]
        if len(own):
            centres[:, person] = centre_of(own)
    layer.set_weights([centres])
    return centres


def _conv_block(x, filters: int, convs: int, regularizer, name: str):
    """`convs` x (3x3 conv, batch norm, ReLU), then 2x2 max pooling."""
    for index in range(convs):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                kernel_regularizer=regularizer, name=f"{name}_conv{index + 1}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{index + 1}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{index + 1}")(x)
    return keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def classifier(model: keras.Model) -> keras.Model:
    """The same layers with the class scores as the only output: what training fits."""
    return keras.Model(model.input, model.output[CLASS_SCORES_KEY], name="classifier")


def inference_model(model: keras.Model, config: ModelConfig) -> keras.Model:
    """What is exported: `model`, or with `flip_average` the mean of its outputs on each face
    and on the face's mirror image (same inputs and output names)."""
    if not config.flip_average:
        return model
    faces = keras.Input(model.input.shape[1:], name=INPUT_KEY)
    direct, mirrored = model(faces), model(keras.ops.flip(faces, axis=2))
    outputs = {key: keras.layers.Average(dtype="float32", name=key)([direct[key], mirrored[key]])
               for key in (PROBABILITIES_KEY, EMBEDDING_KEY, CLASS_SCORES_KEY)}
    return keras.Model(faces, outputs, name="face_cnn_flip_average")
