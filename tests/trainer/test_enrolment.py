"""Enrolment: people added and removed by publishing a version, without training (real descriptor);
the next run keeps them from the work folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facecore.modelinfo import MODEL_INFO_FILE, ModelInfo
from trainer.commands import main
from trainer.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from trainer.model.centres import size_factor

pytestmark = [pytest.mark.slow, pytest.mark.data]

KNOWN = ("Kofi_Annan", "Jean_Chretien", "Hans_Blix", "Serena_Williams")
NEW = "Junichiro_Koizumi"


def info_of(version: Path) -> ModelInfo:
    return ModelInfo.from_json((version / "assets.extra" / MODEL_INFO_FILE).read_text())


def names_given(version: Path, photos: list[Path]) -> list[str]:
    """The label the version gives the largest face of each photo, through the service's preprocessing."""
    import tensorflow as tf

    from facecore.images import decode_image
    from facecore.modelinfo import SCORE_KEY, THRESHOLD_KEY, is_unknown
    from service.inference import Options, prepare_faces

    info = info_of(version)
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    names = []
    for photo in photos:
        batch = prepare_faces(decode_image(photo.read_bytes()), info, Options(max_faces=1)).batch
        if not len(batch):
            continue
        out = serve(faces=tf.constant(batch))
        unknown = is_unknown(out[SCORE_KEY].numpy(), out[THRESHOLD_KEY].numpy())[0]
        names.append("unknown" if unknown else info.class_names[int(np.argmax(out["probabilities"].numpy()[0]))])
    return names


@pytest.fixture(scope="module")
def setup(face_data, tmp_path_factory):
    """A data folder of four people, version 1 trained on it, and the new person's photos split
    into five to enrol and the rest to check."""
    root = tmp_path_factory.mktemp("enrol")
    data, models = root / "data", root / "models"
    for person in KNOWN:
        shutil.copytree(face_data / "lfw-known" / person, data / person)
    assert main(["run", "--data", str(data), "--models", str(models), "--work", str(root / "work")]) == EXIT_OK
    photos = sorted((face_data / "lfw-known" / NEW).glob("*.jpg"))
    enrol = root / "enrol" / NEW
    enrol.mkdir(parents=True)
    for photo in photos[:5]:
        shutil.copy(photo, enrol / photo.name)
    return root, data, models, enrol, photos[5:]


def test_enrolled_person_is_named_on_their_other_photos(setup, capsys):
    root, data, models, enrol, others = setup
    assert main(["enrol", "--models", str(models), "--person", NEW, "--photos", str(enrol),
                 "--work", str(root / "work")]) == 0
    assert "faces/2" in capsys.readouterr().out
    version = models / "faces" / "2"
    info = info_of(version)
    assert info.class_names == (*sorted(KNOWN), NEW)
    assert info.extra["enrolled"][NEW] == {"photos": 5, "after_version": 1}
    # the training faces' spread, recorded by `run`, sets the threshold of a centre of 5 photos
    spread = info.extra["centres"]
    assert 0.8 < spread["concentration"] < 1.0 and spread["photos_per_person"] > 10
    assert info.thresholds()[-1] == pytest.approx(info.unknown_threshold * size_factor(
        spread["concentration"], 5, spread["photos_per_person"])) and info.thresholds()[-1] < info.unknown_threshold
    assert json.loads((version / "publish.json").read_text())["source"] == "enrol"
    named = names_given(version, others)
    assert len(named) >= 20 and named.count(NEW) / len(named) >= 0.9, named
    # the people it knew are still named as before
    assert names_given(version, sorted((data / "Kofi_Annan").glob("*.jpg"))[:5]).count("Kofi_Annan") >= 4
    # kept for the next scheduled run, in its work folder (the data folder may be read-only)
    kept = root / "work" / "enrolled" / NEW
    assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in enrol.iterdir())
    assert not (data / NEW).exists()


def test_next_run_keeps_the_enrolled_person(setup):
    root, data, models, _, _ = setup
    assert main(["run", "--data", str(data), "--models", str(models), "--work", str(root / "work"),
                 "--force"]) == EXIT_OK
    assert NEW in info_of(models / "faces" / "3").class_names


def test_removal_publishes_a_version_without_them_and_moves_their_photos_aside(setup):
    root, data, models, _, others = setup
    assert main(["remove", "--models", str(models), "--person", NEW, "--work", str(root / "work"),
                 "--data", str(data)]) == EXIT_OK
    newest = max((p for p in (models / "faces").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert NEW not in info_of(newest).class_names
    enrolled = root / "work" / "enrolled"
    assert not (enrolled / NEW).exists() and len(list((enrolled / ".removed").glob(f"{NEW}-*"))) == 1
    assert NEW not in names_given(newest, others[:5])


def test_photos_without_a_face_are_refused_and_nothing_is_published(setup, face_data, tmp_path, capsys):
    _, _, models, _, _ = setup
    before = sorted(p.name for p in (models / "faces").iterdir())
    shutil.copytree(face_data / "test-photos" / "no_face", tmp_path / "nobody")
    assert main(["enrol", "--models", str(models), "--person", "Nobody", "--photos", str(tmp_path / "nobody")]) \
        == EXIT_REFUSED
    assert "needs at least 3" in capsys.readouterr().err
    assert sorted(p.name for p in (models / "faces").iterdir()) == before


@pytest.mark.parametrize("name", ["unknown", ".hidden", " dave", "a/b", "tab\there", "nul\x00", "x" * 201])
def test_names_the_service_refuses_are_refused(tmp_path, capsys, name):
    """The one name rule (facecore.datafolder), as the service's API refuses them too."""
    (tmp_path / "photos").mkdir()
    assert main(["enrol", "--models", str(tmp_path / "models"), "--person", name, "--photos",
                 str(tmp_path / "photos"), "--work", str(tmp_path / "work")]) == EXIT_BAD_INPUT
    assert "cannot be a person's name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]
