"""The Keras landmark network against @vladmandic/face-api's own TensorFlow.js code (tests/support/tfjs_reference).

Same weights, same faces: the Keras port (trainer/model/landmarks.py) and the package's FaceLandmark68Net run
under node on tfjs's CPU backend must put the 68 points in the same places, on real LFW faces and on a
synthetic pattern. Needs node and npm (the reference's packages are installed once with `npm ci`).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tfjs_reference import LANDMARK_SIZE, tfjs_landmarks
from trainer.model.descriptor_weights import load_landmark_weights
from trainer.model.landmarks import build_landmarks

pytestmark = [pytest.mark.slow, pytest.mark.data]

PHOTOS = ["Kofi_Annan/Kofi_Annan_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg",
          "Tony_Blair/Tony_Blair_0001.jpg"]
TOLERANCE = 1e-4  # in shares of the side: 0.01 pixel at 112; float32 rounding alone differs by about 1e-7


def centre_face(path) -> np.ndarray:
    """The middle 112x112 of a 250x250 LFW photo: about the detector's box around the face."""
    pixels = np.asarray(Image.open(path).convert("RGB"), np.float32)
    top, left = (pixels.shape[0] - LANDMARK_SIZE) // 2, (pixels.shape[1] - LANDMARK_SIZE) // 2
    return pixels[top:top + LANDMARK_SIZE, left:left + LANDMARK_SIZE]


@pytest.fixture(scope="module")
def faces(face_data) -> np.ndarray:
    y, x = np.mgrid[0:LANDMARK_SIZE, 0:LANDMARK_SIZE].astype(np.float32)
    pattern = np.stack([127.5 * (1 + np.sin(x / 5)), 127.5 * (1 + np.cos(y / 8)), (x + y) * 255 / 222], -1)
    return np.stack([*(centre_face(face_data / "lfw-known" / p) for p in PHOTOS), pattern]).astype(np.float32)


def test_keras_port_matches_face_api(faces):
    reference = tfjs_landmarks(faces)
    ported = np.asarray(build_landmarks(load_landmark_weights()).predict(faces / 255.0, verbose=0))
    assert ported.shape == reference.shape == (len(PHOTOS) + 1, 68, 2)
    assert np.abs(ported - reference).max() <= TOLERANCE
    # and the points are a face's: in a real face the eyes (36-47) lie above the mouth (48-67),
    # the left eye (36-41) left of the right one (42-47)
    for points in reference[:len(PHOTOS)]:
        assert points[36:48, 1].mean() + 0.15 < points[48:68, 1].mean()
        assert points[36:42, 0].mean() + 0.15 < points[42:48, 0].mean()
