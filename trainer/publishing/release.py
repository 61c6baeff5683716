"""Publishing a training run: the quality gate, the export, the load check, then a new version.

Refused (GateRefused) when the run's test macro-F1 is below the published version's by more
than [publish] tolerance, unless forced; refused (NotServable) when TF Serving would not load
the export, always. Keeps the newest [publish] keep versions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from facecore.versions import REPORT_PAGE
from trainer.config import PublishConfig
from trainer.publishing import registry
from trainer.publishing.export import export_run
from trainer.publishing.loadcheck import FreshProcessCheck
from trainer.publishing.rundir import RunDir

KERAS_FILE = "model.keras"  # the Keras model behind the SavedModel (trainer/publishing/enrolment.py)


def publish_run(run_dir: Path, models_dir: Path, config: PublishConfig, force: bool = False) -> int:
    """Gate, export, check and publish a run; return the new version number."""
    run = RunDir(run_dir)
    report = run.read_json(run.report)
    model_dir = Path(models_dir) / config.model_name

    def write(folder: Path) -> None:
        # Under the registry's lock: the version the gate compares with is still the newest
        # when this one lands (a rollback cannot slip in between).
        if not force:
            registry.check_gate(model_dir, report["macro_f1"], config.tolerance)
        export_run(run.root, folder, config.model_name)
        shutil.copyfile(run.report, folder / registry.REPORT_FILE)
        if (run.root / REPORT_PAGE).exists():
            shutil.copyfile(run.root / REPORT_PAGE, folder / REPORT_PAGE)
        shutil.copyfile(run.config, folder / registry.CONFIG_FILE)
        shutil.copyfile(run.model, folder / KERAS_FILE)  # what enrolment builds the next version from

    provenance = {"source": "train", "run_dir": str(run.root.resolve()), "macro_f1": report["macro_f1"],
                  "forced": force}
    with FreshProcessCheck() as verify:  # loading TensorFlow while the export runs
        return registry.publish(model_dir, write, config.keep, provenance, verify=verify)
