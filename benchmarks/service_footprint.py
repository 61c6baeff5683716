"""Footprint of the service on the TF Serving path: image size, worker memory, start-up, latency, import.

Prints one JSON object, each figure beside its target:
- image_mb: size of the docker image faceid-service:0.1.0 (null when docker or the image is absent);
- worker_rss_mb_after_100: resident memory of one gunicorn worker (WEB_CONCURRENCY=1) against the
  TF Serving stand-in after a warm-up pass and 100 POST /v1/predict of real photos, with TF
  Serving's API descriptors saved as the image's build saves them (TFSERVING_API_DESCRIPTORS);
- start_to_ready_s: median time from spawning gunicorn (stand-in already serving) to /readyz 200;
- p50_ms: concurrency-1 p50 through the stand-in over the in-process p50 (service_benchmark's);
- import_s: `import service.tfserving` in a fresh interpreter, and whether TensorFlow came with it.
Loopback only; the model is a course-sized CNN with random weights, exported like service_benchmark.

    python benchmarks/service_footprint.py [--quick] [--requests 100] [--starts 3] [--rounds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the stand-in and the process helpers
sys.path.insert(0, str(REPO / "benchmarks"))

import detector_benchmark  # noqa: E402
import recording  # noqa: E402
import service_benchmark  # noqa: E402
from facecore import tfserving_api  # noqa: E402
from processes import Gunicorn, StandInProcess  # noqa: E402

IMAGE = "faceid-service:0.1.0"
TARGETS = {"image_mb": 400, "worker_rss_mb": 150, "start_to_ready_s": 3.0, "p50_ratio": 1.2}
IMPORTED = "service.tfserving"


def image_size(image: str = IMAGE) -> dict:
    """The image's size in MB (1e6 bytes) as `docker image inspect` reports it."""
    figure = {"image": image, "image_mb": None, "target": TARGETS["image_mb"]}
    if shutil.which("docker") is None:
        return {**figure, "image_note": "docker is not installed here"}
    done = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return {**figure, "image_note": done.stderr.strip() or f"docker exited with {done.returncode}"}
    size_mb = int(done.stdout.strip()) / 1e6
    return {**figure, "image_mb": round(size_mb, 1), "met": size_mb <= TARGETS["image_mb"]}


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (1e6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) * 1024 / 1e6, 1)  # reported in kB (KiB)
    raise RuntimeError(f"no VmRSS for process {pid}")


def tensorflow_libraries(pid: int) -> dict:
    """Whether a process has TensorFlow's shared libraries mapped (cheaper than asking its sys.modules)."""
    paths = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
             if len(line.split()) >= 6}
    ours = sorted({Path(p).name for p in paths if "/tensorflow/" in p or "libtensorflow" in p})
    return {"loaded": bool(ours), "mapped_files": len(ours),
            "core": [name for name in ours if name.startswith("libtensorflow")]}


def worker_footprint(env: dict, log: Path, photos, requests: int) -> tuple[dict, dict]:
    """One worker: its RSS when ready, after a warm-up pass, after `requests` predictions at
    concurrency 1 (whose latencies are returned as the second value)."""
    with Gunicorn({**env, "WEB_CONCURRENCY": "1"}, log) as server:
        (worker,) = server.worker_pids()
        ready = rss_mb(worker)
        warm_up = service_benchmark.load(server.port, photos, len(photos), 1)
        warm = rss_mb(worker)
        measured = service_benchmark.load(server.port, photos, requests, 1)
        figure = {"worker_rss_mb_after_100": rss_mb(worker), "target": TARGETS["worker_rss_mb"],
                  "requests": requests, "warm_up_requests": len(photos),
                  "errors": warm_up["errors"] + measured["errors"],
                  "worker_rss_mb_ready": ready, "worker_rss_mb_after_warm_up": warm,
                  "master_rss_mb": rss_mb(server.process.pid),
                  "worker_tensorflow": tensorflow_libraries(worker)}
    figure["met"] = figure["worker_rss_mb_after_100"] <= TARGETS["worker_rss_mb"]
    return figure, measured


def start_to_ready(env: dict, log: Path, starts: int) -> dict:
    """Seconds from spawning gunicorn until /readyz answers 200, `starts` times (one worker)."""
    timings = []
    for _ in range(starts):
        server = Gunicorn({**env, "WEB_CONCURRENCY": "1"}, log)
        began = time.perf_counter()
        server.start()
        timings.append(time.perf_counter() - began)
        server.stop()
    median = statistics.median(timings)
    return {"start_to_ready_s": round(median, 2), "target": TARGETS["start_to_ready_s"],
            "met": median <= TARGETS["start_to_ready_s"], "starts_s": [round(t, 2) for t in timings],
            "note": "readyz is polled every 0.25 s (processes.Gunicorn), so each start reads up to 0.25 s long"}


