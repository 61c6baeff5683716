"""`python -m trainer run` end to end on five-celebrities with the tiny config, and what it
publishes: a SavedModel that loads, agrees with the Keras model and describes itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facecore.modelinfo import CLASS_SCORES_KEY, PROBABILITIES_KEY, SCORE_KEY, SERVING_SIGNATURE, THRESHOLD_KEY
from trainer.publishing import registry
from trainer.commands import main as trainer_main
from trainer.configs import TINY_CONFIG
from trainer.errors import EXIT_BUSY
from trainer.publishing.runlock import run_lock

from processes import REPO, free_ports

pytestmark = [pytest.mark.slow, pytest.mark.data]

TINY = str(TINY_CONFIG)


def seeded_work(five_records: Path, tmp_path: Path) -> Path:
    """A work folder whose records cache already knows the photos (no second detection pass)."""
    work = tmp_path / "work"
    (work / "records").mkdir(parents=True)
    shutil.copy(five_records / "cache.sqlite", work / "records" / "cache.sqlite")
    return work


@pytest.fixture(scope="module")
def published(face_data, five_records, tmp_path_factory):
    """One `run` into a fresh models folder: (models, work, exit status)."""
    root = tmp_path_factory.mktemp("run")
    models, work = root / "models", seeded_work(five_records, root)
    status = trainer_main(["run", "--data", str(face_data / "five-celebrities"), "--models", str(models),
                           "--work", str(work), "--config", TINY])
    return models, work, status


def only_run(work: Path) -> Path:
    (run,) = sorted((work / "runs").iterdir())
    return run


def test_run_publishes_version_one_with_report_and_config(published):
    models, work, status = published
    assert status == 0
    version = models / "faces" / "1"
    assert (version / "saved_model.pb").exists()
    assert (version / "assets.extra" / "tf_serving_warmup_requests").exists()
    report = json.loads((version / registry.REPORT_FILE).read_text())
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "class_names", "unknown_threshold"):
        assert key in report
    assert json.loads((version / registry.CONFIG_FILE).read_text())["preprocess"]["input_size"] == 32
    assert len(report["class_thresholds"]) == len(report["class_names"])
    assert report["openset"]["known_accept"] == 0.95  # no strangers: the configured acceptance
    assert [p["known_accept"] for p in report["openset"]["curve"]][::25] == [0.5, 0.75, 1.0]
    run = only_run(work)
    for name in ("model.keras", "history.csv", "curves.png", "confusion.png", "openset.png", "config.json"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard" / "train").iterdir())


def test_run_writes_and_publishes_its_report_page(published):
    """Issue #22: RUN/report.html, self-contained, copied into the version; its mistakes are every
    test face the model misnamed or rejected."""
    models, work, _ = published
    run = only_run(work)
    page = (run / "report.html").read_text()
    assert (models / "faces" / "1" / "report.html").read_text() == page
    assert not re.search(r"(src|href)=\"(?!data:image/png;base64,)", page) and "<script" not in page
    sections = re.findall(r'<section id="(\w+)">', page)
    assert sections == ["inputs", "training", "outcome", "mistakes", "inside"]
    faces = np.load(run / "faces.npz")
    wrong = (faces["class_scores"].argmax(axis=1) != faces["labels"]) | (faces["score"] < faces["threshold"])
    mistakes = page.split('<section id="mistakes">')[1].split("</section>")[0]
    assert mistakes.count("<figure>") == int(wrong.sum()) and f"{int(wrong.sum())} of {len(wrong)} known" in mistakes
    assert "<td>ln(number of classes)</td><td>1.609</td>" in page  # five people
    inside = page.split('<section id="inside">')[1]
    assert "block1_conv1: 8 filters of 3x3x1" in inside and inside.count("<figure>") == 2 + 5  # 2 stages, 5 people


def test_saved_model_matches_keras_model_and_manifest(published):
    import keras
    import tensorflow as tf

    from facecore.modelinfo import read_model_info
    from trainer.data.manifest import read as read_manifest
    from trainer.data.pipeline import make_dataset

    models, work, _ = published
    loaded = tf.saved_model.load(str(models / "faces" / "1"))
    info = read_model_info(loaded)
    manifest = read_manifest(work / "records")
    assert list(info.class_names) == manifest["class_names"]
    for key in ("crop_margin", "crop_size"):
        assert getattr(info.preprocess, key) == manifest["preprocess"][key]
    assert info.preprocess.input_size == 32 and info.input_shape == (32, 32, 1)
    assert info.detector.to_dict() == manifest["detector"]
    assert set(info.extra) >= {"exported_at", "macro_f1", "train_config"}
    faces, _ = next(iter(make_dataset(work / "records", "test", info.preprocess, 64)))
    served = loaded.signatures[SERVING_SIGNATURE](faces=faces)
    trained = keras.models.load_model(only_run(work) / "model.keras")(faces, training=False)
    np.testing.assert_allclose(served[PROBABILITIES_KEY].numpy(), trained[PROBABILITIES_KEY].numpy(), atol=1e-5)
    assert served["embedding"].shape == (faces.shape[0], 16)
    # The open-set rule travels inside the SavedModel: the cosine head's best similarity, and the
    # per-person threshold the evaluation calibrated for the person it is nearest to.
    similarity = trained[CLASS_SCORES_KEY].numpy()
    np.testing.assert_allclose(served[SCORE_KEY].numpy(), similarity.max(axis=1), atol=1e-5)
    nearest = similarity.argmax(axis=1)
    np.testing.assert_allclose(served[THRESHOLD_KEY].numpy(), np.asarray(info.class_thresholds)[nearest], atol=1e-6)
    assert len(info.class_thresholds) == len(info.class_names) and info.extra["openset"]["known_accept"] == 0.95


def test_publish_gate_refuses_then_force_publishes(published, capsys):
    models, work, _ = published
    current = models / "faces" / str(registry.versions(models / "faces")[-1])
    report = json.loads((current / registry.REPORT_FILE).read_text())
    (current / registry.REPORT_FILE).write_text(json.dumps({**report, "macro_f1": 1.0}))
    before = registry.versions(models / "faces")
    run = str(only_run(work))
    status = trainer_main(["publish", "--run", run, "--models", str(models), "--set", "publish.tolerance=0.0"])
    assert status == 3
    assert "refused" in capsys.readouterr().err
    assert registry.versions(models / "faces") == before
    assert trainer_main(["publish", "--run", run, "--models", str(models), "--force"]) == 0
    assert registry.versions(models / "faces") == [*before, before[-1] + 1]


def test_run_refuses_while_another_holds_the_lock(published, face_data, tmp_path, capsys):
    models, _, _ = published
    from trainer.commands.run import LOCK_FILE

    with run_lock(models / LOCK_FILE):
        status = trainer_main(["run", "--data", str(face_data / "five-celebrities"), "--models", str(models),
                               "--work", str(tmp_path)])
    assert status == EXIT_BUSY
    assert "another training run is in progress" in capsys.readouterr().err


def test_bad_input_exits_2_with_a_sentence(tmp_path, capsys):
    status = trainer_main(["run", "--data", str(tmp_path / "missing"), "--models", str(tmp_path / "m")])
    assert status == 2
    assert "does not exist" in capsys.readouterr().err
    assert trainer_main(["train", "--records", str(tmp_path), "--run", str(tmp_path / "r")]) == 2
    assert "prepare" in capsys.readouterr().err
    assert trainer_main(["train", "--records", str(tmp_path), "--run", str(tmp_path / "r"),
                         "--set", "train.optimizer=rmsprop"]) == 2
    assert "optimizer" in capsys.readouterr().err


def largest_faces(models: Path, photo_files: list[Path]) -> list[dict]:
    """The service's answer (local backend, newest version) for the largest face of each photo
    in which it finds one."""
    from service.app import create_app
    from service.config import Config

    client = create_app(Config(model_base_path=models)).test_client()
    answers = []
    for photo in photo_files:
        faces = client.post("/v1/predict", data=photo.read_bytes(), content_type="image/jpeg").get_json()["faces"]
        if faces:
            answers.append(max(faces, key=lambda face: face["box"]["width"] * face["box"]["height"]))
    return answers


def test_evaluate_a_published_model_on_a_photo_folder(published, face_data, tmp_path):
    """Two known people and one stranger, matched by folder name."""
    models, _, _ = published
    photos = tmp_path / "photos"
    for person in ("madonna", "elton_john"):
        shutil.copytree(face_data / "five-celebrities" / person, photos / person)
    stranger = sorted((face_data / "lfw-strangers").iterdir())[0]
    shutil.copytree(stranger, photos / stranger.name)
    out = tmp_path / "out"
    assert trainer_main(["evaluate", "--model", str(models / "faces"), "--data", str(photos), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["known_people"] == ["elton_john", "madonna"]
    assert report["strangers"] == [stranger.name]
    photos = report["openset"]["photos"]  # decided by the model's own exported rule
    # The same version through the service, photo by photo (largest face): the same decisions.
    stranger_photos = sorted((tmp_path / "photos" / stranger.name).iterdir())
    unknown = [answer["unknown"] for answer in largest_faces(models, stranger_photos)]
    assert photos["strangers"] == len(unknown) > 0
    assert photos["strangers_rejected"] == pytest.approx(sum(unknown) / len(unknown))
    assert photos["known_faces"] == report["support"]
    assert (out / "confusion.png").exists()
    page = (out / "report.html").read_text()
    assert "Model report" in page and '<section id="mistakes">' in page and "block1_conv1" in page


def test_two_workers_run_the_whole_job_and_publish_one_version(face_data, five_records, tmp_path):
    """The multiworker overlay's Job: every worker runs `run` on one models folder and one work
    folder; only the chief takes the lock, evaluates and publishes, the other trains and exits 0."""
    models, work = tmp_path / "models", seeded_work(five_records, tmp_path)
    shutil.copytree(work / "records", work / "worker-1" / "records")  # its own folder, seeded too
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "CUDA_VISIBLE_DEVICES": ""}
        command = [sys.executable, "-m", "trainer", "run", "--data", str(face_data / "five-celebrities"),
                   "--models", str(models), "--work", str(work), "--config", TINY,
                   "--set", "train.strategy=multi_worker", "--set", "train.histogram_freq=0"]
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=420)[0] for p in processes]
    finally:
        for process in processes:
            process.kill()
    assert [p.returncode for p in processes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert registry.versions(models / "faces") == [1]
    assert "published" in outputs[0] and "worker 1 of 2: trained" in outputs[1]
    (worker_run,) = (work / "worker-1" / "runs").iterdir()
    assert (worker_run / "model.keras").exists() and not (worker_run / "report.json").exists()
    assert (only_run(work) / "report.json").exists()


def test_evaluate_with_strangers_splits_them_by_person(published, face_data, tmp_path):
    """Strangers calibrate with half their people; the other half is only measured."""
    _, work, _ = published
    strangers = tmp_path / "strangers"
    for person in sorted((face_data / "lfw-strangers").iterdir())[:6]:
        (strangers / person.name).mkdir(parents=True)
        for photo in sorted(person.iterdir())[:3]:
            (strangers / person.name / photo.name).symlink_to(photo)
    run = only_run(work)
    assert trainer_main(["evaluate", "--run", str(run), "--strangers", str(strangers)]) == 0
    openset = json.loads((run / "report.json").read_text())["openset"]
    people = openset["strangers"]
    assert set(people["calibration_people"]).isdisjoint(people["test_people"])
    assert set(people["calibration_people"]) | set(people["test_people"]) == {p.name for p in strangers.iterdir()}
    assert len(people["test_people"]) == 3 and openset["test"]["strangers"] > 0
    assert 0.93 <= openset["known_accept"] <= 0.95  # chosen between the floor and the default
    rejected = openset["test"]["strangers_rejected"] * openset["test"]["strangers"]  # a share of those faces
    assert rejected == pytest.approx(round(rejected)) and openset["test"]["strangers"] <= 3 * 3
    assert (run / "openset.png").exists()
