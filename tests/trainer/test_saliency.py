"""Issue #22: the heatmaps of the exported `explain` signature point at the face (trainer/model/saliency.py).

The default descriptor with a gallery of four lfw-known people, exported as published; each
property is checked on 16 of their faces, through the signature TF Serving runs.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.data]
PEOPLE, PHOTOS = 4, 4
SIDE = 232  # the default input: a loose crop that the model aligns
FACE = slice(44, 188)  # of it, the detector's box (PreprocessSpec().landmark_window()): the face; outside, noise


@pytest.fixture(scope="module")
def explained(face_data, tmp_path_factory):
    """(faces [N, 232, 232, 1], explain signature) of a descriptor gallery over their people."""
    import tensorflow as tf

    from facecore.images import decode_image
    from facecore.modelinfo import EMBEDDING_KEY, EXPLAIN_SIGNATURE, ModelInfo
    from facecore.preprocess import PreprocessSpec
    from service.inference import prepare_faces
    from trainer.config import ModelConfig
    from trainer.model.network import build_model, set_centres
    from trainer.publishing.export import export_model

    people = sorted(p for p in (face_data / "lfw-known").iterdir() if p.is_dir())[:PEOPLE]
    info = ModelInfo(tuple(p.name for p in people))
    faces, labels = [], []
    for label, person in enumerate(people):
        for photo in sorted(person.glob("*.jpg"))[:PHOTOS]:
            faces.append(prepare_faces(decode_image(photo.read_bytes()), info).batch[0])
            labels.append(label)
    faces = np.stack(faces)
    model = build_model(ModelConfig(), PreprocessSpec(), PEOPLE)
    set_centres(model, np.asarray(model(faces)[EMBEDDING_KEY]), np.array(labels))
    folder = export_model(model, info, tmp_path_factory.mktemp("explain") / "1")
    signature = tf.saved_model.load(str(folder)).signatures[EXPLAIN_SIGNATURE]
    return faces, lambda batch: signature(faces=tf.constant(batch, tf.float32))["heatmap"].numpy()


def test_heatmaps_are_per_face_in_0_to_1(explained):
    faces, explain = explained
    heatmaps = explain(faces)
    assert heatmaps.shape == faces.shape[:3]
    assert np.allclose(heatmaps.max(axis=(1, 2)), 1.0) and heatmaps.min() >= 0.0


def test_face_in_noise_draws_the_heatmap(explained):
    faces, explain = explained
    noisy = np.random.default_rng(0).uniform(0, 1, faces.shape).astype(np.float32)
    noisy[:, FACE, FACE] = faces[:, FACE, FACE]
    heatmaps = explain(noisy)
    inside = heatmaps[:, FACE, FACE].sum(axis=(1, 2)) / heatmaps.sum(axis=(1, 2))
    peaks = [np.unravel_index(h.argmax(), h.shape) for h in heatmaps]
    peak_inside = np.mean([FACE.start <= y < FACE.stop and FACE.start <= x < FACE.stop for y, x in peaks])
    share = (FACE.stop - FACE.start) ** 2 / SIDE**2  # 0.39: what a heatmap blind to the face would give
    assert inside.mean() > share + 0.05 and np.median(inside) > 0.55, inside
    assert peak_inside >= 0.8, peaks


def test_half_hidden_face_moves_the_heatmap_to_the_visible_half(explained):
    faces, explain = explained
    whole = explain(faces)
    shifts = []
    half = SIDE // 2
    for hidden, visible in ((slice(half, SIDE), slice(0, half)), (slice(0, half), slice(half, SIDE))):
        covered = faces.copy()
        covered[:, :, hidden] = 0.5  # a grey rectangle over one half (inputs are 0..1 grey)
        heatmaps = explain(covered)
        shifts.append(heatmaps[:, :, visible].sum(axis=(1, 2)) / heatmaps.sum(axis=(1, 2))
                      - whole[:, :, visible].sum(axis=(1, 2)) / whole.sum(axis=(1, 2)))
    shifts = np.concatenate(shifts)
    assert shifts.mean() > 0.05 and np.mean(shifts > 0) >= 0.7, shifts


@pytest.mark.data
def test_an_aligning_models_heatmap_lies_on_the_chip_it_cut(face_data):
    """With align_landmarks the feature map covers the chip the model cut from its input: the
    heatmap is laid back through the chip's frame, nothing outside the chip, its peak inside."""
    import cv2

    from facecore.detect import FaceDetector
    from facecore.images import decode_image
    from facecore.modelinfo import EMBEDDING_KEY
    from facecore.preprocess import PreprocessSpec, crop_face, model_input
    from trainer.config import ModelConfig
    from trainer.model.network import build_model, set_centres
    from trainer.model.saliency import cut_model, gradcam

    spec = PreprocessSpec(crop_margin=0.3, crop_shift=0.0, crop_size=232, input_size=232, align_landmarks=True)
    detector, faces = FaceDetector(), []
    for person in ("Kofi_Annan", "Serena_Williams"):
        own = []
        for photo in sorted((face_data / "lfw-known" / person).glob("*.jpg")):
            rgb = decode_image(photo.read_bytes())
            own += [model_input(crop_face(rgb, box, spec), spec) for box in detector.detect(rgb)[:1]]
        faces += own[:2]
    faces = np.stack(faces)
    model = build_model(ModelConfig(), spec, 2)
    set_centres(model, np.asarray(model(faces)[EMBEDDING_KEY]), np.array([0, 0, 1, 1]))
    cut = cut_model(model)
    heatmaps, frames = gradcam(cut, faces).numpy(), cut.aligner(faces)["frame"].numpy()
    assert heatmaps.shape == (4, 232, 232) and np.allclose(heatmaps.max(axis=(1, 2)), 1.0)
    for heatmap, frame in zip(heatmaps, frames):
        corners = cv2.transform(np.array([[[0, 0], [150, 0], [150, 150], [0, 150]]], np.float32), frame.reshape(2, 3))
        chip = cv2.fillConvexPoly(np.zeros((232, 232), np.uint8), np.round(corners).astype(np.int32), 1)
        near_chip = cv2.dilate(chip, np.ones((5, 5), np.uint8)) == 1
        assert heatmap[~near_chip].max() == 0.0 and chip[np.unravel_index(heatmap.argmax(), heatmap.shape)] == 1
