"""The aligner (trainer/model/align.py): dlib's chip template, the similarity fit, the warps, and on
real faces what alignment is for: a turned face gives the chip an upright one gives."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import tensorflow as tf

from facecore.preprocess import PreprocessSpec
from trainer.model.align import (TEMPLATE_POINTS, WarpToChip, WindowCrop, chip_template, chip_to_input,
                                 similarity_frames)

LOOSE = PreprocessSpec(crop_margin=0.3, crop_shift=0.0, crop_size=232, input_size=232, align_landmarks=True)


def frame_of(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    turn = math.radians(degrees)
    p, q = scale * math.cos(turn), scale * math.sin(turn)
    return np.array([p, -q, shift[0], q, p, shift[1]], np.float32)


def test_template_is_dlibs_chip_with_padding_025():
    template = chip_template()
    assert template.shape == (33, 2) and len(TEMPLATE_POINTS) == 33
    assert 17 not in TEMPLATE_POINTS and 57 not in TEMPLATE_POINTS and 30 in TEMPLATE_POINTS
    outer_left, outer_right = template[TEMPLATE_POINTS.index(36)], template[TEMPLATE_POINTS.index(45)]
    # dlib's mean shape: outer eye corners at x 0.121737 and 0.858516, y 0.216423; (0.25 + v) / 1.5 * 150
    np.testing.assert_allclose(outer_left, [(0.25 + 0.121737) / 1.5 * 150, (0.25 + 0.216423) / 1.5 * 150], rtol=1e-6)
    assert outer_right[1] == pytest.approx(outer_left[1])
    assert (outer_left[0] + outer_right[0]) / 2 == pytest.approx(74, abs=1)


def test_similarity_fit_recovers_a_known_map():
    template = chip_template()
    frame = frame_of(1.3, 17.0, (40.0, -12.0))
    points = template @ frame.reshape(2, 3)[:, :2].T + frame.reshape(2, 3)[:, 2]
    noise = np.random.default_rng(0).normal(0, 0.3, points.shape).astype(np.float32)
    fitted = similarity_frames(template, tf.constant((points + noise)[None])).numpy()[0]
    # noise of 0.3 pixels: the scale and turn stay within 1 %, the shift (at 75 pixels from the
    # chip's corner) within a pixel
    np.testing.assert_allclose(fitted[[0, 1, 3, 4]], frame[[0, 1, 3, 4]], atol=0.01)
    np.testing.assert_allclose(fitted[[2, 5]], frame[[2, 5]], atol=1.0)
    exact = similarity_frames(template, tf.constant(points[None])).numpy()[0]
    np.testing.assert_allclose(exact, frame, atol=1e-3)


def smooth_image(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return (0.5 + 0.25 * np.sin(x / 9.0) + 0.25 * np.cos(y / 13.0))[None, :, :, None]


def test_warp_cuts_the_chip_the_frame_says_and_lays_maps_back_onto_the_input():
    image = smooth_image(232)
    frame = frame_of(1.1, -12.0, (30.0, 45.0))
    chip = WarpToChip(150)([tf.constant(image), tf.constant(frame[None])]).numpy()
    # chip pixel (u, v) (centre u + 0.5) shows the input at frame @ (u + 0.5, v + 0.5, 1), minus half a pixel
    for u, v in ((10, 20), (75, 75), (140, 100)):
        x, y = frame.reshape(2, 3) @ np.array([u + 0.5, v + 0.5, 1.0]) - 0.5
        expected = cv2.getRectSubPix(image[0, :, :, 0], (1, 1), (float(x), float(y)))[0, 0]
        assert chip[0, v, u, 0] == pytest.approx(expected, abs=2e-3)
    back = chip_to_input(tf.constant(chip), tf.constant(frame[None]), 232).numpy()
    corners = cv2.transform(np.array([[[8, 8], [142, 8], [142, 142], [8, 142]]], np.float32), frame.reshape(2, 3))
    inside = cv2.fillConvexPoly(np.zeros((232, 232), np.uint8), np.round(corners).astype(np.int32), 1) == 1
    assert np.abs(back[0, ..., 0] - image[0, ..., 0])[inside].max() < 0.02
    assert back[0, 0, 0, 0] == back[0, -1, -1, 0] == 0.0  # outside the chip: nothing


def test_window_crop_is_the_detectors_box_in_the_loose_input():
    image = np.zeros((1, 232, 232, 1), np.float32)
    left, top, side = LOOSE.landmark_window()
    first, last = round(left * 232), round((left + side) * 232)
    image[0, first:last, first:last] = 1.0
    window = WindowCrop(left, top, side, 112)(tf.constant(image)).numpy()
    assert window.shape == (1, 112, 112, 1) and window[0, 1:-1, 1:-1].min() > 0.99


@pytest.mark.data
def test_a_turned_face_gives_the_chip_the_upright_one_gives(face_data):
    from facecore.detect import FaceDetector
    from facecore.images import decode_image
    from facecore.preprocess import crop_face, model_input
    from trainer.model.align import build_aligner
    from trainer.model.descriptor_weights import load_landmark_weights

    detector, aligner = FaceDetector(), build_aligner(LOOSE, load_landmark_weights())
    rgb = decode_image((face_data / "lfw-known" / "Kofi_Annan" / "Kofi_Annan_0001.jpg").read_bytes())
    box = detector.detect(rgb)[0]
    centre = (box.x + box.width / 2.0, box.y + box.height / 2.0)
    turned = cv2.warpAffine(rgb, cv2.getRotationMatrix2D(centre, 20.0, 1.0), rgb.shape[1::-1],
                            borderMode=cv2.BORDER_REPLICATE)
    inputs = np.stack([model_input(crop_face(image, box, LOOSE), LOOSE) for image in (rgb, turned)])
    aligned = aligner(inputs)
    chips, frames = aligned["chips"].numpy()[..., 0], aligned["frame"].numpy()
    # the upright face needs next to no turn; the turned one is turned back by about 20 degrees
    angles = [math.degrees(math.atan2(frame[3], frame[0])) for frame in frames]
    assert abs(angles[0]) < 5 and angles[1] - angles[0] == pytest.approx(-20, abs=3), angles
    aligned_difference = np.abs(chips[0] - chips[1])[20:130, 20:130].mean()
    unaligned = [cv2.resize(x[41:191, 41:191, 0], (150, 150)) for x in inputs]
    unaligned_difference = np.abs(unaligned[0] - unaligned[1])[20:130, 20:130].mean()
    # measured 0.058 against 0.125 (what is left: resampling, the landmarks' own jitter)
    assert aligned_difference < 0.6 * unaligned_difference, (aligned_difference, unaligned_difference)
