"""A face's explanation heatmap, from the model input's pixels to a small PNG over the face's box."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from facecore.detect import Box

MAX_SIDE = 64  # the PNG's longer side, in pixels: the page stretches it over the box


def box_heatmap(heatmap: np.ndarray, frame: np.ndarray, box: Box, max_side: int = MAX_SIDE) -> np.ndarray:
    """uint8 [h, w] over `box` (aspect kept, longer side `max_side`) of a heatmap [S, S] in 0..1 in
    model-input pixels, `frame` [2, 3] mapping photo pixels to those (facecore input_frame)."""
    scale = max_side / max(box.width, box.height)
    width, height = max(1, round(box.width * scale)), max(1, round(box.height * scale))
    # output pixel centre (u + 0.5) lies at box.x + (u + 0.5) / scale in the photo
    to_photo = np.array([[1.0 / scale, 0.0, box.x + 0.5 / scale - 0.5],
                         [0.0, 1.0 / scale, box.y + 0.5 / scale - 0.5]])
    to_input = frame[:, :2] @ to_photo[:, :2], frame[:, :2] @ to_photo[:, 2] + frame[:, 2]
    matrix = np.column_stack(to_input)
    warped = cv2.warpAffine(np.asarray(heatmap, np.float32), matrix, (width, height),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    return np.clip(np.rint(warped * 255.0), 0, 255).astype(np.uint8)


def png_base64(grey: np.ndarray) -> str:
    """A grayscale PNG of uint8 [h, w], base64."""
    ok, encoded = cv2.imencode(".png", grey)
    if not ok:
        raise ValueError("the heatmap could not be encoded as PNG")
    return base64.b64encode(encoded.tobytes()).decode("ascii")
