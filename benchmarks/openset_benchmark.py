"""Unknown faces, measured the way a user meets them: the default `trainer run` on lfw-known with
strangers, then the published model on people it never saw.

Strangers are lfw-strangers and five-celebrities together (a second, differently sourced set);
`trainer evaluate` splits them by person into a calibration part and a test part, and the
figures below are on the test part's people only. Also counts the known names the published
model gives to the seven strangers of test-photos/multi_face/seven_people_voc2008_004176.jpg.

Usage: python benchmarks/openset_benchmark.py [--data DIR] [--work DIR] [--config FILE]
(data default: $FACE_DATA_DIR). Prints one JSON object; exits 1 if a goal of issue 12 is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"strangers_rejected": 0.75, "known_accepted_correct": 0.93, "macro_f1": 0.95, "seven_known_names": 1}
STRANGER_SETS = ("lfw-strangers", "five-celebrities")
SEVEN = ("test-photos", "multi_face", "seven_people_voc2008_004176.jpg")


def stranger_folder(data: Path, out: Path) -> Path:
    """One folder of every stranger set's people (links), as `--strangers` takes it."""
    out.mkdir(parents=True, exist_ok=True)
    for name in STRANGER_SETS:
        for person in sorted((data / name).iterdir()):
            if person.is_dir():
                (out / person.name).symlink_to(person.resolve(), target_is_directory=True)
    return out


def train(data: Path, work: Path, strangers: Path, config: Path | None) -> tuple[float, Path]:
    """The default run; (wall seconds, the run folder)."""
    command = [sys.executable, "-m", "trainer", "run", "--data", str(data / "lfw-known"),
               "--models", str(work / "models"), "--work", str(work / "work"), "--strangers", str(strangers)]
    if config:
        command += ["--config", str(config)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=sys.stderr)  # its report goes to stderr: stdout is the JSON
    (run,) = sorted((work / "work" / "runs").iterdir())
    return time.perf_counter() - started, run


def seven_strangers(version: Path, photo: Path) -> dict:
    """Faces found in the group photo and the known names the published model gives them."""
    import numpy as np
    import tensorflow as tf

    from facecore.images import decode_image
    from facecore.modelinfo import SCORE_KEY, SERVING_SIGNATURE, THRESHOLD_KEY, is_unknown, read_model_info
    from service.inference import prepare_faces

    loaded = tf.saved_model.load(str(version))
    info = read_model_info(loaded)
    faces = prepare_faces(decode_image(photo.read_bytes()), info)
    if not faces.boxes:
        return {"faces": 0, "known_names": 0}
    outputs = loaded.signatures[SERVING_SIGNATURE](faces=tf.constant(faces.batch))
    unknown = is_unknown(outputs[SCORE_KEY].numpy(), outputs[THRESHOLD_KEY].numpy())
    return {"faces": len(faces.boxes), "known_names": int(np.sum(~unknown))}


def summary(report: dict, seconds: float, seven: dict) -> dict:
    openset = report["openset"]
    test = openset["test"]
    without = next(p for p in openset["curve"] if abs(p["known_accept"] - 0.95) < 1e-9)
    result = {
        "run_s": round(seconds, 1),
        "accuracy": round(report["accuracy"], 4), "macro_f1": round(report["macro_f1"], 4),
        "rule": openset["rule"], "known_accept": openset["known_accept"],
        "test_known_faces": test["known_faces"], "test_strangers": test.get("strangers", 0),
        "stranger_test_people": openset["strangers"].get("test_people", []),
        "known_accepted": round(test["known_accepted"], 4),
        "known_accepted_correct": round(test["known_accepted_correct"], 4),
        "strangers_rejected": round(test.get("strangers_rejected", 0.0), 4),
        "without_strangers": {k: round(without[k], 4) for k in ("known_accepted_correct", "strangers_rejected")
                              if k in without},
        "seven_strangers_photo": seven,
    }
    result["goals_met"] = {
        "strangers_rejected": result["strangers_rejected"] >= GOALS["strangers_rejected"],
        "known_accepted_correct": result["known_accepted_correct"] >= GOALS["known_accepted_correct"],
        "macro_f1": result["macro_f1"] >= GOALS["macro_f1"],
        "seven_known_names": seven["known_names"] <= GOALS["seven_known_names"],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    default = Path(os.environ.get("FACE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--work", type=Path, help="keep the models and runs here (default: a temporary folder)")
    parser.add_argument("--config", type=Path, help="a trainer config (default: the defaults)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        strangers = stranger_folder(args.data, work / "strangers")
        seconds, run = train(args.data, work, strangers, args.config)
        report = json.loads((run / "report.json").read_text())
        version = max((work / "models" / "faces").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
        result = summary(report, seconds, seven_strangers(version, args.data.joinpath(*SEVEN)))
    print(json.dumps(result, indent=1))
    return 0 if all(result["goals_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
