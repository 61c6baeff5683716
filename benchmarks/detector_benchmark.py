"""Compare Haar detector settings with the course's on test-photos (speed and faces found).

Prints JSON: per setting the milliseconds per photo (best of --repeat passes), the speed-up over the course's
settings, whether it finds the same faces on test-photos one_face, multi_face and no_face,
and (with --lfw) how many lfw-known photos get at least one face.

    python benchmarks/detector_benchmark.py [--data DIR] [--setting scale_factor=1.2,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import cv2

from facecore.detect import Box, DetectorParams, FaceDetector
from facecore.images import decode_image

import recording

# The course's settings: scaleFactor 1.1, minNeighbors 5, no minimum size, full resolution.
COURSE = DetectorParams(
    cascade="haarcascade_frontalface_default.xml", scale_factor=1.1, min_neighbors=5, min_size=1, max_side=0
)
FOLDERS = ("one_face", "multi_face", "no_face")
MATCH_IOU = 0.5


def default_data_dir() -> Path:
    repo = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("FACE_DATA_DIR", repo.parent / "shared" / "data"))


def load_test_photos(data: Path) -> dict[str, tuple[int, object]]:
    """file -> (true face count, RGB array) for the folders the target is defined on."""
    with open(data / "test-photos" / "manifest.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["file"].split("/")[0] in FOLDERS]
    return {
        row["file"]: (int(row["true_faces"]), decode_image((data / "test-photos" / row["file"]).read_bytes()))
        for row in rows
    }


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / float(a.area + b.area - inter)


def time_detector(params: DetectorParams, images: list, repeat: int) -> tuple[float, list[list[Box]]]:
    """Milliseconds per photo of the best of `repeat` passes (least disturbed by other work), and the boxes."""
    detector = FaceDetector(params)
    passes = []
    for _ in range(repeat):
        start = time.perf_counter()
        boxes = [detector.detect(rgb) for rgb in images]
        passes.append((time.perf_counter() - start) * 1000.0 / len(images))
    return min(passes), boxes


def mismatches(files, truths, boxes, course_boxes) -> dict[str, str]:
    """Photos where a setting misses the true count or finds a box the course did not."""
    problems = {}
    for name, truth, found, course in zip(files, truths, boxes, course_boxes):
        unmatched = [b for b in found if max((iou(b, c) for c in course), default=0.0) < MATCH_IOU]
        if len(found) != truth or unmatched:
            problems[name] = f"found {len(found)} (true {truth}), {len(unmatched)} not found by the course"
    return problems


def lfw_counts(data: Path, params: DetectorParams) -> dict[str, int]:
    """How many lfw-known photos get any face, and exactly one."""
    detector = FaceDetector(params)
    counts = [len(detector.detect(decode_image(p.read_bytes()))) for p in sorted((data / "lfw-known").glob("*/*.jpg"))]
    return {"photos": len(counts), "with_face": sum(c > 0 for c in counts), "exactly_one": sum(c == 1 for c in counts)}


def parse_setting(text: str) -> DetectorParams:
    """`scale_factor=1.2,min_neighbors=4,...` on top of the defaults."""
    values = {}
    for part in filter(None, text.split(",")):
        key, _, raw = part.partition("=")
        values[key.strip()] = raw.strip() if key.strip() == "cascade" else float(raw) if "." in raw else int(raw)
    return DetectorParams(**values)


def run(data: Path, settings: list[DetectorParams], repeat: int, lfw: bool) -> dict:
    photos = load_test_photos(data)
    files = list(photos)
    truths = [photos[f][0] for f in files]
    images = [photos[f][1] for f in files]
    course_ms, course_boxes = time_detector(COURSE, images, repeat)
    results = []
    for params in [COURSE, *settings]:
        ms, boxes = time_detector(params, images, repeat) if params != COURSE else (course_ms, course_boxes)
        entry = {
            "settings": params.to_dict(),
            "ms_per_photo": round(ms, 1),
            "speedup_vs_course": round(course_ms / ms, 2),
            "faces": dict(zip(files, map(len, boxes))),
            "mismatches": mismatches(files, truths, boxes, course_boxes),
        }
        entry["same_faces"] = not entry["mismatches"] if params != COURSE else None
        if lfw:
            entry["lfw_known"] = lfw_counts(data, params)
        results.append(entry)
    return {"photos": len(files), "repeat": repeat, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--setting", action="append", default=[], help="detector settings to compare (repeatable)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lfw", action="store_true", help="also count faces found on lfw-known")
    recording.add_output_arguments(parser)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one core per request, as in a gunicorn worker
    settings = [parse_setting(s) for s in args.setting] or [DetectorParams()]
    recording.write(run(args.data, settings, args.repeat, args.lfw), args, name="detector")
    return 0


if __name__ == "__main__":
    sys.exit(main())
