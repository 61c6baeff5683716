"""People through the API (docs/people.md): each route's answer and refusals, and what lands on disk."""

from __future__ import annotations

import io
import json
import numpy as np
import pytest
from PIL import Image

from facecore.detect import DetectorParams, FaceDetector
from facecore.images import decode_image, pixel_hash
from facecore.modelinfo import ModelInfo
from service.backend import ServedModel

pytestmark = pytest.mark.data

ONE_FACE = {"messi": "one_face/messi5.jpg", "astronaut": "one_face/astronaut.png"}


class FixedBackend:
    """A model server that serves `info` as version `version` and is never asked to predict."""

    def __init__(self, info: ModelInfo, version: int = 1) -> None:
        self.served = ServedModel("faces", version, info)

    def current(self):
        return self.served

    refresh = check_ready = current

    def describe(self, version):
        return self.served

    def close(self):
        pass


@pytest.fixture
def more_photos(face_data) -> dict[str, bytes]:
    return {key: (face_data / "test-photos" / name).read_bytes() for key, name in ONE_FACE.items()}


def add(client, name: str, data: bytes, **kwargs):
    return client.post(f"/v1/people/{name}/photos", data={"image": (io.BytesIO(data), "p.jpg")}, **kwargs)


def kept_name(data: bytes, extension: str) -> str:
    return f"px-{pixel_hash(decode_image(data))[:16]}.{extension}"


def png_of(data: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


# --- adding photos ------------------------------------------------------------------------------


def test_a_photo_is_kept_under_its_pixel_hash(admin, data_dir, photos, disk):
    response = add(admin, "dave", photos["one"])
    name = kept_name(photos["one"], "jpg")
    assert response.status_code == 201
    assert response.get_json() == {"person": "dave", "photo": {"id": name}}
    assert disk(data_dir / "dave") == {name: photos["one"]}  # the bytes as sent; no temporary file left


def test_a_raw_body_and_a_png_are_kept_too(admin, data_dir, more_photos):
    response = admin.post("/v1/people/erin/photos", data=more_photos["astronaut"], content_type="image/png")
    assert response.status_code == 201
    assert (data_dir / "erin" / kept_name(more_photos["astronaut"], "png")).read_bytes() == more_photos["astronaut"]


def test_a_face_just_above_the_training_minimum_is_kept(admin, data_dir, more_photos):
    # messi5's face is 41 pixels; the test model carries no training config: the trainer's default, 40
    assert add(admin, "lionel", more_photos["messi"]).status_code == 201


@pytest.mark.parametrize("key, status, slug", [("none", 422, "no-face"), ("three", 422, "several-faces")])
def test_photos_without_exactly_one_face_are_refused(admin, data_dir, photos, problem, key, status, slug):
    problem(add(admin, "dave", photos[key]), status, slug)
    assert list(data_dir.iterdir()) == []  # not even the person's folder


def test_undecodable_photo_is_refused(admin, data_dir, problem):
    problem(add(admin, "dave", b"not a photo"), 400, "undecodable-image")
    assert list(data_dir.iterdir()) == []


def test_the_training_minimum_face_size_comes_from_the_model(make_app, people_config, data_dir, photos, problem,
                                                            as_admin):
    # obama_small's face is 131 pixels: below a model trained on faces of at least 200
    info = ModelInfo(("alice", "bob"), extra={"train_config": {"prepare": {"min_face_size": 200}}})
    client = make_app(people_config, FixedBackend(info)).test_client()
    body = problem(add(client, "dave", photos["one"], headers=as_admin), 422, "face-too-small")
    assert "131x131" in body["detail"] and "200x200" in body["detail"]
    assert list(data_dir.iterdir()) == []


def test_the_detector_settings_come_from_the_model(make_app, people_config, photos, problem, as_admin):
    info = ModelInfo(("alice", "bob"), detector=DetectorParams(min_size=400, max_side=0))
    client = make_app(people_config, FixedBackend(info)).test_client()
    problem(add(client, "dave", photos["one"], headers=as_admin), 422, "no-face")


def test_a_duplicate_is_refused_naming_where_the_photo_is(admin, data_dir, photos, problem, disk):
    add(admin, "dave", photos["one"])
    before = disk(data_dir)
    same = problem(add(admin, "dave", photos["one"]), 409, "duplicate-photo")
    # the same pixels in another encoding, for another person: still the same photo
    elsewhere = problem(add(admin, "erin", png_of(photos["one"])), 409, "duplicate-photo")
    name = kept_name(photos["one"], "jpg")
    assert same["existing"] == elsewhere["existing"] == {"person": "dave", "photo": name}
    assert name in elsewhere["detail"]
    assert disk(data_dir) == before


def test_a_photo_the_trainer_put_in_the_data_folder_counts_as_kept(admin, data_dir, photos, problem):
    (data_dir / "carol").mkdir()
    (data_dir / "carol" / "IMG_0001.jpg").write_bytes(photos["one"])
    body = problem(add(admin, "dave", photos["one"]), 409, "duplicate-photo")
    assert body["existing"] == {"person": "carol", "photo": "IMG_0001.jpg"}


@pytest.mark.parametrize("name", ["unknown", ".hidden", "%20dave", "dave%20", "tab%09here", "nul%00", "x" * 201])
def test_bad_names_are_refused(admin, data_dir, photos, problem, name):
    problem(add(admin, name, photos["one"]), 400, "bad-name")
    assert list(data_dir.iterdir()) == []


# --- listing --------------------------------------------------------------------------------------


def test_people_are_the_data_folders_and_the_models_classes(admin, data_dir, models_root, photos):
    (data_dir / "alice").mkdir()
    (data_dir / "alice" / "a.jpg").write_bytes(photos["one"])
    (data_dir / "alice" / ".a.jpg.partial").write_bytes(b"half")
    (data_dir / "zoe").mkdir()
    (data_dir / ".strangers" / "px-1").mkdir(parents=True)
    per_class = {"alice": {"precision": 0.9, "recall": 0.8, "f1": 0.847, "support": 12},
                 "dave": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}}  # removed since
    (models_root / "faces" / "1" / "report.json").write_text(json.dumps({"macro_f1": 0.9, "per_class": per_class}))
    body = admin.get("/v1/people").get_json()
    assert body["enrolment"] is True and body["model"] == {"name": "faces", "version": 1}
    assert body["people"] == [
        {"name": "alice", "photos": 1, "known": True, "enrolled_after_version": None,
         "quality": per_class["alice"]},
        {"name": "bob", "photos": 0, "known": True, "enrolled_after_version": None, "quality": None},
        {"name": "carol", "photos": 0, "known": True, "enrolled_after_version": None, "quality": None},
        {"name": "zoe", "photos": 0, "known": False, "enrolled_after_version": None, "quality": None},
    ]


