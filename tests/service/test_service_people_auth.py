"""Who may read and change people (docs/people.md): the key roles, ENROLMENT, and the settings."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest

from service.config import Config, ConfigError

pytestmark = pytest.mark.data


def write_requests(photo: bytes) -> dict[str, tuple[str, str, dict]]:
    """One request of every kind that changes people: name -> (method, path, request options)."""
    return {
        "add_photo": ("POST", "/v1/people/dave/photos", {"data": {"image": (io.BytesIO(photo), "p.jpg")}}),
        "delete_photo": ("DELETE", "/v1/people/alice/photos/a.jpg", {}),
        "remove_person": ("DELETE", "/v1/people/alice", {}),
        "correct": ("POST", "/v1/corrections", {"data": {"image": (io.BytesIO(photo), "p.jpg"), "x": "96", "y": "44",
                                                          "width": "131", "height": "131", "person": "dave"}}),
        "retrain": ("POST", "/v1/trainer/retrain", {}),
    }


WRITES = list(write_requests(b""))
READS = ["/v1/people", "/v1/people/alice", "/v1/people/alice/photos/a.jpg", "/v1/trainer"]
SUCCESS = {"add_photo": 201, "delete_photo": 204, "remove_person": 204, "correct": 201, "retrain": 202}


@pytest.fixture
def alice(data_dir, face_data):
    """DATA/alice/a.jpg (not the photo the writes send), for the reads and deletes to find."""
    (data_dir / "alice").mkdir()
    (data_dir / "alice" / "a.jpg").write_bytes((face_data / "test-photos" / "one_face" / "messi5.jpg").read_bytes())


def send(client, name: str, photo: bytes, headers: dict):
    method, path, options = write_requests(photo)[name]
    return client.open(path, method=method, headers=headers, **options)


@pytest.mark.parametrize("operation", WRITES)
@pytest.mark.parametrize("who, status, slug", [
    ("nobody", 401, "unauthorized"), ("wrong", 401, "unauthorized"), ("predict", 403, "forbidden"),
])
def test_changes_need_an_admin_key(people_app, data_dir, alice, photos, problem, disk, as_predict,
                                   operation, who, status, slug):
    headers = {"nobody": {}, "wrong": {"X-API-Key": "admin-key-not"}, "predict": as_predict}[who]
    before = disk(data_dir)
    problem(send(people_app.test_client(), operation, photos["one"], headers), status, slug)
    assert disk(data_dir) == before


@pytest.mark.parametrize("operation", WRITES)
def test_changes_need_enrolment_on(make_app, people_config, data_dir, alice, photos, problem, disk, as_admin,
                                   operation):
    app = make_app(replace(people_config, enrolment=False))
    before = disk(data_dir)
    body = problem(send(app.test_client(), operation, photos["one"], as_admin), 403, "enrolment-off")
    assert "ENROLMENT" in body["detail"]
    assert disk(data_dir) == before


@pytest.mark.parametrize("operation", WRITES)
def test_an_admin_key_may_change_people(people_app, data_dir, alice, photos, as_admin, disk, operation):
    before = disk(data_dir)
    response = send(people_app.test_client(), operation, photos["one"], as_admin)
    assert response.status_code == SUCCESS[operation], response.get_data(as_text=True)
    assert disk(data_dir) != before


def test_without_any_keys_changes_are_off(make_app, local_config, data_dir, photos, problem, disk):
    app = make_app(replace(local_config, data_dir=data_dir))
    for operation in WRITES:
        problem(send(app.test_client(), operation, photos["one"], {}), 403, "enrolment-off")
    assert disk(data_dir) == {}


@pytest.mark.parametrize("path", READS)
def test_reads_need_any_valid_key(people_app, alice, problem, as_predict, as_admin, path):
    client = people_app.test_client()
    problem(client.get(path), 401, "unauthorized")
    problem(client.get(path, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    assert client.get(path, headers=as_predict).status_code == 200
    assert client.get(path, headers=as_admin).status_code == 200


def test_the_list_says_whether_the_key_may_change_people(make_app, people_config, people_app, as_predict, as_admin):
    client = people_app.test_client()
    assert client.get("/v1/people", headers=as_admin).get_json()["can_edit"] is True
    assert client.get("/v1/people", headers=as_predict).get_json()["can_edit"] is False
    off = make_app(replace(people_config, enrolment=False)).test_client()
    assert off.get("/v1/people", headers=as_admin).get_json()["can_edit"] is False


def test_reads_are_open_without_keys(make_app, local_config, data_dir, alice):
    client = make_app(replace(local_config, data_dir=data_dir)).test_client()
    assert [client.get(path).status_code for path in READS] == [200] * len(READS)


def test_an_admin_key_may_predict(people_app, photos, as_admin, as_predict, problem):
    client = people_app.test_client()
    for headers in (as_admin, as_predict):
        answer = client.post("/v1/predict", data=photos["one"], content_type="image/jpeg", headers=headers)
        assert answer.status_code == 200
    problem(client.post("/v1/predict", data=photos["one"], content_type="image/jpeg"), 401, "unauthorized")


def test_with_only_admin_keys_predict_stays_open_and_people_do_not(make_app, local_config, photos, problem):
    """Turning enrolment on changes nothing for predict clients; the people stay behind the key."""
    client = make_app(replace(local_config, admin_keys=("boss",))).test_client()
    assert client.post("/v1/predict", data=photos["one"], content_type="image/jpeg").status_code == 200
    assert client.get("/v1/models").status_code == 200
    problem(client.get("/v1/people"), 401, "unauthorized")
    problem(client.get("/v1/trainer"), 401, "unauthorized")
    assert client.get("/v1/people", headers={"Authorization": "Bearer boss"}).status_code == 200
    assert client.get("/healthz").status_code == 200


# --- settings -------------------------------------------------------------------------------------


def test_enrolment_settings_are_read(tmp_path):
    config = Config.from_env({"MODEL_BASE_PATH": "/m", "ADMIN_KEYS": " boss, deputy ,", "ENROLMENT": "on",
                              "DATA_DIR": "/data"})
    assert config.admin_keys == ("boss", "deputy") and config.enrolment is True
    assert str(config.data_dir) == "/data"
    plain = Config.from_env({"MODEL_BASE_PATH": "/m"})
    assert (plain.admin_keys, plain.enrolment, plain.data_dir) == ((), False, None)


@pytest.mark.parametrize("env, variable", [
    ({"ENROLMENT": "on", "DATA_DIR": "/data"}, "ADMIN_KEYS"),
    ({"ENROLMENT": "on", "ADMIN_KEYS": "boss"}, "DATA_DIR"),
    ({"ENROLMENT": "maybe"}, "ENROLMENT"),
])
def test_enrolment_needs_an_admin_key_and_a_data_folder(env, variable):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({"MODEL_BASE_PATH": "/m", **env})


def test_enrolment_on_a_missing_data_folder_refuses_to_start(make_app, people_config, tmp_path):
    with pytest.raises(ConfigError, match="DATA_DIR"):
        make_app(replace(people_config, data_dir=tmp_path / "not-mounted"))
    assert not (tmp_path / "not-mounted").exists()


def test_openapi_says_who_may_call_each_people_operation(people_app):
    """Reads declare an optional key and 401; changes a required key, 401 and 403: as the service does."""
    document = people_app.test_client().get("/openapi.json").get_json()
    blueprints = ("people_api.", "trainer_api.")
    rules = [rule for rule in people_app.url_map.iter_rules() if rule.endpoint.startswith(blueprints)]
    assert len(rules) == 9
    for rule in rules:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        (method,) = rule.methods - {"HEAD", "OPTIONS"}
        operation = document["paths"][path][method.lower()]
        if method == "GET":
            assert operation["security"][0] == {} and "401" in operation["responses"]
        else:
            assert {} not in operation["security"] and {"401", "403"} <= set(operation["responses"])
