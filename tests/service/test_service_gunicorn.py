"""The real service under gunicorn (2 workers) against the TF Serving stand-in, over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

from exported_models import copy_version
from processes import Gunicorn, REPO, deployed_batching, free_port, http_status, wait_for
from tfserving_standin import StandIn

pytestmark = [pytest.mark.slow, pytest.mark.data]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, exported):
    """Stand-in serving faces/1, and gunicorn with 2 workers talking to it."""
    root = tmp_path_factory.mktemp("stack")
    copy_version(exported["v1"], root / "models" / "faces", 1)
    standin = StandIn("faces", root / "models" / "faces", poll_s=0.1, batching=deployed_batching()).start()
    env = {"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": standin.address, "MODEL_NAME": "faces",
           "WEB_CONCURRENCY": "2", "TFSERVING_TIMEOUT_S": "2", "MAX_UPLOAD_BYTES": "1000000",
           "PROMETHEUS_MULTIPROC_DIR": str(root / "metrics")}
    server = Gunicorn(env, root / "gunicorn.log").start()
    yield {"url": server.url, "server": server, "standin": standin, "root": root}
    server.stop()
    standin.stop()


def post_photo(url: str, photo: bytes, **kwargs) -> requests.Response:
    return requests.post(url + "/v1/predict", data=photo, headers={"Content-Type": "image/jpeg"}, timeout=30, **kwargs)


def scrape(url: str) -> dict[str, float]:
    """Unlabelled-or-labelled sample line -> value, from /metrics."""
    samples = {}
    for line in requests.get(url + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples




def test_predicts_and_counts_across_workers(stack, photos):
    url = stack["url"]
    before = scrape(url).get('faceid_http_requests_total{route="/v1/predict",status="200"}', 0.0)
    for _ in range(8):
        response = post_photo(url, photos["three"])
        assert response.status_code == 200
        assert response.json()["model"] == {"name": "faces", "version": 1, "unknown_threshold": 0.5}
        assert len(response.json()["faces"]) == 3
    multipart = requests.post(url + "/v1/predict", files={"image": ("p.jpg", photos["one"], "image/jpeg")}, timeout=30)
    assert multipart.status_code == 200 and len(multipart.json()["faces"]) == 1
    samples = scrape(url)
    assert samples['faceid_http_requests_total{route="/v1/predict",status="200"}'] == before + 9
    assert samples['faceid_predictions_total{outcome="known"}'] >= 25
    assert samples['faceid_model_info{name="faces",version="1"}'] == 1
    assert samples["faceid_model_published_timestamp_seconds"] == 1_700_000_000
    assert samples["faceid_http_requests_in_flight"] == 1  # the scrape itself


def test_errors_under_gunicorn(stack, photos):
    url = stack["url"]
    big = post_photo(url, b"\xff" * 2_000_000)
    assert big.status_code == 413 and big.headers["Content-Type"] == "application/problem+json"
    bad = post_photo(url, b"junk")
    assert bad.status_code == 400 and bad.json()["type"].endswith("undecodable-image")
    assert requests.get(url + "/healthz", timeout=5).json() == {"status": "alive"}


def test_access_log_is_json(stack):
    started = time.perf_counter()
    requests.get(stack["url"] + "/healthz", timeout=5)
    round_trip_ms = (time.perf_counter() - started) * 1000.0
    lines = [line for line in stack["server"].log_path.read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    health = [e for e in entries if e["path"] == "/healthz"]
    assert health and health[-1]["status"] == 200
    assert 0 < health[-1]["duration_ms"] <= round_trip_ms  # the server's own time, inside the client's
    assert health[-1]["pid"] in stack["server"].worker_pids()


def test_real_prometheus_scrapes_the_service(stack, tmp_path, photos):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Prometheus is not installed: apt-get install -y --no-install-recommends prometheus")
    for _ in range(3):
        post_photo(stack["url"], photos["one"])
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: faceid\n    static_configs: [{{targets: ['127.0.0.1:{stack['server'].port}']}}]\n"
    )
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}"]
    with open(tmp_path / "prometheus.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        query = f"http://127.0.0.1:{port}/api/v1/query"
        wait_for(lambda: http_status(f"http://127.0.0.1:{port}/-/ready") == 200)
        expression = 'sum(faceid_http_requests_total{route="/v1/predict",status="200"})'
        result = wait_for(lambda: requests.get(query, params={"query": expression}, timeout=5).json()["data"]["result"])
        assert float(result[0]["value"][1]) >= 3
        up = requests.get(query, params={"query": 'up{job="faceid"}'}, timeout=5).json()["data"]["result"]
        assert up[0]["value"][1] == "1"
    finally:
        process.terminate()
        process.wait(10)


def test_version_published_during_the_test_is_picked_up(stack, exported, photos):
    url = stack["url"]
    copy_version(exported["v2"], stack["root"] / "models" / "faces", 2)
    # Each worker notices on its own, from the version TF Serving answers with: ask until both have.
    wait_for(lambda: all(post_photo(url, photos["one"]).json()["model"]["version"] == 2 for _ in range(6)))
    body = post_photo(url, photos["one"]).json()
    assert body["faces"][0]["label"] == "dave"
    assert requests.get(url + "/v1/models", timeout=10).json()["models"][0]["version"] == 2
    samples = scrape(url)
    assert samples['faceid_model_info{name="faces",version="2"}'] == 1
    assert samples["faceid_model_published_timestamp_seconds"] == 1_700_000_100


def test_model_server_down_then_back(stack, photos):
    url, standin = stack["url"], stack["standin"]
    standin.stop()
    try:
        response = post_photo(url, photos["one"])
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert requests.get(url + "/readyz", timeout=10).status_code == 503
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
        assert scrape(url)['faceid_model_server_errors_total{code="UNAVAILABLE"}'] >= 1
    finally:
        standin.start()
    wait_for(lambda: post_photo(url, photos["one"]).status_code == 200)


def test_dead_worker_keeps_its_counts_and_is_replaced(stack, photos):
    url, server = stack["url"], stack["server"]
    before = scrape(url)['faceid_http_requests_total{route="/v1/predict",status="200"}']
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2)
    wait_for(lambda: http_status(url + "/readyz") == 200, timeout=60)
    assert scrape(url)['faceid_http_requests_total{route="/v1/predict",status="200"}'] >= before
    assert scrape(url)["faceid_http_requests_in_flight"] == 1


def test_local_backend_under_gunicorn(tmp_path, exported, photos):
    copy_version(exported["v1"], tmp_path / "models" / "faces", 1)
    env = {"SERVING_BACKEND": "local", "MODEL_BASE_PATH": str(tmp_path / "models"), "WEB_CONCURRENCY": "2",
           "MODEL_POLL_S": "0.2", "LISTEN_HOST": "127.0.0.1"}  # as scripts/quickstart.sh
    with Gunicorn(env, tmp_path / "gunicorn.log") as server:
        assert post_photo(server.url, photos["one"]).json()["model"]["version"] == 1
        copy_version(exported["v2"], tmp_path / "models" / "faces", 2)
        wait_for(lambda: post_photo(server.url, photos["one"]).json()["model"]["version"] == 2)
        assert scrape(server.url)['faceid_http_requests_total{route="/v1/predict",status="200"}'] >= 2
    assert f"Listening at: http://127.0.0.1:{server.port}" in (tmp_path / "gunicorn.log").read_text()
    # SIGTERM with two workers exiting at once: a clean stop, no traceback from child_exit.
    assert server.process.returncode == 0
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()


def test_bad_environment_stops_the_start_naming_the_variable():
    env = {**os.environ, "SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": "nowhere"}
    command = [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py", "service.wsgi:app"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "TFSERVING_ADDRESS must look like host:port" in result.stderr
