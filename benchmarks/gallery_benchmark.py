"""Many people (issue 19): the service's latency per photo with 10,000 enrolled people against 19.

Both versions are the same published network with another gallery (`with_gallery`): its own 19
people, and those 19 plus GALLERY synthetic people (random unit vectors in the descriptor space as
centres; the real centres stay, so answers stay meaningful). Each is served by its own gunicorn
(local backend); requests at concurrency 1 alternate between the two on the photos of
service_benchmark (test-photos/one_face and a fixed lfw-known sample), so load from other work
on the machine falls on both alike. Reports p50/p90 per photo, response sizes (/v1/predict,
/readyz, /v1/models), the service's own stage timings, and where the time goes in-process
(labelling a face among C people). Goal: p50 with the gallery <= 1.2 x p50 without.

    python benchmarks/gallery_benchmark.py --models DIR [--version V] [--rounds 5] [--out DIR]

Without --models, `trainer run` trains one on lfw-known first. Prints one JSON object; with
--out DIR also writes DIR/gallery-<YYYY-MM-DD>.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import detector_benchmark  # noqa: E402
import recording  # noqa: E402
from enrol_benchmark import copy_version, train_default  # noqa: E402
from processes import Gunicorn  # noqa: E402
from service_benchmark import load, load_photos  # noqa: E402

MODEL_NAME = "faces"
GALLERY = 10_000
SEED = 19
WORKERS = 2
GOAL_P50_RATIO = 1.2


def gallery_versions(models: Path, scratch: Path) -> dict[str, Path]:
    """MODEL_BASE_PATHs under `scratch` of the parent's network with its own people, and with
    GALLERY synthetic people added: {"people_19": path, "people_10019": path} (by size)."""
    import numpy as np

    from trainer.config import PublishConfig
    from trainer.publishing import registry
    from trainer.publishing.enrolment import _centres_layer, load_parent, with_gallery, write_version

    parent = load_parent(models / MODEL_NAME)
    own = np.array(_centres_layer(parent.model).get_weights()[0], np.float32)  # [E, 19]
    own /= np.linalg.norm(own, axis=0, keepdims=True)
    synthetic = np.random.default_rng(SEED).standard_normal((own.shape[0], GALLERY)).astype(np.float32)
    synthetic /= np.linalg.norm(synthetic, axis=0, keepdims=True)  # [E, GALLERY] unit columns
    names = parent.info.class_names
    galleries = {len(names): (names, own),
                 len(names) + GALLERY: ((*names, *(f"synthetic_{i:05d}" for i in range(GALLERY))),
                                        np.concatenate([own, synthetic], axis=1))}
    bases = {}
    for size, (people, centres) in galleries.items():
        model, info = with_gallery(parent, people, centres)
        base = scratch / f"people-{size}"
        registry.publish(base / MODEL_NAME, lambda folder: write_version(folder, parent, model, info, MODEL_NAME),
                         PublishConfig().keep, {"source": "gallery_benchmark", "people": size}, verify=None)
        bases[f"people_{size}"] = base
    return bases


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[float, bytes]:
    """Seconds to the whole answer, and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "image/jpeg"} if body is not None else {}
    began = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return time.perf_counter() - began, data


def interleaved(ports: dict[str, int], photos: list[tuple[str, bytes]], rounds: int) -> dict[str, list[dict]]:
    """Every photo `rounds` times to each server in turn (the order flips every photo)."""
    samples: dict[str, list[dict]] = {label: [] for label in ports}
    order = list(ports)
    for _ in range(rounds):
        for _, data in photos:
            for label in order:
                seconds, body = request(ports[label], "POST", "/v1/predict", data)
                answer = json.loads(body)
                samples[label].append({"s": seconds, "bytes": len(body), "timings": answer["timings_ms"],
                                       "labels": [face["label"] for face in answer["faces"]]})
            order.reverse()
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(samples: list[dict]) -> dict:
    latencies = [s["s"] * 1000 for s in samples]
    stages = sorted({stage for s in samples for stage in s["timings"]})
    server = [s["timings"]["total"] for s in samples]
    return {
        "requests": len(samples), "p50_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(percentile(latencies, 0.9), 1),
        "response_bytes": {"median": statistics.median(s["bytes"] for s in samples),
                           "max": max(s["bytes"] for s in samples)},
        "server_stage_median_ms": {stage: round(statistics.median(s["timings"].get(stage, 0.0) for s in samples), 2)
                                   for stage in stages},
        "outside_handler_median_ms": round(statistics.median(c - s for c, s in zip(latencies, server)), 2),
    }


