"""@vladmandic/face-api's own TensorFlow.js networks: the reference for the Keras ports.

`tfjs_descriptors(crops)` (the face descriptor) and `tfjs_landmarks(faces)` (68 face points) run
tests/support/tfjs_reference/networks.mjs under node, on the CPU backend
of pure-JS TensorFlow.js (no native binary). The node packages are installed once with `npm ci` from the
committed lockfile into tfjs_reference/node_modules (git-ignored) and reused while the lockfile is unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent / "tfjs_reference"
SCRIPT = FOLDER / "networks.mjs"
LOCKFILE = FOLDER / "package-lock.json"
NODE_MODULES = FOLDER / "node_modules"
# Written after a successful `npm ci` (which empties node_modules first): the lockfile's hash it installed.
STAMP = NODE_MODULES / ".faceid-lockfile.sha256"
SIZE = 150  # FaceRecognitionNet's input: crops of exactly this size reach the net unresized
LANDMARK_SIZE = 112  # FaceLandmark68Net's


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"`{name}` is not on PATH: the tfjs reference needs Node.js (>= 18) and npm "
                           f"(Debian: apt-get install nodejs npm)")
    return found


def _lock_hash() -> str:
    return hashlib.sha256(LOCKFILE.read_bytes() + (FOLDER / "package.json").read_bytes()).hexdigest()


def ensure_installed() -> Path:
    """`npm ci` into tfjs_reference/ unless node_modules already holds this lockfile's packages."""
    wanted = _lock_hash()
    if STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return NODE_MODULES
    npm = _tool("npm")
    # One installer at a time (parallel test processes); the others find the stamp written.
    with open(FOLDER / ".npm-ci.lock", "w") as lock:  # git-ignored beside node_modules
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.is_file() and STAMP.read_text().strip() == wanted:
            return NODE_MODULES
        # --ignore-scripts: nothing here needs an install step, and none may fetch a binary.
        result = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=FOLDER,
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"npm ci in {FOLDER} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        STAMP.write_text(wanted + "\n")
    return NODE_MODULES


def tfjs_descriptors(crops: np.ndarray) -> np.ndarray:
    """float32 [N,128] raw descriptors of N RGB crops [N,150,150,3] with values in 0..255."""
    return _run("descriptor", crops, SIZE, 128)


def tfjs_landmarks(faces: np.ndarray) -> np.ndarray:
    """float32 [N,68,2] face points, (x, y) in shares of the side, of N RGB faces [N,112,112,3] in 0..255."""
    return _run("landmarks", faces, LANDMARK_SIZE, 136).reshape(-1, 68, 2)


def _run(network: str, crops: np.ndarray, size: int, width: int) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[1:] != (size, size, 3) or crops.shape[0] < 1:
        raise ValueError(f"expected crops of shape [N,{size},{size},3], got {list(crops.shape)}")
    node = _tool("node")
    ensure_installed()
    count = crops.shape[0]
    with tempfile.TemporaryDirectory(prefix="tfjs-reference-") as tmp:
        inputs, outputs = Path(tmp) / "crops.bin", Path(tmp) / "outputs.bin"
        np.ascontiguousarray(crops, dtype="<f4").tofile(inputs)
        result = subprocess.run([node, str(SCRIPT), network, str(inputs), str(count), str(outputs)], cwd=FOLDER,
                                capture_output=True, text=True, timeout=120 + 10 * count)
        if result.returncode != 0:
            raise RuntimeError(f"{SCRIPT.name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        values = np.fromfile(outputs, dtype="<f4")
    if values.size != count * width:
        raise RuntimeError(f"{SCRIPT.name} wrote {values.size} values, expected {count * width}")
    return values.reshape(count, width).astype(np.float32)
