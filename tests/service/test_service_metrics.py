"""Metric values after requests, read from the app's registry."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.data


def test_request_and_prediction_metrics(app, client, photos, metric):
    client.post("/v1/predict", data=photos["three"], content_type="image/jpeg")
    client.post("/v1/predict", data=photos["none"], content_type="image/jpeg")
    client.post("/v1/predict", data=b"junk", content_type="image/jpeg")
    client.get("/nowhere")
    assert metric(app, "faceid_http_requests_total", {"route": "/v1/predict", "status": "200"}) == 2
    assert metric(app, "faceid_http_requests_total", {"route": "/v1/predict", "status": "400"}) == 1
    assert metric(app, "faceid_http_requests_total", {"route": "unmatched", "status": "404"}) == 1
    assert metric(app, "faceid_http_request_duration_seconds_count", {"route": "/v1/predict"}) == 3
    assert metric(app, "faceid_predictions_total", {"outcome": "known"}) == 3
    assert metric(app, "faceid_faces_per_request_count") == 2
    assert metric(app, "faceid_faces_per_request_sum") == 3
    assert metric(app, "faceid_faces_per_request_bucket", {"le": "0.0"}) == 1
    assert metric(app, "faceid_stage_duration_seconds_count", {"stage": "decode"}) == 3
    assert metric(app, "faceid_stage_duration_seconds_count", {"stage": "detect"}) == 2
    assert metric(app, "faceid_stage_duration_seconds_count", {"stage": "preprocess"}) == 2
    assert metric(app, "faceid_stage_duration_seconds_count", {"stage": "infer"}) == 1
    assert metric(app, "faceid_http_requests_in_flight") == 0


def test_unknown_predictions_are_counted_as_unknown(make_app, local_config, exported, tmp_path, photos, metric):
    from dataclasses import replace

    from exported_models import copy_version

    copy_version(exported["unknown"], tmp_path / "u" / "faces", 1)
    app = make_app(replace(local_config, model_base_path=tmp_path / "u"))
    app.test_client().post("/v1/predict", data=photos["one"], content_type="image/jpeg")
    assert metric(app, "faceid_predictions_total", {"outcome": "unknown"}) == 1
    assert metric(app, "faceid_predictions_total", {"outcome": "known"}) == 0


def test_no_person_name_reaches_the_metrics(client, photos):
    """Faces are counted by outcome only: no series per person (unbounded with enrolment) and
    no name in the monitoring system."""
    client.post("/v1/predict", data=photos["three"], content_type="image/jpeg")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'faceid_predictions_total{outcome="known"} 3.0' in text
    assert "bob" not in text


def test_model_gauges(app, client, metric):
    client.get("/readyz")
    assert metric(app, "faceid_model_info", {"name": "faces", "version": "1"}) == 1
    assert metric(app, "faceid_model_published_timestamp_seconds") == 1_700_000_000


def test_exposition_names(client, photos):
    client.post("/v1/predict", data=photos["one"], content_type="image/jpeg")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for name in ("faceid_http_requests_total", "faceid_http_request_duration_seconds_bucket",
                 "faceid_stage_duration_seconds_bucket", "faceid_faces_per_request_bucket",
                 "faceid_predictions_total", "faceid_http_requests_in_flight", "faceid_model_info",
                 "faceid_model_published_timestamp_seconds"):
        assert f"\n{name}" in text, name