def test_enrolled_people_say_after_which_version(make_app, people_config, as_admin):
    info = ModelInfo(("alice", "bob", "erin"), extra={"enrolled": {"erin": {"photos": 4, "after_version": 6}}})
    client = make_app(people_config, FixedBackend(info, version=7)).test_client()
    people = client.get("/v1/people", headers=as_admin).get_json()["people"]
    assert [p["enrolled_after_version"] for p in people] == [None, None, 6]
    assert all(p["quality"] is None for p in people)  # no version 7 folder here to read figures from


def test_people_without_a_data_folder_are_the_models(make_app, local_config):
    body = make_app(local_config).test_client().get("/v1/people").get_json()
    assert body["enrolment"] is False
    assert [(p["name"], p["photos"], p["known"]) for p in body["people"]] == [
        ("alice", 0, True), ("bob", 0, True), ("carol", 0, True)]


def test_a_persons_photos_and_their_bytes(admin, data_dir, photos, more_photos, problem):
    add(admin, "dave", photos["one"])
    scan = png_of(more_photos["astronaut"])
    (data_dir / "dave" / "scan.jpg").write_bytes(scan)  # a PNG named .jpg
    body = admin.get("/v1/people/dave").get_json()
    first = kept_name(photos["one"], "jpg")
    assert body == {"name": "dave", "photos": [{"id": first, "bytes": len(photos["one"])},
                                               {"id": "scan.jpg", "bytes": len(scan)}]}
    jpeg = admin.get(f"/v1/people/dave/photos/{first}")
    assert jpeg.status_code == 200 and jpeg.mimetype == "image/jpeg" and jpeg.data == photos["one"]
    assert admin.get("/v1/people/dave/photos/scan.jpg").mimetype == "image/png"
    problem(admin.get("/v1/people/dave/photos/nothing.jpg"), 404, "not-found")
    problem(admin.get("/v1/people/dave/photos/.people.lock"), 400, "bad-name")


