"""The service's preprocessing path and labelling, without HTTP."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facecore.detect import DetectorParams, FaceDetector
from facecore.images import decode_image
from exported_models import tiny_info
from facecore.preprocess import PreprocessSpec
from service.backend import Scores
from service.inference import Options, label_faces, prepare_faces

INFO = tiny_info(("alice", "bob", "carol"), unknown_threshold=0.5)


@pytest.mark.data
def test_prepare_faces_shapes_follow_the_model_info(photos):
    rgb = decode_image(photos["three"])
    prepared = prepare_faces(rgb, INFO)
    assert len(prepared.boxes) == 3
    assert prepared.batch.shape == (3, 64, 64, 1) and prepared.batch.dtype == np.float32
    small = replace(INFO, preprocess=PreprocessSpec(input_size=32, channels=1, mean=0.0, std=1.0))
    batch = prepare_faces(rgb, small).batch
    assert batch.shape == (3, 32, 32, 1) and batch.min() >= 0.0 and batch.max() <= 1.0
    # the default: grey loose crops that the model aligns itself
    descriptor = prepare_faces(rgb, replace(INFO, preprocess=PreprocessSpec())).batch
    assert descriptor.shape == (3, 232, 232, 1) and descriptor.min() >= 0.0 and descriptor.max() <= 1.0
    rgb_crops = prepare_faces(rgb, replace(INFO, preprocess=PreprocessSpec(channels=3))).batch
    assert rgb_crops.shape == (3, 232, 232, 3)


@pytest.mark.data
def test_prepare_faces_options(photos):
    rgb = decode_image(photos["three"])
    everything = prepare_faces(rgb, INFO).boxes
    assert prepare_faces(rgb, INFO, Options(max_faces=1)).boxes == everything[:1]
    cut = min(b.width for b in everything) + 1
    assert len(prepare_faces(rgb, INFO, Options(min_face_size=cut)).boxes) == 2


@pytest.mark.data
def test_detector_comes_from_the_model_info(photos):
    rgb = decode_image(photos["three"])
    blind = replace(INFO, detector=DetectorParams(min_size=400))
    assert prepare_faces(rgb, blind).boxes == []
    assert prepare_faces(rgb, blind, detector=FaceDetector(DetectorParams())).boxes


def test_label_faces_follow_the_models_score_and_threshold():
    probabilities = np.array([[0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.2, 0.7, 0.1]], np.float32)
    # The model's rule decides (score < threshold), not the probability: the third face has a
    # high probability yet a score below its person's threshold.
    scores = Scores(probabilities, score=np.array([0.9, 0.2, 0.5], np.float32),
                    threshold=np.array([0.6, 0.3, 0.55], np.float32), version=1)
    faces = label_faces(scores, INFO, top_k=2)
    assert faces[0]["label"] == "bob" and faces[0]["unknown"] is False
    assert faces[0]["score"] == pytest.approx(0.9) and faces[0]["probability"] == pytest.approx(0.8)
    assert faces[1]["label"] == "unknown" and faces[1]["unknown"] is True
    assert [s["label"] for s in faces[1]["top_k"]] == ["alice", "bob"]  # the nearest known people
    assert faces[2]["label"] == "unknown" and faces[2]["score"] == pytest.approx(0.5)
    assert [face["threshold"] for face in faces] == pytest.approx([0.6, 0.3, 0.55])  # each face's own
    assert len(label_faces(scores, INFO, top_k=10)[0]["top_k"]) == 3


@pytest.mark.data
def test_detect_max_side_override(make_app, local_config, photos):
    # DETECT_MAX_SIDE=100 shrinks the 500-pixel photo so far that its ~40-pixel faces vanish.
    shrunk = make_app(replace(local_config, detect_max_side=100)).test_client()
    body = shrunk.post("/v1/predict", data=photos["three"], content_type="image/jpeg").get_json()
    assert body["faces"] == [] and body["image"]["width"] == 500
