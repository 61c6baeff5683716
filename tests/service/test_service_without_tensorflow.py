"""The tfserving backend runs where TensorFlow and tensorflow-serving-api cannot be imported,
from the descriptor file `python -m facecore.tfserving_api write` saves, as in the slim image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2

from exported_models import publish, tiny_model, tiny_info
from service.config import Config
from facecore.tensors import fill_tensor
from facecore.tfserving_api import API_MODULES, PATH_VARIABLE, ApiMissing, load_api, write_descriptors
from photos import photo_paths
from processes import deployed_batching
from tfserving_standin import StandIn

REPO = Path(__file__).resolve().parents[2]
WRITE = [sys.executable, "-m", "facecore.tfserving_api", "write"]
MODEL = "faces"

# Installed first in the child (sitecustomize): every tensorflow* import fails, as in the slim image.
BLOCK_TENSORFLOW = """
import sys


class BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0].startswith("tensorflow"):
            # What a missing package raises: ModuleNotFoundError naming it.
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the service must run without TensorFlow)",
                                      name=name)
        return None


sys.meta_path.insert(0, BlockTensorFlow())
"""

# argv: TF Serving address, JSON {photo: path}. Prints {photo: {"status", "body"}} as JSON.
SERVE_WITHOUT_TENSORFLOW = """
import json
import sys

try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("tensorflow was importable in the child")

from service.app import create_app
from service.config import Config

address, photos, model_name = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
app = create_app(Config(model_name=model_name, backend="tfserving", tfserving_address=address,
                        tfserving_timeout_s=30.0))
client = app.test_client()
answers = {}
for name, path in photos.items():
    with open(path, "rb") as photo:
        response = client.post("/v1/predict", data=photo.read(), content_type="application/octet-stream")
    answers[name] = {"status": response.status_code, "body": response.get_json()}
app.extensions["faceid"].close()
loaded = sorted(name for name in sys.modules if name.startswith("tensorflow"))
assert not loaded, f"TensorFlow modules loaded while serving: {loaded}"
print(json.dumps(answers))
"""


def serve_without_tensorflow(tmp_path: Path, config: Config, photos: dict[str, Path], descriptors: Path) -> dict:
    """The child's answers for `photos`, served through TF Serving as `config` says."""
    blocker = tmp_path / "block-tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{REPO}", PATH_VARIABLE: str(descriptors)}
    args = [config.tfserving_address, json.dumps({name: str(path) for name, path in photos.items()}),
            config.model_name]
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(SERVE_WITHOUT_TENSORFLOW), *args],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-4000:]
    return json.loads(child.stdout)


def assert_close(served, expected, where: str = "answer") -> None:
    """Equal JSON, floats within 1e-6."""
    if isinstance(expected, dict):
        assert served.keys() == expected.keys(), where
        for key in expected:
            assert_close(served[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(served) == len(expected), where
        for index, (one, other) in enumerate(zip(served, expected)):
            assert_close(one, other, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert served == pytest.approx(expected, abs=1e-6), where
    else:
        assert served == expected, where


@pytest.fixture
def varied_models(tmp_path) -> Path:
    """A MODEL_BASE_PATH whose model's answer depends on the face (random weights, unlike v1's)."""
    publish(tiny_model(3), tiny_info(("ann", "ben", "cy")), tmp_path / "models" / MODEL, 1)
    return tmp_path / "models"


@pytest.mark.slow
@pytest.mark.data
def test_tfserving_backend_without_tensorflow_answers_like_local(tmp_path, face_data, varied_models, make_app):
    descriptors = tmp_path / "api" / "tfserving_api.binpb"
    subprocess.run([*WRITE, str(descriptors)], cwd=REPO, check=True, capture_output=True, timeout=300)
    photos = photo_paths(face_data)
    with StandIn(MODEL, varied_models / MODEL, batching=deployed_batching()) as server:
        config = Config(model_name=MODEL, backend="tfserving", tfserving_address=server.address)
        served = serve_without_tensorflow(tmp_path, config, photos, descriptors)
    assert sum(len(answer["body"]["faces"]) for answer in served.values()) >= len(photos)
    client = make_app(Config(model_name=MODEL, model_base_path=varied_models)).test_client()
    for name, photo in photos.items():
        local = client.post("/v1/predict", data=photo.read_bytes(), content_type="application/octet-stream")
        assert (served[name]["status"], local.status_code) == (200, 200), served[name]
        body, expected = served[name]["body"], local.get_json()
        body.pop("timings_ms"), expected.pop("timings_ms")
        assert_close(body, expected, name)


# --- finding the descriptors --------------------------------------------------------------------


def test_descriptor_file_round_trip(tmp_path):
    path = tmp_path / "tfserving_api.binpb"
    assert write_descriptors(path) == metadata.version("tensorflow-serving-api")
    api = load_api({PATH_VARIABLE: str(path)}, packaged=tmp_path / "absent.binpb")
    assert str(path) in api.source and metadata.version("tensorflow-serving-api") in api.source
    request = api.message("tensorflow.serving.PredictRequest")(output_filter=["probabilities"])
    request.model_spec.name = "faces"
    request.model_spec.version.value = 3
    fill_tensor(request.inputs["faces"], np.ones((2, 4, 4, 1), np.float32))
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # tensorflow-serving-api's class
    assert (parsed.model_spec.name, parsed.model_spec.version.value) == ("faces", 3)
    assert parsed.inputs["faces"].tensor_content == np.ones((2, 4, 4, 1), np.float32).tobytes()
    assert parsed.SerializeToString() == request.SerializeToString()


def test_packaged_file_is_used_without_the_variable(tmp_path):
    packaged = tmp_path / "tfserving_api.binpb"
    write_descriptors(packaged)
    assert load_api({}, packaged=packaged).source.startswith(str(packaged))


def test_missing_file_named_by_the_variable_is_an_error(tmp_path):
    missing = tmp_path / "nowhere.binpb"
    with pytest.raises(ApiMissing, match=f"{PATH_VARIABLE}=.*python -m facecore.tfserving_api write {missing}"):
        load_api({PATH_VARIABLE: str(missing)}, packaged=tmp_path / "absent.binpb")


def test_installed_package_is_the_fallback(tmp_path):
    api = load_api({}, packaged=tmp_path / "absent.binpb")
    assert "installed tensorflow-serving-api" in api.source


def test_nothing_found_names_the_command(tmp_path, monkeypatch):
    for module in API_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # import fails, as without the package
    with pytest.raises(ApiMissing, match=f"python -m facecore.tfserving_api write.*{PATH_VARIABLE}"):
        load_api({}, packaged=tmp_path / "absent.binpb")


def test_local_backend_without_tensorflow_says_what_to_install(tmp_path):
    """The slim image has no TensorFlow: SERVING_BACKEND=local there fails with a sentence, not a traceback."""
    blocker = tmp_path / "block-tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    code = textwrap.dedent("""
        from service.app import create_backend
        from service.config import Config, ConfigError
        try:
            create_backend(Config(backend="local", model_base_path="/models"), metrics=None)
        except ConfigError as exc:
            print(exc)
    """)
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{REPO}"}
    child = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    assert "needs TensorFlow" in child.stdout and "faceid[service-local]" in child.stdout
