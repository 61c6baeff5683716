"""The HTTP API against a real exported model loaded in-process (local backend)."""

from __future__ import annotations

import base64
import io
import re
import zlib
from dataclasses import replace

import pytest
from PIL import Image

from exported_models import copy_version
from oddimages import exif_byte_set
from service.backend import Scores, ServedModel

pytestmark = pytest.mark.data


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"] == f"urn:faceid:problem:{slug}"
    assert body["title"] and body["detail"] and "Traceback" not in response.get_data(as_text=True)
    return body


def check_answer(body: dict, faces: int, label: str = "bob") -> None:
    assert body["model"] == {"name": "faces", "version": 1, "unknown_threshold": 0.5}
    assert len(body["faces"]) == faces
    for face in body["faces"]:
        assert list(face) == ["box", "label", "probability", "score", "threshold", "unknown", "top_k"]
        assert face["score"] == pytest.approx(face["probability"])  # a softmax model: score = top probability
        assert face["threshold"] == 0.5  # bob's own, here the pooled one (v1 has no per-person thresholds)
        assert face["label"] == label and face["unknown"] is False
        assert face["probability"] == pytest.approx(0.9526, abs=1e-3)
        assert face["top_k"][0] == {"label": label, "probability": face["probability"]}
    assert {"decode", "detect", "preprocess", "total"} <= set(body["timings_ms"])


def test_predict_multipart(client, photos):
    response = client.post("/v1/predict", data={"image": (io.BytesIO(photos["three"]), "p.jpg")})
    assert response.status_code == 200
    body = response.get_json()
    check_answer(body, 3)
    assert body["image"] == {"width": 500, "height": 375}
    areas = [f["box"]["width"] * f["box"]["height"] for f in body["faces"]]
    assert areas == sorted(areas, reverse=True)
    assert "infer" in body["timings_ms"]


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/octet-stream"])
def test_predict_raw_body(client, photos, content_type):
    response = client.post("/v1/predict", data=photos["one"], content_type=content_type)
    check_answer(response.get_json(), 1)


def test_predict_json_base64(client, photos):
    response = client.post("/v1/predict", json={"image": base64.b64encode(photos["one"]).decode(), "top_k": 2})
    body = response.get_json()
    check_answer(body, 1)
    assert len(body["faces"][0]["top_k"]) == 2


@pytest.mark.parametrize("fmt, content_type", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_predict_png_and_webp(client, photos, fmt, content_type):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photos["one"])).save(buffer, format=fmt, lossless=True)
    response = client.post("/v1/predict", data=buffer.getvalue(), content_type=content_type)
    check_answer(response.get_json(), 1)


def test_no_face_is_not_an_error(client, photos):
    response = client.post("/v1/predict", data=photos["none"], content_type="image/jpeg")
    assert response.status_code == 200
    body = response.get_json()
    assert body["faces"] == [] and body["model"]["version"] == 1


def test_options(client, photos):
    biggest = client.post("/v1/predict?max_faces=1&top_k=1", data=photos["three"], content_type="image/jpeg")
    faces = biggest.get_json()["faces"]
    assert len(faces) == 1 and len(faces[0]["top_k"]) == 1
    everything = client.post("/v1/predict", data=photos["three"], content_type="image/jpeg").get_json()["faces"]
    assert faces[0]["box"] == everything[0]["box"]
    assert len(everything[0]["top_k"]) == 3
    smallest_kept = min(f["box"]["width"] for f in everything) + 1
    fewer = client.post(f"/v1/predict?min_face_size={smallest_kept}", data=photos["three"],
                        content_type="image/jpeg").get_json()["faces"]
    assert len(fewer) == len(everything) - 1


def test_multipart_options(client, photos):
    response = client.post("/v1/predict", data={"image": (io.BytesIO(photos["three"]), "p.jpg"), "max_faces": "2"})
    assert len(response.get_json()["faces"]) == 2


def test_unknown_below_threshold(make_app, local_config, exported, tmp_path, photos):
    copy_version(exported["unknown"], tmp_path / "other" / "faces", 1)
    client = make_app(replace(local_config, model_base_path=tmp_path / "other")).test_client()
    face = client.post("/v1/predict", data=photos["one"], content_type="image/jpeg").get_json()["faces"][0]
    assert face["label"] == "unknown" and face["unknown"] is True
    assert face["top_k"][0]["label"] == "bob" and face["score"] == face["probability"] < 0.99


