"""Where a model version's run report lies, as the service sees the models folder."""

from __future__ import annotations

from pathlib import Path

from facecore.versions import REPORT_PAGE, version_folders
from service.errors import BadOption, ReportNotFound

# The report is one self-contained page: inline styles and data: images, nothing fetched.
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MAX_VERSION = 2**63 - 1


def read_version(args) -> int | None:
    """`?version=N` (a positive integer), or None when absent."""
    raw = args.get("version")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_VERSION:
        raise BadOption(f"version must be a positive integer, got {raw!r}")
    return int(raw)


def find_report(config, name: str, version: int | None) -> Path:
    """MODEL_BASE_PATH/<name>/<version>/report.html; ReportNotFound saying why there is none."""
    if name != config.model_name:
        raise ReportNotFound(f"this service serves model {config.model_name!r}, not {name!r}")
    if config.model_base_path is None:
        raise ReportNotFound("MODEL_BASE_PATH is not set on this service, so the models folder (and the "
                             "reports in it) is not visible here; mount it read-only and set MODEL_BASE_PATH")
    folder = version_folders(Path(config.model_base_path) / name).get(version)
    if folder is None:
        raise ReportNotFound(f"no version {version} of {name} under {config.model_base_path}")
    path = folder / REPORT_PAGE
    if not path.is_file():
        raise ReportNotFound(f"version {version} of {name} has no {REPORT_PAGE}: it was published before "
                             "run reports existed")
    return path
