"""Fixtures for the service: exported models, model folders, apps, clients, a TF Serving stand-in."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from exported_models import copy_version, publish, tiny_model, tiny_info
from processes import deployed_batching

MODEL_NAME = "faces"
CLASSES_V1 = ("alice", "bob", "carol")
CLASSES_V2 = ("alice", "bob", "carol", "dave")
PUBLISHED_V1, PUBLISHED_V2 = 1_700_000_000, 1_700_000_100
# Small photos with a known number of faces (test-photos/manifest.csv).
PHOTOS = {"one": "one_face/obama_small.jpg", "three": "multi_face/three_people_voc2008_002506.jpg",
          "none": "no_face/fruits.jpg"}


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict[str, Path]:
    """Exported SavedModel folders, by name: v1 (answers bob), v2 (answers dave), unknown, mismatch."""
    root = tmp_path_factory.mktemp("exported")
    v1 = tiny_info(CLASSES_V1, unknown_threshold=0.5, extra={"exported_at": PUBLISHED_V1, "macro_f1": 0.9})
    v2 = tiny_info(CLASSES_V2, unknown_threshold=0.5, extra={"exported_at": PUBLISHED_V2})
    variants = {
        "v1": (tiny_model(3, favourite=1), v1),
        "v2": (tiny_model(4, favourite=3), v2),
        # bob's own threshold (0.99) is above every face's score (~0.95); the pooled one is below it.
        "unknown": (tiny_model(3, favourite=1),
                    replace(v1, unknown_threshold=0.9, class_thresholds=(0.97, 0.99, 0.98))),
        "mismatch": (tiny_model(2), v1),  # 2 outputs, 3 class names
    }
    return {name: publish(model, info, root / name, 1) for name, (model, info) in variants.items()}


@pytest.fixture
def models_root(tmp_path, exported) -> Path:
    """A MODEL_BASE_PATH holding faces/1 (v1)."""
    copy_version(exported["v1"], tmp_path / "models" / MODEL_NAME, 1)
    return tmp_path / "models"


@pytest.fixture(scope="session")
def photos(face_data) -> dict[str, bytes]:
    return {key: (face_data / "test-photos" / name).read_bytes() for key, name in PHOTOS.items()}


@pytest.fixture
def local_config(models_root):
    from service.config import Config

    return Config(model_name=MODEL_NAME, model_base_path=models_root, model_poll_s=0.0)


@pytest.fixture
def make_app():
    """Build apps from configs; closes them at the end of the test."""
    from service.app import create_app

    apps = []

    def build(config, backend=None):
        app = create_app(config, backend)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["faceid"].close()


@pytest.fixture
def app(make_app, local_config):
    return make_app(local_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def serve_app():
    """Put apps behind real HTTP servers on free local ports (threaded, in this process); each
    call returns the app's URL, and the servers stop at the end of the test."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def served_url(app, serve_app):
    """The app behind a real HTTP server on a free local port."""
    return serve_app(app)


@pytest.fixture
def standin(models_root):
    """A TF Serving stand-in serving models_root/faces with batching on, polling every 50 ms."""
    from tfserving_standin import StandIn

    server = StandIn(MODEL_NAME, models_root / MODEL_NAME, poll_s=0.05, batching=deployed_batching()).start()
    yield server
    server.stop()


@pytest.fixture
def tfserving_config(standin):
    from service.config import Config

    return Config(model_name=MODEL_NAME, backend="tfserving", tfserving_address=standin.address,
                  tfserving_timeout_s=2.0)


@pytest.fixture
def tfs_client(make_app, tfserving_config):
    return make_app(tfserving_config).test_client()


@pytest.fixture
def metric():
    """metric(app, name, labels): a sample's value in the app's registry (0 when never set)."""

    def value(app, name: str, labels: dict | None = None) -> float:
        return app.extensions["faceid"].metrics.registry.get_sample_value(name, labels or {}) or 0.0

    return value


# --- people through the API (docs/people.md) ----------------------------------------------------

PREDICT_KEY, ADMIN_KEY = "predict-key", "admin-key"
AS_ADMIN, AS_PREDICT = {"X-API-Key": ADMIN_KEY}, {"Authorization": f"Bearer {PREDICT_KEY}"}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """An empty DATA_DIR."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def people_config(local_config, data_dir):
    """The local model with enrolment on: a predict key, an admin key, DATA_DIR in tmp_path."""
    return replace(local_config, api_keys=(PREDICT_KEY,), admin_keys=(ADMIN_KEY,), enrolment=True,
                   data_dir=data_dir)


@pytest.fixture
def people_app(make_app, people_config):
    return make_app(people_config)


@pytest.fixture
def admin(people_app):
    """A client of people_app that sends the admin key with every request."""
    client = people_app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = ADMIN_KEY
    return client


@pytest.fixture
def problem():
    """problem(response, status, slug): check a problem+json answer, return its body."""

    def check(response, status: int, slug: str) -> dict:
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["status"] == status and body["type"] == f"urn:faceid:problem:{slug}"
        assert body["detail"] and "Traceback" not in response.get_data(as_text=True)
        return body

    return check


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too), by relative path: to compare before and after."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def disk():
    return files_under


@pytest.fixture
def as_admin() -> dict[str, str]:
    """Headers with people_config's admin key."""
    return dict(AS_ADMIN)


@pytest.fixture
def as_predict() -> dict[str, str]:
    """Headers with people_config's predict key."""
    return dict(AS_PREDICT)