class RecordingBackend:
    """The app's own backend, keeping the scores of every prediction it answers."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.answered: list[Scores] = []

    def predict(self, faces, version=None, explain=False) -> Scores:
        scores = self._backend.predict(faces, version, explain)
        self.answered.append(scores)
        return scores

    def __getattr__(self, name):
        return getattr(self._backend, name)


@pytest.mark.parametrize("variant, pooled, own, unknown", [("v1", 0.5, 0.5, False), ("unknown", 0.9, 0.99, True)])
def test_each_face_has_the_threshold_that_decided_it(make_app, local_config, exported, tmp_path, photos,
                                                     variant, pooled, own, unknown):
    """Issue 19: a face's `threshold` is the one the backend compared its score with (bob's own),
    not the pooled `unknown_threshold`, which would have called the "unknown" variant's faces known."""
    copy_version(exported[variant], tmp_path / variant / "faces", 1)
    config = replace(local_config, model_base_path=tmp_path / variant)
    backend = RecordingBackend(make_app(config).extensions["faceid"].backend)
    body = make_app(config, backend).test_client().post("/v1/predict", data=photos["three"],
                                                        content_type="image/jpeg").get_json()
    [scores] = backend.answered
    faces = body["faces"]
    assert len(faces) == 3 and body["model"]["unknown_threshold"] == pooled
    assert [face["threshold"] for face in faces] == [float(t) for t in scores.threshold]
    assert [face["score"] for face in faces] == [float(s) for s in scores.score]
    for face in faces:
        assert face["threshold"] == pytest.approx(own) and face["unknown"] is unknown
        assert face["unknown"] == (face["score"] < face["threshold"])
        assert face["label"] == ("unknown" if unknown else "bob")


def test_models(client):
    body = client.get("/v1/models").get_json()
    model = body["models"][0]
    assert model["name"] == "faces" and model["version"] == 1
    assert model["class_names"] == ["alice", "bob", "carol"]
    assert model["input_size"] == 64 and model["input_shape"] == [64, 64, 1]
    assert model["unknown_threshold"] == 0.5 and model["exported_at"] == 1_700_000_000
    assert model["class_thresholds"] == {"alice": 0.5, "bob": 0.5, "carol": 0.5}  # none of its own: the pooled one


def test_health_and_ready(client):
    assert client.get("/healthz").get_json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["model"] == {"name": "faces", "version": 1, "classes": 3, "unknown_threshold": 0.5,
                                         "exported_at": 1_700_000_000}


def test_openapi_documents_every_route(app, client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    # Flask's <converter:name> is OpenAPI's {name}
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static"}
    assert routes == set(document["paths"])
    statuses = set(document["paths"]["/v1/predict"]["post"]["responses"])
    assert {"200", "400", "401", "413", "415", "422", "502", "503", "504"} <= statuses
    assert {"200", "401", "502", "503", "504"} <= set(document["paths"]["/v1/models"]["get"]["responses"])


def test_openapi_option_bounds_are_the_services(client):
    """The spec's bounds on every option, wherever it may be sent, are the ones the service checks."""
    from service.uploads import OPTION_RANGES

    predict = client.get("/openapi.json").get_json()["paths"]["/v1/predict"]["post"]
    places = [{p["name"]: p["schema"] for p in predict["parameters"]}]
    places += [predict["requestBody"]["content"][t]["schema"]["properties"]
               for t in ("multipart/form-data", "application/json")]
    for schemas in places:
        bounds = {name: (schemas[name]["minimum"], schemas[name]["maximum"]) for name in OPTION_RANGES}
        assert bounds == OPTION_RANGES


def test_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<canvas" in page.data
    assert client.get("/static/app.js").status_code == 200


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"\xff\xd8\xff\xe0trunc"])
def test_undecodable_image(client, data):
    response = client.post("/v1/predict", data=data, content_type="image/jpeg")
    assert_problem(response, 400, "undecodable-image")


def test_damaged_exif_is_a_400_not_a_500(client):
    """Pillow raises struct.error/TypeError for some damaged EXIF blocks: still the photo's fault."""
    response = client.post("/v1/predict", data=exif_byte_set(17, 86), content_type="image/jpeg")
    assert_problem(response, 400, "undecodable-image")
    assert "EXIF" in response.get_json()["detail"] or "error" in response.get_json()["detail"]


