"""Latency and throughput of the service under gunicorn, per backend, beside the in-process limit.

Prints JSON: p50/p99 latency (ms) and requests/s at each concurrency for the service with the
`local` and `tfserving` backends (the TF Serving stand-in in its own process), and the in-process
limit (decode, detect, preprocess, predict in a loop, one process) on the same photos:
test-photos/one_face and a fixed sample of lfw-known. Loopback only; request counts are bounded.
`explain` is the cost of `explain=true` (a heatmap per face, docs/service.md) against a plain
answer at concurrency 1, per backend (goal: at most 2x the p50).

    python benchmarks/service_benchmark.py [--models DIR] [--requests 48] [--concurrency 1 4 8]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the stand-in, the process helpers, the model exporter
sys.path.insert(0, str(REPO / "benchmarks"))

import detector_benchmark  # noqa: E402
import recording  # noqa: E402
from processes import Gunicorn, StandInProcess  # noqa: E402

MODEL_NAME = "faces"
LFW_SAMPLE = 16
EXPLAIN_PATH = "/v1/predict?explain=true"
EXPLAIN_GOAL = 2.0  # explain=true at most twice a plain answer's p50 at concurrency 1


def load_photos(data: Path) -> list[tuple[str, bytes]]:
    """test-photos/one_face, then the first photo of the first LFW_SAMPLE people of lfw-known."""
    one_face = sorted((data / "test-photos" / "one_face").iterdir())
    people = sorted(p for p in (data / "lfw-known").iterdir() if p.is_dir())[:LFW_SAMPLE]
    lfw = [sorted(person.glob("*.jpg"))[0] for person in people]
    return [(str(p.relative_to(data)), p.read_bytes()) for p in [*one_face, *lfw]]


def export_benchmark_model(root: Path) -> Path:
    """A course-sized CNN (random weights) exported as faces/1 under `root`."""
    from exported_models import cnn_like_course, publish, tiny_info

    info = tiny_info(tuple(f"person_{i:02d}" for i in range(19)), unknown_threshold=0.5,
                     extra={"exported_at": time.time()})  # the course CNN's input, not the descriptor's
    publish(cnn_like_course(len(info.class_names)), info, root / MODEL_NAME, 1)
    return root


def summarise(latencies_s: list[float], wall_s: float) -> dict:
    ordered = sorted(latencies_s)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"requests": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1), "requests_per_s": round(len(ordered) / wall_s, 2)}


def in_process(models: Path, photos: list[tuple[str, bytes]], rounds: int) -> dict:
    """The limit: every stage in one loop in this process, no HTTP, no gRPC."""
    import tensorflow as tf

    from facecore.images import decode_image
    from facecore.detect import FaceDetector
    from facecore.modelinfo import INPUT_KEY, SERVING_SIGNATURE, read_model_info
    from service.inference import find_faces, face_batch, Options

    version = max(int(p.name) for p in (models / MODEL_NAME).iterdir() if p.name.isdigit())
    loaded = tf.saved_model.load(str(models / MODEL_NAME / str(version)))
    info = read_model_info(loaded)
    serve, detector = loaded.signatures[SERVING_SIGNATURE], FaceDetector(info.detector)

    def once(data: bytes) -> None:
        rgb = decode_image(data)
        batch, _ = face_batch(rgb, find_faces(rgb, detector, Options()), info.preprocess, detector)
        if len(batch):
            serve(**{INPUT_KEY: tf.constant(batch)})["probabilities"].numpy()

    for _, data in photos:
        once(data)  # warm-up
    latencies, start = [], time.perf_counter()
    for _ in range(rounds):
        for _, data in photos:
            began = time.perf_counter()
            once(data)
            latencies.append(time.perf_counter() - began)
    return summarise(latencies, time.perf_counter() - start)


def load(port: int, photos: list[tuple[str, bytes]], total: int, concurrency: int, path: str = "/v1/predict") -> dict:
    """`total` predictions from `concurrency` threads, each with its own keep-alive connection."""
    latencies: list[float] = []
    errors: list[int] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            data = photos[index % len(photos)][1]
            began = time.perf_counter()
            connection.request("POST", path, body=data, headers={"Content-Type": "image/jpeg"})
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - began
            with lock:
                (latencies.append(elapsed) if response.status == 200 else errors.append(response.status))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = summarise(latencies, time.perf_counter() - start)
    result["errors"] = len(errors)
    return result


def service_levels(env: dict, log: Path, photos, requests_per_level: int, levels: list[int]) -> dict:
    with Gunicorn(env, log) as server:
        load(server.port, photos, 4 * len(photos), 2)  # warm-up: every worker, every photo
        result = {str(c): load(server.port, photos, requests_per_level * max(1, c // 2), c) for c in levels}
        result["explain"] = explain_cost(server.port, photos, requests_per_level)
        return result


def explain_cost(port: int, photos, requests: int) -> dict:
    """`explain=true` against a plain answer at concurrency 1, the same photos in turn."""
    load(port, photos, 2 * len(photos), 2, EXPLAIN_PATH)  # warm-up of the explain signature
    plain, explained = load(port, photos, requests, 1), load(port, photos, requests, 1, EXPLAIN_PATH)
    return {"plain_c1": plain, "explain_c1": explained,
            "p50_ratio": round(explained["p50_ms"] / plain["p50_ms"], 3), "p50_ratio_goal": EXPLAIN_GOAL}


def run(args) -> dict:
    photos = load_photos(args.data)
    scratch = Path(tempfile.mkdtemp(prefix="faceid-bench-"))
    models = args.models or export_benchmark_model(scratch / "models")
    base_env = {"MODEL_NAME": MODEL_NAME, "WEB_CONCURRENCY": str(args.workers)}
    result = {
        "machine": {"gunicorn_workers": args.workers},
        "photos": {"count": len(photos),
                   "sets": ["test-photos/one_face", f"lfw-known (first photo of {LFW_SAMPLE} people)"]},
        "model": str(models) if args.models else "course-sized CNN, random weights (exported for the benchmark)",
        "in_process": in_process(models, photos, args.rounds),
        "service": {},
    }
    local_env = {**base_env, "SERVING_BACKEND": "local", "MODEL_BASE_PATH": str(models)}
    result["service"]["local"] = service_levels(local_env, scratch / "local.log", photos, args.requests,
                                                args.concurrency)
    with StandInProcess(MODEL_NAME, models / MODEL_NAME, scratch / "standin.log") as standin:
        tfs_env = {**base_env, "SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": standin.address}
        result["service"]["tfserving"] = service_levels(tfs_env, scratch / "tfs.log", photos, args.requests,
                                                        args.concurrency)
    result["targets"] = targets(result)
    return result


def targets(result: dict) -> dict:
    """Service p50 at concurrency 1 over the in-process p50 (target: at most 1.2)."""
    limit = result["in_process"]["p50_ms"]
    ratios = {backend: round(levels["1"]["p50_ms"] / limit, 3)
              for backend, levels in result["service"].items() if "1" in levels}
    explain = {backend: levels["explain"]["p50_ratio"] for backend, levels in result["service"].items()}
    return {"c1_p50_over_in_process": ratios, "c1_p50_target": 1.2,
            "c1_p50_met": all(r <= 1.2 for r in ratios.values()),
            "explain_c1_p50_ratio": explain, "explain_c1_p50_goal": EXPLAIN_GOAL,
            "explain_c1_p50_met": all(r <= EXPLAIN_GOAL for r in explain.values())}


def detector_targets(data: Path) -> dict:
    """The tuned (default) detector against the course's settings on test-photos, one OpenCV thread."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        report = detector_benchmark.run(data, [detector_benchmark.DetectorParams()], repeat=3, lfw=False)
    finally:
        cv2.setNumThreads(threads)
    tuned = report["results"][1]
    return {"course_ms_per_photo": report["results"][0]["ms_per_photo"], "tuned_ms_per_photo": tuned["ms_per_photo"],
            "speedup": tuned["speedup_vs_course"], "speedup_target": 3.0, "same_faces": tuned["same_faces"],
            "tuned_settings": tuned["settings"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=detector_benchmark.default_data_dir())
    parser.add_argument("--models", type=Path, help="a MODEL_BASE_PATH with faces/<version>/ (default: export one)")
    parser.add_argument("--requests", type=int, default=40, help="requests per level (x c/2 above 2)")
    parser.add_argument("--rounds", type=int, default=3, help="in-process passes over the photos")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-detector", action="store_true")
    recording.add_output_arguments(parser)  # other work on the machine skews every number: its load is noted
    args = parser.parse_args(argv)
    detector = None if args.skip_detector else detector_targets(args.data)
    result = run(args)
    if detector is not None:
        result["detector"] = detector
    recording.write(result, args, name="service")
    return 0


if __name__ == "__main__":
    sys.exit(main())
