"""The packages' layout: every module imports on its own (no import cycle), and TensorFlow is
loaded only by the modules that compute with it: never by the trainer's command layer, its
TF-free library modules, the service's TF Serving path or facecore."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("facecore", "trainer", "service")
# Entry points that build something when imported (service.wsgi makes the app from the environment).
NOT_IMPORTED = {"service.wsgi"}
# The modules that import TensorFlow (or Keras) when imported; the command layer imports them
# inside `main`, so that `--help` and the commands that need no TensorFlow start fast.
TENSORFLOW_MODULES = {
    "service.local",
    "trainer.retrain",
    *(f"trainer.data.{name}" for name in ("augment", "pipeline", "preparation", "records")),
    *(f"trainer.evaluation.{name}" for name in ("kfold", "openset", "report_figures", "run_report", "scoring",
                                                "tune")),
    *(f"trainer.model.{name}" for name in ("align", "callbacks", "descriptor", "devices", "landmarks",
                                           "multiworker", "network", "optimizers", "saliency", "training")),
    *(f"trainer.publishing.{name}" for name in ("enrolment", "export", "release", "servable")),
}
CHECK = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
         "sys.exit(3 if any(m == 'tensorflow' or m == 'keras' for m in sys.modules) else 0)")


def modules() -> list[str]:
    """Every module and package of PACKAGES, by its dotted name."""
    found = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if all(part.isidentifier() for part in parts):  # not gunicorn.conf.py: a config file
                found.add(".".join(parts))
    return sorted(found - NOT_IMPORTED)


def import_first(module: str) -> tuple[int, str]:
    """Import `module` first thing in a fresh interpreter: its exit status (3: TensorFlow loaded)."""
    done = subprocess.run([sys.executable, "-c", CHECK, module], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stderr[-1500:]


def import_all(names: list[str]) -> dict[str, tuple[int, str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(import_first, names)))


def test_the_tensorflow_list_names_real_modules():
    assert TENSORFLOW_MODULES <= set(modules())


def test_modules_without_tensorflow_import_alone_and_load_no_tensorflow():
    results = import_all([m for m in modules() if m not in TENSORFLOW_MODULES])
    failed = {m: r for m, r in results.items() if r[0] == 1}
    assert not failed, f"failed to import alone: {failed}"
    assert [m for m, r in results.items() if r[0] == 3] == [], "imported TensorFlow"
    assert {"trainer.commands.train", "service.tfserving", "service.app"} <= set(results)


@pytest.mark.slow
def test_modules_with_tensorflow_import_alone():
    results = import_all(sorted(TENSORFLOW_MODULES))
    failed = {m: r for m, r in results.items() if r[0] not in (0, 3)}
    assert not failed, f"failed to import alone: {failed}"
