"""Several TF Serving replicas under load (issue 21): each one's share of the calls, a rolling restart, one added later.

gunicorn (tfserving backend, --workers workers) serves --clients threads posting photos without
pause (restart_benchmark's load). Its TFSERVING_ADDRESS names three stand-ins, each its own process
on its own port, as one gRPC target (`ipv4:a,b,c`; on a cluster the headless Service's DNS answer,
k8s/base/tfserving.yaml); the third is not started at first. Steps:
1. share: Predict calls each running replica answered over --window-s (its own request_latency
   count, as TF Serving exports it);
2. rolling restart: replica a SIGKILLed (tensorflow_model_server has no SIGTERM handler: a stop is
   as abrupt) and started again, then b; every answer meanwhile counted;
3. added later: c started; the time until it answers its first call, then the three shares.

Prints JSON and exits 1 when a goal is missed: shares within 40-60 % (two replicas), 0 failed
requests across the rolling restart, the third answering within 30 s with a share within 23-43 %.

    python benchmarks/replicas_benchmark.py [--clients 4] [--workers 2] [--out DIR [--name N]]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the stand-in, the process helpers, the model exporter
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import recording  # noqa: E402
from processes import Gunicorn, StandInProcess  # noqa: E402
from restart_benchmark import (  # noqa: E402
    MODEL_NAME, Load, add_load_arguments, export_model, latencies, statuses,
)

GOALS = {"share_of_two": [0.4, 0.6], "share_of_three": [0.23, 0.43], "failed_in_rolling_restart": 0,
         "added_replica_answers_within_s": 30.0}
PREDICT_COUNT = re.compile(r'request_latency_count\{[^}]*API="Predict"[^}]*\} (\d+)')
METRICS_PATH = "/monitoring/prometheus/metrics"  # k8s/base/tfserving/monitoring.config


def predict_calls(standin: StandInProcess) -> int:
    """Predict calls the replica answered since it started (0 while it is down)."""
    try:
        with urllib.request.urlopen(standin.rest_url + METRICS_PATH, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0
    return sum(int(count) for count in PREDICT_COUNT.findall(text))


def shares(replicas: list[StandInProcess], window_s: float) -> dict:
    """Each replica's part of the Predict calls answered during `window_s`."""
    before = [predict_calls(r) for r in replicas]
    time.sleep(window_s)
    calls = [predict_calls(r) - b for r, b in zip(replicas, before)]
    total = sum(calls) or 1
    return {"calls": calls, "shares": [round(c / total, 3) for c in calls]}


def rolling_restart(replicas: list[StandInProcess], load: Load, settle_s: float) -> dict:
    """Kill and start each replica in turn, the next only once the last is back and settled."""
    began, steps = time.monotonic(), []
    for replica in replicas:
        killed = time.monotonic()
        replica.process.kill()
        replica.process.wait()
        replica.start()  # returns once its gRPC port is open: the model is AVAILABLE
        steps.append({"down_s": round(time.monotonic() - killed, 2)})
        time.sleep(settle_s)
    answers = [a for a in load.answers if a.began >= began or a.ended >= began]
    failed = [a for a in answers if a.status != 200]
    return {"steps": steps, "requests": len(answers), "failed": len(failed), "statuses": statuses(answers),
            "latency_ms": latencies(answers)}


def add_replica(replica: StandInProcess, running: list[StandInProcess], window_s: float) -> dict:
    """Start `replica` (its address already in the target); when it first answers, then the shares."""
    started = time.monotonic()
    replica.start()
    port_open = time.monotonic()
    while predict_calls(replica) == 0 and time.monotonic() - port_open < 120:
        time.sleep(0.05)
    first_call = time.monotonic()
    return {"start_s": round(port_open - started, 2), "first_call_after_port_open_s": round(first_call - port_open, 2),
            **shares([*running, replica], window_s)}


def run(args) -> dict:
    from service_benchmark import load_photos

    photos = [data for _, data in load_photos(args.data)]
    scratch = Path(tempfile.mkdtemp(prefix="faceid-replicas-"))
    models = args.models or export_model(scratch / "models")
    replicas = [StandInProcess(MODEL_NAME, models / MODEL_NAME, scratch / f"standin-{n}.log") for n in "abc"]
    target = "ipv4:" + ",".join(r.address for r in replicas)
    env = {"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": target, "MODEL_NAME": MODEL_NAME,
           "WEB_CONCURRENCY": str(args.workers)}
    try:
        for replica in replicas[:2]:
            replica.start()
        with Gunicorn(env, scratch / "gunicorn.log") as server, Load(server.port, photos, args.clients) as load:
            time.sleep(args.settle_s)
            two = shares(replicas[:2], args.window_s)
            restart = rolling_restart(replicas[:2], load, args.settle_s)
            time.sleep(args.settle_s)
            added = add_replica(replicas[2], replicas[:2], args.window_s)
    finally:
        for replica in replicas:
            replica.stop()
    figures = {"two_replicas": two, "rolling_restart": restart, "third_added": added}
    return {"machine": {"gunicorn_workers": args.workers, "clients": args.clients},
            "setup": {"target": "ipv4: three stand-in processes", "window_s": args.window_s,
                      "settle_s": args.settle_s, "photos": len(photos)},
            "goals": GOALS, **figures, "goals_met": goals_met(figures), "logs": str(scratch)}


def goals_met(figures: dict) -> dict[str, bool]:
    low2, high2 = GOALS["share_of_two"]
    low3, high3 = GOALS["share_of_three"]
    added = figures["third_added"]
    return {
        "two_replicas_share_40_to_60_percent": all(low2 <= s <= high2 for s in figures["two_replicas"]["shares"]),
        "rolling_restart_fails_no_request": figures["rolling_restart"]["failed"] == GOALS["failed_in_rolling_restart"],
        "added_replica_answers_within_30s":
            added["start_s"] + added["first_call_after_port_open_s"] <= GOALS["added_replica_answers_within_s"],
        "three_replicas_share_evenly": all(low3 <= s <= high3 for s in added["shares"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    parser.add_argument("--window-s", type=float, default=10.0, help="how long shares are counted")
    parser.add_argument("--settle-s", type=float, default=2.0, help="load before each step")
    args = parser.parse_args(argv)
    result = recording.write(run(args), args, name="replicas")
    return 0 if all(result["goals_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
