#!/usr/bin/env bash
# The test command: installs what is missing, checks the code with ruff (pyflakes and
# pycodestyle, [tool.ruff] in pyproject.toml), then runs the whole suite (unit, integration,
# real-data and deployment checks). The shared photos come from $FACE_DATA_DIR
# (default: ../shared/data beside the repository); without them the suite fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
export FACE_DATA_DIR="${FACE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