def test_truncated_jpeg(client, photos):
    response = client.post("/v1/predict", data=photos["one"][: len(photos["one"]) // 3], content_type="image/jpeg")
    assert_problem(response, 400, "undecodable-image")


@pytest.mark.parametrize("query", ["top_k=0", "top_k=x", "max_faces=101", "min_face_size=-1", "max_faces=1.5"])
def test_bad_options(client, photos, query):
    response = client.post(f"/v1/predict?{query}", data=photos["one"], content_type="image/jpeg")
    body = assert_problem(response, 400, "bad-option")
    assert query.split("=")[0] in body["detail"]


def test_bad_json_option_type(client, photos):
    response = client.post("/v1/predict", json={"image": base64.b64encode(photos["one"]).decode(), "top_k": True})
    assert_problem(response, 400, "bad-option")


@pytest.mark.parametrize("body", [{"image": "%%%not base64"}, {"picture": "abc"}, ["image"]])
def test_bad_json_bodies(client, body):
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_thin_photo_is_answered(client):
    """Issue #13: a 1 x 20000 JPEG was downscaled to width 0 for detection and answered 500."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 20_000), (120, 110, 100)).save(buffer, format="JPEG")
    response = client.post("/v1/predict", data=buffer.getvalue(), content_type="image/jpeg")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["image"] == {"width": 1, "height": 20_000}
    assert response.get_json()["faces"] == []


def test_several_image_parts_are_refused(client, photos):
    """Issue #13: two `image` parts were answered 200 from one of them, silently."""
    parts = {"image": [(io.BytesIO(photos["one"]), "a.jpg"), (io.BytesIO(photos["three"]), "b.jpg")]}
    body = assert_problem(client.post("/v1/predict", data=parts), 400, "several-images")
    assert "2 times" in body["detail"]


def test_a_bad_option_is_refused_even_where_another_source_wins(client, photos):
    """Found by the OpenAPI fuzzer: a bad form value hidden behind a good query value was accepted."""
    data = {"image": (io.BytesIO(photos["none"]), "p.jpg"), "min_face_size": "100001"}
    assert_problem(client.post("/v1/predict?min_face_size=0", data=data), 400, "bad-option")


def test_missing_multipart_field(client, photos):
    response = client.post("/v1/predict", data={"photo": (io.BytesIO(photos["one"]), "p.jpg")})
    assert_problem(response, 400, "missing-image")


def test_empty_body(client):
    assert_problem(client.post("/v1/predict", data=b"", content_type="image/jpeg"), 400, "missing-image")


def test_body_over_the_limit(make_app, local_config, photos):
    client = make_app(replace(local_config, max_upload_bytes=10_000)).test_client()
    response = client.post("/v1/predict", data=photos["one"], content_type="image/jpeg")
    assert_problem(response, 413, "body-too-large")


@pytest.mark.parametrize("side", [5_000, 20_000])  # over our limit; over Pillow's own bomb limit too
def test_pixel_limit_checked_before_decoding(make_app, local_config, side):
    # A side x side PNG header over a 1-pixel body: rejected from the header alone.
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = side.to_bytes(4, "big") * 2  # IHDR width, height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # the IHDR chunk's CRC
    client = make_app(replace(local_config, max_image_pixels=1_000_000)).test_client()
    body = assert_problem(client.post("/v1/predict", data=bytes(data), content_type="image/png"),
                          422, "image-too-large")
    assert "pixels" in body["detail"]


def test_unsupported_content_type(client, photos):
    response = client.post("/v1/predict", data=photos["one"], content_type="text/plain")
    assert_problem(response, 415, "unsupported-media-type")


def test_unsupported_image_format(client, photos):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photos["one"])).save(buffer, format="GIF")
    response = client.post("/v1/predict", data=buffer.getvalue(), content_type="application/octet-stream")
    assert_problem(response, 415, "unsupported-image-type")


def test_unknown_route_and_method(client):
    assert_problem(client.get("/v2/predict"), 404, "not-found")
    wrong_method = client.get("/v1/predict")
    assert_problem(wrong_method, 405, "method-not-allowed")
    assert "POST" in wrong_method.headers["Allow"]  # found by the OpenAPI fuzzer: RFC 9110 requires it


@pytest.fixture
def keyed_client(make_app, local_config):
    return make_app(replace(local_config, api_keys=("s3cret", "other-key"))).test_client()


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic czNjcmV0"}])
def test_api_key_missing_or_wrong(keyed_client, photos, headers):
    response = keyed_client.post("/v1/predict", data=photos["one"], content_type="image/jpeg", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert_problem(keyed_client.get("/v1/models", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("headers", [{"X-API-Key": "s3cret"}, {"Authorization": "Bearer other-key"}])
def test_api_key_accepted(keyed_client, photos, headers):
    response = keyed_client.post("/v1/predict", data=photos["one"], content_type="image/jpeg", headers=headers)
    assert response.status_code == 200


def test_probes_need_no_key(keyed_client):
    assert keyed_client.get("/healthz").status_code == 200
    assert keyed_client.get("/readyz").status_code == 200
    assert keyed_client.get("/metrics").status_code == 200


class BrokenBackend:
    """A backend whose every call fails unexpectedly."""

    def __init__(self, served: ServedModel) -> None:
        self.served = served

    def current(self):
        return self.served

    def check_ready(self):
        return self.served

    def predict(self, faces, version=None):
        raise RuntimeError("secret internal state")

    def close(self):
        pass


def test_unexpected_errors_are_problems_without_details(make_app, local_config, app, photos):
    served = app.extensions["faceid"].backend.current()
    client = make_app(local_config, BrokenBackend(served)).test_client()
    response = client.post("/v1/predict", data=photos["one"], content_type="image/jpeg")
    body = assert_problem(response, 500, "internal-error")
    assert "secret" not in response.get_data(as_text=True) and body["instance"] == "/v1/predict"
