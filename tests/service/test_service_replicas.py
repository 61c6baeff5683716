"""Several TF Serving replicas behind one TFSERVING_ADDRESS (issue 21): calls spread over them, a
replica that stops fails no request, one added later gets its share, none at all fails fast.

In-process stand-ins on their own ports, named together as gRPC's static `ipv4:` target (on a
cluster: dns:///<headless Service>, k8s/base/tfserving.yaml); the channel's rules are
service/tfserving.py's SERVICE_CONFIG.
"""

from __future__ import annotations

import threading
import time

import pytest

from processes import deployed_batching, free_ports, wait_for

MODEL_NAME = "faces"


def predict_calls(standin) -> int:
    """Predict calls a stand-in answered (its own request_count, as TF Serving counts them)."""
    return standin.metrics.requests("OK")


@pytest.fixture
def replicas(models_root):
    """start(k): k stand-ins over the same model, each on its own port (stopped at the end)."""
    from tfserving_standin import StandIn

    started = []

    def start(count: int, delay_s: float = 0.0) -> list:
        for _ in range(count):
            server = StandIn(MODEL_NAME, models_root / MODEL_NAME, poll_s=0.05, delay_s=delay_s,
                             batching=deployed_batching())
            started.append(server)
        return started[-count:]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def replica_app(make_app):
    """An app whose TFSERVING_ADDRESS names every port given, as one gRPC target."""
    from service.config import Config

    def build(ports: list[int]):
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
        return make_app(Config(model_name=MODEL_NAME, backend="tfserving", tfserving_address=target,
                               tfserving_timeout_s=5.0))

    return build


def post(client, photo: bytes) -> int:
    return client.post("/v1/predict", data=photo, content_type="image/jpeg").status_code


def test_predict_calls_spread_evenly_over_two_model_servers(replicas, replica_app, photos):
    servers = [server.start() for server in replicas(2)]
    client = replica_app([server.port for server in servers]).test_client()
    wait_for(lambda: post(client, photos["one"]) == 200)
    before = [predict_calls(server) for server in servers]
    statuses = [post(client, photos["one"]) for _ in range(40)]
    shares = [(predict_calls(server) - b) / 40 for server, b in zip(servers, before)]
    assert statuses == [200] * 40
    assert all(0.4 <= share <= 0.6 for share in shares), shares  # round_robin: every other call
    assert sum(shares) == pytest.approx(1.0)


def test_a_model_server_stopped_under_load_fails_no_request(replicas, replica_app, photos):
    # Each Predict takes 0.1 s, so calls are in flight on the replica when it stops (its
    # connection closes under them, as when tensorflow_model_server dies): they are tried again
    # on the other replica.
    servers = [server.start() for server in replicas(2, delay_s=0.1)]
    client = replica_app([server.port for server in servers]).test_client()
    wait_for(lambda: post(client, photos["one"]) == 200)
    statuses, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            statuses.append(post(client, photos["one"]))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    servers[0].stop()
    stopped_at = len(statuses)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(statuses) - stopped_at >= 5  # the load went on after the stop: nothing vacuous
    assert set(statuses) == {200}, {status: statuses.count(status) for status in set(statuses)}


def test_a_model_server_that_starts_later_gets_its_share(replicas, replica_app, photos):
    first, later = replicas(2)
    port = free_ports(1)[0]
    client = replica_app([first.start().port, port]).test_client()
    wait_for(lambda: post(client, photos["one"]) == 200)
    assert predict_calls(later) == 0
    later.start(port=port)
    # The channel tries the address again at most 0.5 s apart (CHANNEL_OPTIONS' backoff).
    wait_for(lambda: post(client, photos["one"]) == 200 and predict_calls(later) > 0, timeout=10)
    before = predict_calls(later)
    statuses = [post(client, photos["one"]) for _ in range(20)]
    assert statuses == [200] * 20
    assert 8 <= predict_calls(later) - before <= 12


def test_with_no_model_server_reachable_requests_fail_before_any_work(replicas, replica_app, photos):
    servers = [server.start() for server in replicas(2)]
    app = replica_app([server.port for server in servers])
    client = app.test_client()
    wait_for(lambda: post(client, photos["one"]) == 200)
    for server in servers:
        server.stop()
    # Bytes that are no image: while the model server is away the answer is the 503, before
    # decoding (a 400 would mean the photo was decoded first, and detection would have followed).
    response = wait_for(lambda: (r := client.post("/v1/predict", data=b"not an image",
                                                  content_type="image/jpeg")).status_code == 503 and r)
    assert response.headers["Retry-After"]
    assert "no connection" in response.get_json()["detail"]
    started = time.perf_counter()
    assert post(client, photos["one"]) == 503
    assert time.perf_counter() - started < 0.5  # no decoding, no detection, no call
