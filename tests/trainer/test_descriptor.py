"""The pretrained descriptor: its weights' fetch and checks, and the Keras network they load into.

The port is compared with the package's own TensorFlow.js code in test_descriptor_tfjs.py; here,
the weights' bookkeeping and what the network must do on real faces.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest

from trainer.model import descriptor_weights as dw


def test_dequantise_reads_uint8_and_float32_tensors_in_manifest_order():
    manifest = [{"paths": ["x.bin"], "weights": [
        {"name": "a", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
        {"name": "b", "shape": [3], "dtype": "float32"},
    ]}]
    binary = bytes([0, 1, 2, 255]) + np.array([1.5, -2.0, 0.25], "<f4").tobytes()
    weights = dw.dequantise(manifest, binary)
    np.testing.assert_allclose(weights["a"], [[-1.0, -0.5], [0.0, 126.5]])
    np.testing.assert_allclose(weights["b"], [1.5, -2.0, 0.25])
    with pytest.raises(dw.WeightsUnavailable, match="longer"):
        dw.dequantise(manifest, binary + b"\0")


def _tarball(tmp_path, files: dict[str, bytes]):
    path = tmp_path / "package.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_package_whose_files_differ_from_the_pinned_digests_is_refused(tmp_path):
    tarball = _tarball(tmp_path, {dw.MANIFEST: json.dumps([]).encode(), dw.BINARY: b"\0" * 16})
    with pytest.raises(dw.WeightsUnavailable, match="pinned SHA-256"):
        dw._package_files(tarball)


def test_a_package_without_one_of_the_pinned_files_is_refused(tmp_path, monkeypatch):
    names = list(dw.FILE_SHA256)
    monkeypatch.setattr(dw, "FILE_SHA256", {name: hashlib.sha256(b"x").hexdigest() for name in names})
    tarball = _tarball(tmp_path, {name: b"x" for name in names[:-1]})
    with pytest.raises(dw.WeightsUnavailable, match=f"has no {names[-1]}"):
        dw._package_files(tarball)


def test_without_npm_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(dw.shutil, "which", lambda name: None)
    with pytest.raises(dw.WeightsUnavailable, match="npm is not installed.*apt-get install npm"):
        dw.ensure_weights(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cache_folder_follows_the_environment(tmp_path):
    assert dw.cache_dir({"FACEID_WEIGHTS_DIR": str(tmp_path)}) == tmp_path
    assert dw.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "faceid"


@pytest.fixture(scope="module")
def weights():
    """The real weights (fetched with npm on first use, then cached)."""
    return dw.load_descriptor_weights()


def test_the_real_weights_are_the_pinned_resnet(weights):
    assert len(weights) == 117 and weights["fc"].shape == (256, 128)
    assert weights["conv32_down/conv/filters"].shape == (7, 7, 3, 32)
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights.values())


def test_the_real_landmark_weights_are_the_pinned_network():
    weights = dw.load_landmark_weights()
    assert len(weights) == 49 and weights["fc/weights"].shape == (256, 136)
    assert weights["dense0/conv0/filters"].shape == (3, 3, 3, 32)
    assert weights["dense3/conv3/pointwise_filter"].shape == (1, 1, 256, 256)
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights.values())


@pytest.mark.data
def test_descriptor_tells_people_apart(weights, face_data):
    """Chips of real faces, cut by the default aligner: two photos of one person are closer than
    photos of different people (dlib's convention: euclidean distance below 0.6 is the same person)."""
    from facecore.detect import FaceDetector
    from facecore.images import decode_image
    from facecore.preprocess import PreprocessSpec, face_crops, model_inputs
    from trainer.model.align import CHIPS_KEY, build_aligner
    from trainer.model.descriptor import build_descriptor

    spec, detector = PreprocessSpec(), FaceDetector()
    aligner = build_aligner(spec, dw.load_landmark_weights())
    people = ("Kofi_Annan", "Serena_Williams", "Junichiro_Koizumi")
    crops = []
    for person in people:
        own = []
        for photo in sorted((face_data / "lfw-known" / person).glob("*.jpg")):
            rgb = decode_image(photo.read_bytes())
            own += face_crops(rgb, detector.detect(rgb)[:1], spec, detector)
        crops += own[:2]
    chips = aligner(model_inputs(crops, spec))[CHIPS_KEY]
    vectors = build_descriptor(weights, spec.channels)(chips).numpy()  # [6, 128]
    distance = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    same = [distance[i, i + 1] for i in (0, 2, 4)]
    different = [distance[i, j] for i in range(6) for j in range(6) if i // 2 != j // 2]
    assert max(same) < 0.6 <= min(different), (same, min(different))


def test_grayscale_input_is_the_rgb_network_on_three_equal_channels(weights):
    from trainer.model.descriptor import build_descriptor

    grey = np.random.default_rng(0).random((2, 150, 150, 1), dtype=np.float32)
    one = build_descriptor(weights, channels=1)(grey).numpy()
    three = build_descriptor(weights, channels=3)(np.repeat(grey, 3, axis=-1)).numpy()
    np.testing.assert_allclose(one, three, atol=1e-6)