def probes(port: int) -> dict:
    """Size and time of the machine-facing answers that carry the model's metadata."""
    found = {}
    for path in ("/readyz", "/v1/models"):
        times, body = [], b""
        for _ in range(5):
            seconds, body = request(port, "GET", path)
            times.append(seconds * 1000)
        found[path] = {"bytes": len(body), "median_ms": round(statistics.median(times), 2)}
    return found


def labelling_cost(sizes: list[int], repeat: int = 200) -> dict:
    """In-process ms to label one face among C people (service.inference.label_faces, top 3), and
    the SavedModel's [1, C] probabilities in bytes."""
    import numpy as np

    from facecore.modelinfo import ModelInfo
    from service.backend import Scores
    from service.inference import label_faces

    cost = {}
    for size in sizes:
        info = ModelInfo(tuple(f"p{i}" for i in range(size)))
        rng = np.random.default_rng(SEED)
        scores = Scores(rng.random((1, size), np.float32), np.ones(1, np.float32), np.zeros(1, np.float32), 1)
        began = time.perf_counter()
        for _ in range(repeat):
            label_faces(scores, info, 3)
        cost[f"people_{size}"] = {"label_faces_ms": round((time.perf_counter() - began) * 1000 / repeat, 3),
                                  "probabilities_bytes_per_face": 4 * size}
    return cost


def version_sizes(base: Path) -> dict:
    folder = next(p for p in (base / MODEL_NAME).iterdir() if p.name.isdigit())
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"version_mb": round(total / 2**20, 1),
            "model_info_json_bytes": (folder / "assets.extra" / "model_info.json").stat().st_size}


def serve_and_measure(bases: dict[str, Path], photos, rounds: int, scratch: Path) -> dict:
    env = {"MODEL_NAME": MODEL_NAME, "WEB_CONCURRENCY": str(WORKERS), "SERVING_BACKEND": "local"}
    servers, result = {}, {label: {} for label in bases}
    try:
        for label, base in bases.items():
            began = time.perf_counter()
            servers[label] = Gunicorn({**env, "MODEL_BASE_PATH": str(base)}, scratch / f"{label}.log").start()
            result[label]["ready_s"] = round(time.perf_counter() - began, 1)
            load(servers[label].port, photos, 2 * len(photos), WORKERS)  # warm-up: every worker, every photo
        samples = interleaved({label: server.port for label, server in servers.items()}, photos, rounds)
        for label, server in servers.items():
            result[label].update(summarise(samples[label]), probes=probes(server.port), **version_sizes(bases[label]))
    finally:
        for server in servers.values():
            server.stop()
    small, large = list(bases)
    same = sum(a["labels"] == b["labels"] for a, b in zip(samples[small], samples[large]))
    result["same_labels_share"] = round(same / len(samples[small]), 3)
    return result


def run(args) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="faceid-gallery-bench-"))
    source = args.models or train_default(args.data, scratch)
    models, version = copy_version(source, args.version, scratch / "parent")
    bases = gallery_versions(models, scratch)
    photos = load_photos(args.data)
    small, large = list(bases)
    result = {"models": str(source), "parent_version": version,
              "gallery": {"synthetic_people": GALLERY, "seed": SEED},
              "machine": {"gunicorn_workers": WORKERS, "concurrency": 1},
              "photos": {"count": len(photos), "rounds": args.rounds}}
    result["service"] = serve_and_measure(bases, photos, args.rounds, scratch)
    result["in_process"] = labelling_cost([int(label.split("_")[1]) for label in bases])
    ratio = result["service"][large]["p50_ms"] / result["service"][small]["p50_ms"]
    result["targets"] = {"p50_ratio": round(ratio, 3), "p50_ratio_goal": GOAL_P50_RATIO,
                         "p90_ratio": round(result["service"][large]["p90_ms"] / result["service"][small]["p90_ms"], 3),
                         "met": ratio <= GOAL_P50_RATIO}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=detector_benchmark.default_data_dir())
    parser.add_argument("--models", type=Path, help="a MODEL_BASE_PATH with faces/<version>/model.keras "
                        "(default: train one with `trainer run` on lfw-known)")
    parser.add_argument("--version", type=int, help="the version whose network is used (default: the newest)")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the photos, per model")
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)
    result = recording.write(run(args), args, name="gallery")
    return 0 if result["targets"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
