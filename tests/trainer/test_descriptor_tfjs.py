"""The Keras face descriptor against @vladmandic/face-api's own TensorFlow.js code (tests/support/tfjs_reference).

Same weights, same crops: the Keras port (trainer/model/descriptor.py) and the package's FaceRecognitionNet
run under node on tfjs's CPU backend must give the same 128 numbers, on real LFW faces and on a synthetic
pattern. Needs node and npm (the reference's packages are installed once with `npm ci`).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tfjs_reference import SIZE, tfjs_descriptors
from trainer.model.descriptor import build_descriptor
from trainer.model.descriptor_weights import load_descriptor_weights

pytestmark = [pytest.mark.slow, pytest.mark.data]

# Two photos of one person, then two other people. LFW photos are 250x250 with the face in the middle:
# the centre 150x150 holds it roughly (unaligned, but the same pixels go to both implementations).
PHOTOS = ["Kofi_Annan/Kofi_Annan_0001.jpg", "Kofi_Annan/Kofi_Annan_0002.jpg",
          "Serena_Williams/Serena_Williams_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg"]
TOLERANCE = 1e-4  # descriptors are about 0.1 in size; float32 rounding alone differs by about 3e-7


def centre_crop(path) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("RGB"), np.float32)
    top, left = (pixels.shape[0] - SIZE) // 2, (pixels.shape[1] - SIZE) // 2
    return pixels[top:top + SIZE, left:left + SIZE]


def synthetic_pattern() -> np.ndarray:
    """Deterministic, full-range and unlike a face: sine and cosine stripes and a diagonal ramp."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    return np.stack([127.5 * (1 + np.sin(x / 7)), 127.5 * (1 + np.cos(y / 11)), (x + y) * 255 / (2 * SIZE - 2)], -1)


@pytest.fixture(scope="module")
def crops(face_data) -> np.ndarray:
    """[5, 150, 150, 3] RGB in 0..255: the four photos' centres, then the synthetic pattern."""
    faces = [centre_crop(face_data / "lfw-known" / photo) for photo in PHOTOS]
    return np.stack([*faces, synthetic_pattern()]).astype(np.float32)


@pytest.fixture(scope="module")
def reference(crops) -> np.ndarray:
    return tfjs_descriptors(crops)


@pytest.fixture(scope="module")
def ported(crops) -> np.ndarray:
    model = build_descriptor(load_descriptor_weights())
    return np.asarray(model.predict(crops / 255.0, verbose=0))  # the port takes pixels / 255


def test_keras_port_matches_face_api(reference, ported):
    assert ported.shape == reference.shape == (len(PHOTOS) + 1, 128)
    difference = np.abs(ported - reference)
    per_crop = ", ".join(f"{d:.2e}" for d in difference.max(axis=1))
    assert difference.max() <= TOLERANCE, f"max |keras - tfjs| per crop (4 photos, synthetic): {per_crop}"


def test_reference_tells_people_apart(reference):
    """The reference really describes faces: the two photos of one person are the closest pair, by far
    (measured: 0.32 apart, the other pairs 0.60 to 0.68; dlib's threshold for one person is 0.6)."""
    faces = reference[:len(PHOTOS)]
    distance = np.linalg.norm(faces[:, None] - faces[None], axis=-1)
    same = distance[0, 1]
    others = [distance[i, j] for i in range(len(faces)) for j in range(i + 1, len(faces)) if (i, j) != (0, 1)]
    assert same < 0.6 and same + 0.2 < min(others), (same, others)