def parse_importtime(stderr: str) -> list[tuple[int, int, str]]:
    """(depth, cumulative microseconds, module) for each line `-X importtime` wrote."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.removeprefix("import time:").split("|")
            name = name[1:]  # one space after the bar, then two per level of nesting
            rows.append(((len(name) - len(name.lstrip())) // 2, int(cumulative), name.strip()))
    return rows


def import_once() -> tuple[float, float, bool, list]:
    """Wall time of a fresh interpreter importing IMPORTED, the import's own time (-X importtime),
    whether tensorflow is in sys.modules, and the heaviest modules one level below the top."""
    code = f"import sys, {IMPORTED}; print('tensorflow' in sys.modules)"
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=True)
    wall = time.perf_counter() - began
    rows = parse_importtime(done.stderr)
    package = IMPORTED.split(".")[0]
    own = sum(us for depth, us, name in rows if depth == 0 and name.split(".")[0] == package)
    heaviest = sorted(((us, name) for depth, us, name in rows if depth == 1), reverse=True)[:5]
    return wall, own / 1e6, done.stdout.strip() == "True", heaviest


def import_time(runs: int) -> dict:
    """Median over `runs` fresh interpreters, beside one that imports nothing."""
    results = [import_once() for _ in range(runs)]
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
    bare = time.perf_counter() - began
    return {"import_s": round(statistics.median(r[1] for r in results), 2),
            "subprocess_wall_s": round(statistics.median(r[0] for r in results), 2),
            "bare_interpreter_s": round(bare, 2), "module": IMPORTED,
            "tensorflow_in_sys_modules": any(r[2] for r in results),
            "heaviest_below_top_ms": {name: round(us / 1000) for us, name in results[-1][3]}}


def latency(in_process: dict, service_c1: dict) -> dict:
    """service_benchmark's concurrency-1 ratio, for the TF Serving path only."""
    targets = service_benchmark.targets({"in_process": in_process, "service": {"tfserving": {"1": service_c1}}})
    ratio = targets["c1_p50_over_in_process"]["tfserving"]
    return {"p50_ms": {"tfserving_c1": service_c1["p50_ms"], "in_process": in_process["p50_ms"]},
            "ratio": ratio, "target": TARGETS["p50_ratio"], "met": targets["c1_p50_met"],
            "tfserving_c1": service_c1, "in_process": in_process}


def write_descriptors(path: Path) -> Path:
    """TF Serving's API descriptors, saved as the service image's build does: without them the
    worker would build its messages from tensorflow-serving-api, which imports all of TensorFlow."""
    tfserving_api.write_descriptors(path)
    return path


def run(args) -> dict:
    photos = service_benchmark.load_photos(args.data)
    scratch = Path(tempfile.mkdtemp(prefix="faceid-footprint-"))
    result = {"image": image_size(), "import": import_time(args.import_runs)}
    models = service_benchmark.export_benchmark_model(scratch / "models")
    api = write_descriptors(scratch / "tfserving_api.binpb")
    in_process = service_benchmark.in_process(models, photos, args.rounds)
    name = service_benchmark.MODEL_NAME
    with StandInProcess(name, models / name, scratch / "standin.log") as standin:
        env = {"MODEL_NAME": name, "SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": standin.address,
               tfserving_api.PATH_VARIABLE: str(api)}
        result["start"] = start_to_ready(env, scratch / "starts.log", args.starts)
        result["worker"], measured = worker_footprint(env, scratch / "worker.log", photos, args.requests)
    result["worker"]["api_descriptors"] = str(api)
    result["latency"] = latency(in_process, measured)
    result["summary"] = summary(result)
    result["photos"] = len(photos)
    result["scratch"] = str(scratch)
    return result


def summary(result: dict) -> dict:
    """The five headline figures, each with its target."""
    return {"image_mb": result["image"]["image_mb"], "image_mb_target": TARGETS["image_mb"],
            "worker_rss_mb_after_100": result["worker"]["worker_rss_mb_after_100"],
            "worker_rss_mb_target": TARGETS["worker_rss_mb"],
            "start_to_ready_s": result["start"]["start_to_ready_s"],
            "start_to_ready_s_target": TARGETS["start_to_ready_s"],
            "p50_ratio": result["latency"]["ratio"], "p50_ratio_target": TARGETS["p50_ratio"],
            "import_s": result["import"]["import_s"],
            "tensorflow_imported": result["import"]["tensorflow_in_sys_modules"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=detector_benchmark.default_data_dir())
    parser.add_argument("--requests", type=int, default=100, help="measured predictions at concurrency 1")
    parser.add_argument("--starts", type=int, default=3, help="gunicorn starts timed to /readyz")
    parser.add_argument("--rounds", type=int, default=3, help="in-process passes over the photos")
    parser.add_argument("--import-runs", type=int, default=3, help="fresh interpreters importing the backend")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 requests, 1 start, 1 round, 1 import")
    recording.add_output_arguments(parser)  # other work on the machine skews the timings: its load is noted
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.starts, args.rounds, args.import_runs = 20, 1, 1, 1
    recording.write(run(args), args, name="service_footprint", variant="quick" if args.quick else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
