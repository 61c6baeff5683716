"""Before a version is published: load it in a fresh process the way TF Serving will.

TF Serving tries only the newest version. A newest version it cannot load keeps the old one
serving only until the next restart, then nothing serves; so the registry renames a version
into place only after `check_in_fresh_process` has passed (trainer/publishing/servable.py holds
the check itself: every signature, the batching rules, the warm-up requests replayed).

A fresh process, not this one: the trainer has the model in memory already, and the check must
see only what is on disk, with none of this process's state (custom objects, strategies,
GPU memory) to lean on.

`check_session` is the second half of that check: servable.py runs the signatures through
`tf.saved_model.load`'s functions, but TF Serving's SavedModelBundle loads the `serve` MetaGraph
into a C++ session and feeds and fetches the tensors its SignatureDefs name; a version can pass
the one and fail the other (a SignatureDef naming a tensor the graph lacks, an op only the
functions' runtime has).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trainer.errors import Refused

CHECK_TIMEOUT_S = 600
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding `trainer`


class NotServable(Refused):
    """TF Serving would fail to load the version, or fail its requests (nothing was published)."""


def check_in_fresh_process(version_dir: Path, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Run `python -m trainer verify --version VERSION_DIR` in a new interpreter; raise
    NotServable with its reason if it does not pass."""
    with FreshProcessCheck(timeout_s) as check:
        check(version_dir)


class FreshProcessCheck:
    """`check_in_fresh_process`, its process started ahead: started before the version is written
    (`with FreshProcessCheck() as verify: registry.publish(..., verify=verify)`), it imports
    TensorFlow, most of its time, while the export runs, then reads the folder to check from its
    stdin (`verify --version -`). Closing it ends a process that was never given a folder."""

    def __init__(self, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._process = subprocess.Popen(
            [sys.executable, "-m", "trainer", "verify", "--version", "-"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment(), cwd=PACKAGE_ROOT)

    def __enter__(self) -> "FreshProcessCheck":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def exited(self) -> bool:
        """Whether its process has ended (checked, or closed)."""
        return self._process.poll() is not None

    def close(self) -> None:
        if not self.exited:
            self._process.kill()
            self._process.communicate()

    def __call__(self, version_dir: Path) -> None:
        try:
            _, stderr = self._process.communicate(f"{version_dir}\n", timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            self.close()
            raise NotServable(f"loading {version_dir} as TF Serving would took over {self._timeout_s:.0f} s; "
                              "nothing was published") from None
        if self._process.returncode != 0:
            raise NotServable(f"TF Serving would not load {version_dir}: {_reason(stderr)}; nothing was published")


def check_session(version_dir: Path) -> int:
    """Raise NotServable unless every signature of `version_dir` runs in a TensorFlow session on a
    batch of zeros; the number of signatures run."""
    import tensorflow as tf  # the trainer's CLI reaches this only in `verify`'s fresh process

    from trainer.publishing.servable import INIT_OP_SIGNATURE, SERVE_TAG, _first_line

    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        try:  # SavedModelBundle: load the MetaGraph, restore the variables, run the init op
            meta_graph = tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], str(version_dir))
        except (OSError, RuntimeError, ValueError, tf.errors.OpError) as exc:
            raise NotServable(f"it does not load into a TensorFlow session as TF Serving loads it: "
                              f"{_first_line(exc)}") from None
        signatures = {name: signature for name, signature in meta_graph.signature_def.items()
                      if name != INIT_OP_SIGNATURE}
        for name, signature in signatures.items():
            _run_in_session(session, name, signature)
    return len(signatures)


def _run_in_session(session, name: str, signature) -> None:
    """Feed zeros to and fetch the tensors the SignatureDef names, as TF Serving's Predict does."""
    import numpy as np
    import tensorflow as tf

    from trainer.publishing.servable import PROBE_BATCH, _dims, _first_line, _probe_shape

    feeds = {}
    for info in signature.inputs.values():
        dtype = tf.dtypes.as_dtype(info.dtype)
        shape = _probe_shape(_dims(info), PROBE_BATCH)
        feeds[info.name] = np.full(shape, b"", object) if dtype == tf.string else np.zeros(shape, dtype.as_numpy_dtype)
    try:
        session.run({key: info.name for key, info in signature.outputs.items()}, feed_dict=feeds)
    except (KeyError, TypeError, ValueError, tf.errors.OpError) as exc:
        raise NotServable(f"signature {name!r} fails in a TensorFlow session (as TF Serving runs it) on a "
                          f"batch of zeros: {_first_line(exc)}") from None


def _environment() -> dict[str, str]:
    """This process's environment, on the CPU (as the project's TF Serving runs, and so that a
    trainer holding the GPU's memory cannot make the check fail) and outside any cluster."""
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    environment["CUDA_VISIBLE_DEVICES"] = ""
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    return environment


def _reason(stderr: str) -> str:
    """The check's one-sentence error (`refused: ...`), else the last line it printed."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("refused: "):
            return line.removeprefix("refused: ")
    return lines[-1] if lines else "the check exited without a message"
