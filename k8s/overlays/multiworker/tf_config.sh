#!/bin/sh
# Sets TF_CONFIG for this pod of an Indexed Job, then runs the command given as arguments.
# Kubernetes sets JOB_COMPLETION_INDEX; the pod spec sets JOB_NAME (downward API),
# NUM_WORKERS, WORKERS_SERVICE (the headless Service) and WORKER_PORT.
# Pod i of job J is reachable as J-i.WORKERS_SERVICE, so every pod lists the same cluster.
set -eu

workers=""
i=0
while [ "$i" -lt "$NUM_WORKERS" ]; do
  workers="${workers:+$workers,}\"$JOB_NAME-$i.$WORKERS_SERVICE:$WORKER_PORT\""
  i=$((i + 1))
done

TF_CONFIG="{\"cluster\":{\"worker\":[$workers]},\"task\":{\"type\":\"worker\",\"index\":$JOB_COMPLETION_INDEX}}"
export TF_CONFIG
echo "tf_config.sh: TF_CONFIG=$TF_CONFIG" >&2
exec "$@"