def test_a_known_person_without_a_folder_has_no_photos(admin, problem):
    assert admin.get("/v1/people/bob").get_json() == {"name": "bob", "photos": []}
    problem(admin.get("/v1/people/nobody"), 404, "not-found")
    problem(admin.get("/v1/people/unknown"), 400, "bad-name")


# --- deleting -----------------------------------------------------------------------------------


def test_deleting_a_photo(admin, data_dir, photos, more_photos, problem):
    add(admin, "dave", photos["one"])
    add(admin, "dave", more_photos["astronaut"])
    first = kept_name(photos["one"], "jpg")
    assert admin.delete(f"/v1/people/dave/photos/{first}").status_code == 204
    assert [p.name for p in (data_dir / "dave").iterdir() if not p.name.startswith(".")] == [
        kept_name(more_photos["astronaut"], "png")]
    problem(admin.delete(f"/v1/people/dave/photos/{first}"), 404, "not-found")
    assert add(admin, "dave", photos["one"]).status_code == 201  # no longer a duplicate


def test_removing_a_person_sets_their_folder_aside(admin, data_dir, photos, problem):
    add(admin, "dave", photos["one"])
    assert admin.delete("/v1/people/dave").status_code == 204
    assert not (data_dir / "dave").exists()
    (aside,) = (data_dir / ".removed").iterdir()
    assert aside.name.startswith("dave-") and aside.name.endswith("Z")
    assert [p.name for p in aside.iterdir()] == [kept_name(photos["one"], "jpg")]
    assert "dave" not in [p["name"] for p in admin.get("/v1/people").get_json()["people"]]
    problem(admin.delete("/v1/people/dave"), 404, "not-found")
    problem(admin.delete("/v1/people/.removed"), 400, "bad-name")


# --- the trainer ----------------------------------------------------------------------------------


def test_a_retrain_request_is_written_whole(admin, data_dir):
    response = admin.post("/v1/trainer/retrain")
    assert response.status_code == 202
    requested = response.get_json()["requested_at"]
    assert json.loads((data_dir / ".retrain-requested").read_text()) == {"requested_at": requested, "by": "api"}
    assert [p.name for p in data_dir.iterdir()] == [".retrain-requested"]


def test_the_trainers_status_is_its_own_file(admin, models_root):
    assert admin.get("/v1/trainer").get_json()["state"] == "unknown"
    status = {"state": "running", "job": "update", "since": 1.0, "progress": {"stage": "enrol", "done": 1, "total": 2},
              "last": None}
    (models_root / ".trainer-status.json").write_text(json.dumps(status))
    assert admin.get("/v1/trainer").get_json() == status
    (models_root / ".trainer-status.json").write_text('{"state": "runn')  # torn or hand-edited: never a 500
    answer = admin.get("/v1/trainer")
    assert answer.status_code == 200 and answer.get_json()["state"] == "unknown"


def test_people_writes_are_counted(people_app, admin, photos, metric):
    add(admin, "dave", photos["one"])
    add(admin, "dave", photos["one"])
    add(admin, "dave", photos["none"])
    admin.post("/v1/trainer/retrain")
    people_app.test_client().delete("/v1/people/dave")
    counts = {(op, outcome): metric(people_app, "faceid_people_writes_total", {"operation": op, "outcome": outcome})
              for op, outcome in [("add_photo", "done"), ("add_photo", "duplicate-photo"), ("add_photo", "no-face"),
                                  ("retrain", "done"), ("remove_person", "unauthorized")]}
    assert set(counts.values()) == {1.0}
    admin.get("/v1/people")
    assert metric(people_app, "faceid_people_writes_total", {"operation": "list_people", "outcome": "done"}) == 0


# --- corrections ----------------------------------------------------------------------------------


