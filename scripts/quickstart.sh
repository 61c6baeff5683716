#!/usr/bin/env bash
# The main job on one machine: installs what is missing, trains a quick model on sample photos
# when none is published yet, then serves it on http://127.0.0.1:8000 with the in-process
# (`local`) backend. Photos: $DATA_DIR (default: the shared LFW sample); models: $MODELS_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/bootstrap.sh
echo "quickstart: installed in $((SECONDS - started)) s"
export FACE_DATA_DIR="${FACE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
DATA_DIR="${DATA_DIR:-$FACE_DATA_DIR/lfw-known}"
MODELS_DIR="${MODELS_DIR:-$PWD/models}"
export MODEL_NAME="${MODEL_NAME:-faces}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

if ! ls -d "$MODELS_DIR/$MODEL_NAME"/[0-9]* >/dev/null 2>&1; then
    echo "quickstart: no model in $MODELS_DIR/$MODEL_NAME yet: training a quick one on $DATA_DIR"
    .venv/bin/python -m trainer run --data "$DATA_DIR" --models "$MODELS_DIR" \
        --config trainer/configs/quick.toml --set "publish.model_name=$MODEL_NAME"
    echo "quickstart: trained and published in $((SECONDS - started)) s since the start"
fi

# This machine only unless told otherwise (LISTEN_HOST=0.0.0.0): the API has no key here.
export SERVING_BACKEND=local MODEL_BASE_PATH="$MODELS_DIR" PORT="${PORT:-8000}" LISTEN_HOST="${LISTEN_HOST:-127.0.0.1}"
echo "quickstart: serving $MODEL_BASE_PATH/$MODEL_NAME on http://$LISTEN_HOST:$PORT"
exec .venv/bin/gunicorn -c service/gunicorn.conf.py service.wsgi:app
