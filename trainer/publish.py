"""`python -m trainer publish`: export an evaluated run into `<models>/<name>/<next version>/`.

Refused (exit 3) when the run's test macro-F1 is below the published version's by more than
[publish] tolerance, unless --force. Keeps the newest [publish] keep versions.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from trainer import registry
from trainer.config import PublishConfig, add_config_arguments, load_config
from trainer.rundir import RunDir

EXIT_REFUSED = 3


def publish_run(run_dir: Path, models_dir: Path, config: PublishConfig, force: bool = False) -> int:
    """Gate, export and publish a run; return the new version number."""
    from trainer.export import export_run  # TensorFlow only once the gate has passed

    run = RunDir(run_dir)
    report = run.read_json(run.report)
    model_dir = Path(models_dir) / config.model_name
    if not force:
        registry.check_gate(model_dir, report["macro_f1"], config.tolerance)

    def write(folder: Path) -> None:
        export_run(run.root, folder, config.model_name)
        shutil.copyfile(run.report, folder / registry.REPORT_FILE)
        shutil.copyfile(run.config, folder / registry.CONFIG_FILE)

    provenance = {"source": "train", "run_dir": str(run.root.resolve()), "macro_f1": report["macro_f1"],
                  "forced": force}
    return registry.publish(model_dir, write, config.keep, provenance)


def add_arguments(parser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="an evaluated `train` run folder")
    parser.add_argument("--models", type=Path, required=True, help="folder TF Serving reads models from")
    parser.add_argument("--force", action="store_true", help="publish even if the quality gate refuses")
    add_config_arguments(parser)


def main(args) -> int:
    try:
        base = RunDir(args.run).read_config()
        config = load_config(args.config, args.overrides, base=base).publish
        version = publish_run(args.run, args.models, config, force=args.force)
    except registry.GateRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"published {Path(args.models) / config.model_name / str(version)}")
    return 0
