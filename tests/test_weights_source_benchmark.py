"""The weights-source benchmark reads dlib's serialisation (benchmarks/weights_source_benchmark.py)."""

from __future__ import annotations

import sys

import numpy as np

from processes import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import weights_source_benchmark as source  # noqa: E402


def integer(value: int) -> bytes:
    """dlib's integer: a control byte (bytes that follow; bit 7 for negative), then little-endian bytes."""
    size = max(1, (abs(value).bit_length() + 7) // 8)
    return bytes([size | (0x80 if value < 0 else 0)]) + abs(value).to_bytes(size, "little")


def string(text: str) -> bytes:
    return integer(len(text)) + text.encode()


def tensor(values: np.ndarray) -> bytes:
    return integer(2) + b"".join(integer(d) for d in (values.size, 1, 1, 1)) + values.astype("<f4").tobytes()


def test_integers_and_tensors_are_read_as_dlib_writes_them():
    reader = source.DlibReader(integer(300) + integer(-7) + tensor(np.array([1.5, -2.0])))
    assert reader.integer(0) == (300, 3)
    assert reader.integer(3) == (-7, 5)
    values, end = reader.tensor(5)
    assert values.tolist() == [1.5, -2.0] and end == len(reader.data)
    assert source.DlibReader(integer(1) + integer(4)).tensor(0) is None  # not version 2: no tensor


def test_layers_are_found_in_file_order_with_their_parameters():
    conv, affine, fc = np.arange(6.0), np.array([0.5, 0.25]), np.arange(4.0) / 8
    data = (string("loss_metric_") + integer(3) + string("con_4") + tensor(conv) + string("relu_")
            + string("affine_") + tensor(affine)
            + string("fc_2") + integer(128) + integer(256) + integer(1) + tensor(fc))  # fc's sizes come first
    layers = source.DlibReader(data).layers()
    assert [name for name, _ in layers] == ["con_4", "affine_", "fc_2"]
    for (_, found), expected in zip(layers, (conv, affine, fc)):
        np.testing.assert_array_equal(found, expected)


def test_a_layer_name_inside_other_bytes_is_not_a_layer():
    data = string("xcon_4") + tensor(np.ones(2)) + b"\x01\x09con_4"  # wrong length byte
    assert source.DlibReader(data).layers() == []