def correct(client, data: bytes, box: dict, person: str | None):
    fields = {"image": (io.BytesIO(data), "p.jpg"), **{k: str(v) for k, v in box.items()}}
    if person is not None:
        fields["person"] = person
    return client.post("/v1/corrections", data=fields)


@pytest.fixture
def two_people(face_data) -> tuple[bytes, dict]:
    """A photo of two people and the box /v1/predict gives the right one's face."""
    data = (face_data / "test-photos" / "multi_face" / "two_people.jpg").read_bytes()
    return data, {"x": 791, "y": 59, "width": 175, "height": 176}


def expected_crop(data: bytes, box: dict) -> np.ndarray:
    rgb = decode_image(data)
    half_w, half_h = round(box["width"] / 2), round(box["height"] / 2)
    top, left = max(0, box["y"] - half_h), max(0, box["x"] - half_w)
    return rgb[top: box["y"] + box["height"] + half_h, left: box["x"] + box["width"] + half_w]


@pytest.mark.parametrize("person", ["carol", "", None])
def test_a_correction_keeps_the_face_grown_by_half(admin, data_dir, two_people, person, disk):
    data, box = two_people
    response = correct(admin, data, box, person)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    crop = expected_crop(data, box)
    name = f"px-{pixel_hash(crop)[:16]}.png"
    assert body == {"person": person or None, "photo": {"id": name}}
    where = f"carol/{name}" if person else f".strangers/{name[:-4]}/{name}"
    assert list(disk(data_dir)) == [".people.lock", where]  # the photo sent is kept nowhere else
    kept = decode_image((data_dir / where).read_bytes())
    # 88 + 175 + 88 wide; 176 + 88 high and as much above as the photo has (59)
    assert kept.shape == (323, 351, 3) and np.array_equal(kept, crop)
    assert len(FaceDetector().detect(kept)) == 1


def test_a_correction_is_refused_like_an_added_photo(admin, data_dir, two_people, photos, problem):
    data, box = two_people
    assert correct(admin, data, box, "carol").status_code == 201
    problem(correct(admin, data, box, ""), 409, "duplicate-photo")
    problem(correct(admin, data, {"x": 0, "y": 300, "width": 200, "height": 200}, "carol"), 422, "no-face")
    problem(correct(admin, data, {"x": 5000, "y": 5000, "width": 10, "height": 10}, "carol"), 422, "no-face")
    # a box around all three faces of the photo
    problem(correct(admin, photos["three"], {"x": 117, "y": 49, "width": 321, "height": 136}, "carol"),
            422, "several-faces")
    problem(correct(admin, data, box, "unknown"), 400, "bad-name")


@pytest.mark.parametrize("change", [{"x": None}, {"width": "0"}, {"y": "-1"}, {"height": "tall"}])
def test_a_correction_needs_its_box(admin, data_dir, two_people, problem, change):
    data, box = two_people
    box = {k: v for k, v in {**box, **change}.items() if v is not None}
    problem(correct(admin, data, box, "carol"), 400, "bad-option")
    assert list(data_dir.iterdir()) == []


def test_a_correction_is_multipart(admin, two_people, problem):
    problem(admin.post("/v1/corrections", data=two_people[0], content_type="image/jpeg"), 415,
            "unsupported-media-type")


def test_photos_in_subfolders_count_as_in_training(admin, data_dir, photos, problem):
    (data_dir / "dave" / "2019").mkdir(parents=True)
    (data_dir / "dave" / "2019" / "beach.jpg").write_bytes(photos["one"])
    (data_dir / "dave" / ".thumbs").mkdir()
    (data_dir / "dave" / ".thumbs" / "beach.jpg").write_bytes(b"x")
    listed = admin.get("/v1/people/dave").get_json()["photos"]
    assert listed == [{"id": "2019/beach.jpg", "bytes": len(photos["one"])}]
    assert admin.get("/v1/people/dave/photos/2019/beach.jpg").data == photos["one"]
    problem(admin.get("/v1/people/dave/photos/.thumbs/beach.jpg"), 400, "bad-name")
    problem(admin.get("/v1/people/dave/photos/2019/../../carol/x.jpg"), 400, "bad-name")
    assert admin.delete("/v1/people/dave/photos/2019/beach.jpg").status_code == 204
    assert not (data_dir / "dave" / "2019" / "beach.jpg").exists()
