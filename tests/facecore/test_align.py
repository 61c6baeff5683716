"""Eye alignment: the eyes found in real faces, and the aligned crop's geometry checked by hand."""

import math

import cv2
import numpy as np
import pytest

from facecore.detect import Box, Eyes, FaceDetector
from facecore.images import decode_image
from facecore.preprocess import EYE_RISE, EYE_SPAN, PreprocessSpec, crop_face, face_crops


def dark_blobs(grey: np.ndarray) -> list[tuple[float, float]]:
    """Centres of the dark spots of a crop, left to right."""
    count, _, _, centres = cv2.connectedComponentsWithStats((grey < 60).astype(np.uint8))
    return sorted((float(x), float(y)) for x, y in centres[1:count])


def tilted_eyes(angle: float, middle=(200.0, 150.0), distance=60.0) -> tuple[np.ndarray, Eyes]:
    """A grey photo with two black dots `distance` apart around `middle`, turned by `angle` degrees."""
    rgb = np.full((300, 400, 3), 200, np.uint8)
    dx, dy = math.cos(math.radians(angle)) * distance / 2, math.sin(math.radians(angle)) * distance / 2
    left, right = (middle[0] - dx, middle[1] - dy), (middle[0] + dx, middle[1] + dy)
    for x, y in (left, right):
        cv2.circle(rgb, (round(x), round(y)), 5, (0, 0, 0), -1, lineType=cv2.LINE_AA)
    return rgb, Eyes(left, right)


def test_eyes_geometry():
    eyes = Eyes((10.0, 20.0), (40.0, 50.0))
    assert eyes.angle == pytest.approx(45.0)
    assert eyes.distance == pytest.approx(math.sqrt(1800))
    assert eyes.middle == (25.0, 35.0)


@pytest.mark.parametrize("angle", [-20.0, -7.5, 0.0, 12.0, 24.0])
def test_aligned_crop_puts_the_eyes_level_where_an_average_box_would(angle):
    spec = PreprocessSpec(crop_margin=0.15, crop_shift=0.0, crop_size=96)
    rgb, eyes = tilted_eyes(angle)
    crop = crop_face(rgb, Box(0, 0, 1, 1), spec, eyes)  # the box is not used once eyes are given
    assert crop.shape == (96, 96, 3)
    (lx, ly), (rx, ry) = dark_blobs(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))
    side = 1.0 + 2 * spec.crop_margin  # the crop in face-box widths
    assert ly == pytest.approx(ry, abs=0.5)  # level
    assert rx - lx == pytest.approx(96 * EYE_SPAN / side, abs=1.0)
    assert (lx + rx) / 2 == pytest.approx(48, abs=0.75)  # centred across
    assert ly == pytest.approx(48 - 96 * EYE_RISE / side, abs=0.75)  # EYE_RISE above the centre


def test_crop_without_eyes_is_the_box_crop():
    spec = PreprocessSpec(align_eyes=True, align_landmarks=False)
    rgb = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
    box = Box(50, 50, 80, 80)

    class NoEyes(FaceDetector):
        def eyes(self, rgb, box):
            return None

    (crop,) = face_crops(rgb, [box], spec, NoEyes())
    np.testing.assert_array_equal(crop, crop_face(rgb, box, spec))


@pytest.fixture(scope="module")
def upright(face_data):
    """An lfw-known face whose eyes the cascade finds, level within a few degrees."""
    detector = FaceDetector()
    rgb = decode_image((face_data / "lfw-known" / "Kofi_Annan" / "Kofi_Annan_0005.jpg").read_bytes())
    (box, *_) = detector.detect(rgb)
    eyes = detector.eyes(rgb, box)
    assert eyes is not None and abs(eyes.angle) < 6
    return rgb, box, eyes


def test_eyes_of_a_real_face_sit_in_the_upper_half_of_its_box(upright):
    _, box, eyes = upright
    for x, y in (eyes.left, eyes.right):
        assert box.x < x < box.x + box.width and box.y < y < box.y + box.height / 2
    assert 0.25 * box.width < eyes.distance < 0.5 * box.width
    assert eyes.left[0] < eyes.right[0]


@pytest.mark.parametrize("turn", [-10.0, -5.0, 5.0, 10.0])
def test_eyes_follow_a_turned_photo(upright, turn):
    rgb, box, eyes = upright
    height, width = rgb.shape[:2]
    # cv2's positive angle turns the picture anticlockwise on screen: the eye line tilts by -turn
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), turn, 1.0)
    turned = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    cx, cy = matrix @ (box.x + box.width / 2, box.y + box.height / 2, 1.0)  # the box, moved with the face
    moved = Box(round(cx - box.width / 2), round(cy - box.height / 2), box.width, box.height)
    found = FaceDetector().eyes(turned, moved)
    assert found is not None, "no eyes found in the turned photo"
    assert found.angle == pytest.approx(eyes.angle - turn, abs=4.0)


def test_no_eyes_in_a_blank_box():
    rgb = np.full((200, 200, 3), 128, np.uint8)
    assert FaceDetector().eyes(rgb, Box(20, 20, 150, 150)) is None
    assert FaceDetector().eyes(rgb, Box(0, 0, 10, 10)) is None  # too small to look for eyes


def test_alignment_is_the_scratch_models_and_not_for_specs_recorded_before_it():
    from trainer.config import load_config
    from trainer.configs import CONFIG_DIR

    assert not PreprocessSpec().align_eyes  # the descriptor's crop is the box rule (issue 19)
    assert load_config(CONFIG_DIR / "scratch.toml").preprocess.align_eyes
    aligned = PreprocessSpec(align_eyes=True, align_landmarks=False)
    assert PreprocessSpec.from_dict(aligned.to_dict()).align_eyes
    recorded_before = {k: v for k, v in aligned.to_dict().items() if k != "align_eyes"}
    assert not PreprocessSpec.from_dict(recorded_before).align_eyes  # such records hold unaligned crops


def test_aligned_crop_moves_down_by_the_shift():
    """crop_shift moves the aligned crop's centre down the face: the eyes rise by shift x box width."""
    rgb, eyes = tilted_eyes(0.0)
    plain = PreprocessSpec(crop_margin=0.15, crop_shift=0.0, crop_size=96, align_eyes=True, align_landmarks=False)
    shifted = PreprocessSpec(crop_margin=0.15, crop_shift=0.09, crop_size=96, align_eyes=True, align_landmarks=False)
    (y_plain, y_shifted) = (np.mean([y for _, y in dark_blobs(cv2.cvtColor(crop_face(rgb, None, spec, eyes),
                                                                          cv2.COLOR_RGB2GRAY))])
                            for spec in (plain, shifted))
    side = (60.0 / EYE_SPAN) * 1.3  # the patch's side in photo pixels: box width with 15% margins
    assert y_plain - y_shifted == pytest.approx(0.09 * (60.0 / EYE_SPAN) * 96 / side, abs=0.6)
