"""Crop geometry and the model input: values checked by hand."""

import numpy as np
import pytest

from facecore.detect import Box
from facecore.preprocess import PreprocessSpec, crop_face, model_input, model_inputs, square_box


@pytest.mark.parametrize(
    "box, shape, expected",
    [
        (Box(40, 40, 20, 20), (100, 100, 3), Box(37, 37, 26, 26)),  # grown 15% each side
        (Box(0, 0, 20, 10), (100, 100, 3), Box(0, 0, 26, 26)),  # shifted into the image
        (Box(90, 85, 10, 15), (100, 100, 3), Box(80, 80, 20, 20)),  # at the far corner
        (Box(0, 0, 90, 50), (60, 100, 3), Box(15, 0, 60, 60)),  # larger than the image: shrunk, centred
    ],
)
def test_square_box(box, shape, expected):
    assert square_box(box, 0.15, shape) == expected


def test_square_box_shift_moves_the_centre_down_by_a_share_of_the_side():
    assert square_box(Box(40, 20, 100, 100), 0.0, (300, 300, 3), shift=0.09) == Box(40, 29, 100, 100)
    # the descriptor's chip: x1.038, moved down 0.09 of the side
    assert square_box(Box(100, 100, 100, 100), 0.019, (400, 400, 3), shift=0.09) == Box(98, 107, 104, 104)


def test_crop_face_is_a_square_of_crop_size():
    rgb = np.zeros((120, 200, 3), np.uint8)
    rgb[30:90, 70:130] = (255, 0, 0)
    crop = crop_face(rgb, Box(70, 30, 60, 60), PreprocessSpec(crop_margin=0.0, crop_shift=0.0, crop_size=32))
    assert crop.shape == (32, 32, 3)
    assert (crop == (255, 0, 0)).all()


def test_model_input_is_normalised_grayscale():
    spec = PreprocessSpec(crop_size=16, input_size=8, channels=1, mean=0.5, std=0.5)
    crop = np.full((16, 16, 3), 255, np.uint8)
    crop[:8] = 0
    crop[8:, :, 1] = 0  # magenta: grey 0.299*255 + 0.114*255 = 105
    x = model_input(crop, spec)
    assert x.shape == (8, 8, 1) and x.dtype == np.float32
    assert np.allclose(x[:4], -1.0)
    assert np.allclose(x[4:], (105 / 255 - 0.5) / 0.5)


def test_model_input_in_rgb_keeps_the_channels():
    spec = PreprocessSpec(crop_size=16, input_size=8, channels=3, mean=0.0, std=1.0)
    crop = np.zeros((16, 16, 3), np.uint8)
    crop[..., 0], crop[..., 2] = 255, 51
    x = model_input(crop, spec)
    assert x.shape == (8, 8, 3) and x.dtype == np.float32
    assert np.allclose(x[..., 0], 1.0) and np.allclose(x[..., 1], 0.0) and np.allclose(x[..., 2], 0.2)


def test_model_inputs_batches_and_handles_no_faces():
    spec = PreprocessSpec(input_size=16, channels=1, mean=0.5, std=0.5)
    assert model_inputs([], spec).shape == (0, 16, 16, 1)
    batch = model_inputs([np.zeros((96, 96, 3), np.uint8)] * 3, spec)
    assert batch.shape == (3, 16, 16, 1) and np.allclose(batch, -1.0)
    rgb = PreprocessSpec(input_size=16, channels=3)
    assert model_inputs([], rgb).shape == (0, 16, 16, 3)


def test_loose_crop_keeps_the_box_where_the_margin_puts_it_even_at_the_photo_edge():
    """align_landmarks: the model finds the face in the box's place (`landmark_window`), so the
    square is not moved into the photo; what lies outside repeats the edge."""
    spec = PreprocessSpec(crop_margin=0.25, crop_shift=0.0, crop_size=150, input_size=150, align_landmarks=True)
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[:, :, 1] = np.arange(300)[None, :] % 256  # green says the column
    rgb[:, :, 2] = np.arange(200)[:, None]  # blue says the row
    box = Box(0, 0, 100, 100)  # at the corner: the square (-25..125) reaches outside
    crop = crop_face(rgb, box, spec)
    assert crop.shape == (150, 150, 3)
    left, top, side = spec.landmark_window()
    assert (left, top, side) == pytest.approx((0.25 / 1.5, 0.25 / 1.5, 1 / 1.5))
    centre = crop[75, 75].astype(int)
    assert abs(centre[1] - 50) <= 1 and abs(centre[2] - 50) <= 1  # the box's centre in the crop's centre
    assert crop[0, 0, 1] == crop[0, 0, 2] == 0  # outside: the edge pixel repeated


def test_landmark_window_follows_the_shift():
    spec = PreprocessSpec(crop_margin=0.3, crop_shift=0.1, align_landmarks=True)
    left, top, side = spec.landmark_window()
    assert top + side / 2 == pytest.approx(0.5 - 0.1 / 1.6) and left + side / 2 == pytest.approx(0.5)


def test_the_two_alignments_exclude_each_other():
    with pytest.raises(ValueError, match="exclude each other"):
        PreprocessSpec(align_eyes=True, align_landmarks=True)
