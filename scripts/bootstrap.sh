#!/usr/bin/env bash
# Installs what the project needs on a fresh machine (idempotent; fast when nothing changed):
# Debian packages for the tests (Prometheus, Chromium), a Python 3.11 venv in .venv with the
# project and all its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(prometheus chromium)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: please install Debian packages: ${missing[*]} (needs root)" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing Python packages into .venv (first time: a few minutes)"
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install -q -e ".[trainer,service,dev]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import tensorflow, cv2, flask, tensorflow_serving" 2>/dev/null \
        || { echo "bootstrap: Python packages failed to install" >&2; exit 1; }
    rm -f .venv/.installed-* && touch "$stamp"
fi
