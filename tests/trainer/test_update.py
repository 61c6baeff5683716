"""`trainer update` and `trainer run` on a real descriptor model: the status file through a run, one
version without training for every change in the data folder, strangers kept below their nearest
person's threshold as the service scores them, and a requested retrain refused by the gate."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_enrolment import info_of, names_given

from trainer import status as status_module
from trainer.commands import main
from trainer.errors import EXIT_OK, EXIT_REFUSED
from trainer.publishing.changes import pending
from trainer.status import read_status

pytestmark = [pytest.mark.slow, pytest.mark.data]

KNOWN = ("Kofi_Annan", "Jean_Chretien", "Hans_Blix")
NEW = "Junichiro_Koizumi"
EACH = 15  # photos per person in the first version: enough for every split, quick to prepare


@dataclass
class Setup:
    face_data: Path
    data: Path
    models: Path
    work: Path
    statuses: list[dict]  # every status the first run wrote

    def update(self) -> int:
        return main(["update", "--data", str(self.data), "--models", str(self.models), "--work", str(self.work)])

    def version(self, number: int) -> Path:
        return self.models / "faces" / str(number)


def photos_of(face_data: Path, person: str) -> list[Path]:
    return sorted((face_data / "lfw-known" / person).glob("*.jpg"))


def copy(photos: list[Path], folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    return sorted(photo.name for photo in photos)


@pytest.fixture(scope="module")
def setup(face_data, tmp_path_factory) -> Setup:
    """Version 1 trained by `trainer run` on three people, a stranger photo without a face marked
    already, and every status the run wrote meanwhile."""
    root = tmp_path_factory.mktemp("update")
    result = Setup(face_data, root / "data", root / "models", root / "work", [])
    for person in KNOWN:
        copy(photos_of(face_data, person)[:EACH], result.data / person)
    copy([face_data / "test-photos" / "no_face" / "building.jpg"], result.data / ".strangers" / "px-building")
    write = status_module.write_status
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(status_module, "write_status",
                      lambda models, status: (result.statuses.append(json.loads(json.dumps(status))),
                                              write(models, status)))
        assert main(["run", "--data", str(result.data), "--models", str(result.models),
                     "--work", str(result.work)]) == EXIT_OK
    return result


def test_a_run_shows_its_stages_then_its_version_and_records_its_photos(setup):
    first, *_, last = setup.statuses
    assert (first["state"], first["job"], first["progress"]) == ("running", "run", None)
    stages = [s["progress"]["stage"] for s in setup.statuses if s["progress"]]
    assert list(dict.fromkeys(stages)) == ["detecting faces", "training", "evaluating", "publishing"]
    assert {"stage": "detecting faces", "done": 3 * EACH, "total": 3 * EACH} in [s["progress"] for s in setup.statuses]
    assert last["state"] == "idle" and last["last_run_started_at"] == first["since"]
    assert last["last"] == {"job": "run", "outcome": "published", "version": 1, "reason": None,
                            "finished_at": last["since"]}
    info = info_of(setup.version(1))
    assert info.extra["sources"] == {p: copy(photos_of(setup.face_data, p)[:EACH], setup.data / p) for p in KNOWN}
    assert info.extra["strangers"] == ["px-building/building.jpg"]  # no face: calibrated without strangers
    assert not pending(setup.data, setup.models, setup.work)  # so `update` has nothing to do


def test_one_update_enrols_recentres_removes_and_lifts_thresholds_above_strangers(setup, monkeypatch):
    kofi_unseen = photos_of(setup.face_data, "Kofi_Annan")[EACH:]
    marked = kofi_unseen[names_given(setup.version(1), kofi_unseen).index("Kofi_Annan")]  # named Kofi so far
    strangers = [marked, *sorted((setup.face_data / "lfw-strangers").rglob("*.jpg"))[:3]]
    for photo in strangers:
        copy([photo], setup.data / ".strangers" / f"px-{photo.stem}")
    new_photos = photos_of(setup.face_data, NEW)
    copy(new_photos[:5], setup.data / NEW)
    jean = photos_of(setup.face_data, "Jean_Chretien")
    shutil.rmtree(setup.data / "Jean_Chretien")
    copy(jean[EACH:EACH + 12], setup.data / "Jean_Chretien")  # all his photos changed
    shutil.rmtree(setup.data / "Hans_Blix")

    statuses, write = [], status_module.write_status
    monkeypatch.setattr(status_module, "write_status", lambda models, status: (statuses.append(status["progress"]),
                                                                               write(models, status)))
    assert setup.update() == EXIT_OK
    stages = list(dict.fromkeys(p["stage"] for p in statuses if p))
    assert stages == ["reading photos", "reading stranger photos", "publishing"]
    assert {"stage": "reading photos", "done": 17, "total": 17} in statuses  # 5 new + 12 of Jean's
    assert sorted(p.name for p in (setup.models / "faces").iterdir() if p.name.isdigit()) == ["1", "2"]
    info = info_of(setup.version(2))
    assert info.class_names == ("Jean_Chretien", "Kofi_Annan", NEW)
    assert info.extra["sources"] == {person: sorted(p.name for p in (setup.data / person).iterdir())
                                     for person in info.class_names}
    marked_names = ["px-building/building.jpg", *(f"px-{p.stem}/{p.name}" for p in strangers)]
    assert info.extra["strangers"] == sorted(marked_names)
    assert json.loads((setup.version(2) / "publish.json").read_text())["source"] == "update"

    named = names_given(setup.version(2), new_photos[5:15])
    assert named.count(NEW) / len(named) >= 0.8, named
    assert names_given(setup.version(2), strangers) == ["unknown"] * len(strangers)
    kofi = info.class_names.index("Kofi_Annan")
    assert info.class_thresholds[kofi] > info.extra["base_thresholds"]["Kofi_Annan"]
    assert_centre_is_from(setup, "Jean_Chretien", sorted((setup.data / "Jean_Chretien").iterdir()))
    last = read_status(setup.models)["last"]
    assert (last["job"], last["outcome"], last["version"], last["reason"]) == ("update", "published", 2, None)
    assert not pending(setup.data, setup.models, setup.work)


def assert_centre_is_from(setup: Setup, person: str, photos: list[Path]) -> None:
    """Version 2's centre of `person` is the mean of these photos' faces (replaced, not merged with v1's)."""
    import keras

    from trainer.model.centres import centre_of, unit_columns
    from trainer.publishing.enrolment import centres_of, embeddings, photo_inputs

    centres = {}
    for version in (1, 2):
        model, info = keras.models.load_model(setup.version(version) / "model.keras"), info_of(setup.version(version))
        centres[version] = unit_columns(centres_of(model))[:, info.class_names.index(person)]
    inputs, used, _ = photo_inputs(photos, info, info.min_face_size)
    expected = centre_of(embeddings(model, inputs))
    assert len(used) >= 10 and centres[2] @ expected > 1 - 1e-5
    assert centres[1] @ expected < 1 - 1e-3


def test_a_requested_retrain_runs_and_its_refusal_is_recorded_and_answers_the_request(setup):
    requested = time.time()
    (setup.data / ".retrain-requested").write_text(json.dumps({"requested_at": requested, "by": "api"}))
    report = setup.version(2) / "report.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "macro_f1": 2.0}))  # no run can pass the gate

    assert setup.update() == EXIT_REFUSED
    status = read_status(setup.models)
    assert status["state"] == "idle" and status["last_run_started_at"] > requested
    assert {k: status["last"][k] for k in ("job", "outcome", "version")} == \
        {"job": "run", "outcome": "refused", "version": None}
    assert "macro-F1" in status["last"]["reason"]
    assert not pending(setup.data, setup.models, setup.work)  # the request was answered
    assert not setup.version(3).exists()
    run = sorted((setup.work / "runs").iterdir())[-1]
    people = json.loads((run / "people.json").read_text())
    assert len(people["extra"]["strangers"]) == 5  # DATA/.strangers, calibrated on and lifted above
    assert json.loads((setup.work / "strangers-records" / "manifest.json").read_text())["data_dir"] == \
        str((setup.data / ".strangers").resolve())
    names = json.loads((run / "dataset.json").read_text())["class_names"]
    kofi = names.index("Kofi_Annan")
    assert people["class_thresholds"][kofi] > people["extra"]["base_thresholds"]["Kofi_Annan"]
