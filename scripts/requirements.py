"""Print pyproject.toml's requirements, one per line, for `pip install -r` in a build step.

    python scripts/requirements.py service             # from the repository root: the core dependencies
                                                       # and the service extra
    python scripts/requirements.py --no-core tf-cpu    # one extra only

Images install these before copying the code, so a code change does not reinstall them.
Needs only the standard library (Python 3.11's tomllib).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, extras: list[str], core: bool = True) -> list[str]:
    """The requirement strings of `extras` (and the core dependencies when `core`)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [extra for extra in extras if extra not in optional]
    if unknown:
        raise KeyError(f"no extra {', '.join(unknown)} in {pyproject} (has: {', '.join(optional)})")
    lines = list(project["dependencies"]) if core else []
    for extra in extras:
        lines += [line for line in optional[extra] if not line.startswith(project["name"] + "[")]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--no-core", action="store_true", help="leave out the core dependencies")
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"), help="default: ./pyproject.toml")
    args = parser.parse_args(argv)
    try:
        print("\n".join(requirements(args.pyproject, args.extras, core=not args.no_core)))
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
