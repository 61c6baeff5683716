"""TF Serving killed and started again under load (issue 21): gunicorn's workers find it again at once.

The measurement is benchmarks/restart_benchmark.py's own (4 clients posting photos to 2 workers, the
stand-in SIGKILLed in its own process and started again on the same port); times are the clients'.
"""

from __future__ import annotations

import sys

import pytest

from exported_models import copy_version
from processes import REPO, Gunicorn, StandInProcess

sys.path.insert(0, str(REPO / "benchmarks"))
from restart_benchmark import GOALS, restart_under_load  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.data]

DEADLINE_S = 5.0  # TFSERVING_TIMEOUT_S: what a call that waited on the model server would take
# Twice the goal (0.5 s) for the first 503 and for the calls while down: on a shared 2-core machine
# the work of a request before its Predict call (decoding, detection) and the scheduling of a
# worker's threads vary by that much. What these bounds catch is a call that waits for the model
# server (wait_for_ready, a pending connect): it takes the 5 s deadline and answers 504.
DOWN_BOUND_S = 2 * GOALS["first_503_after_kill_s"]


@pytest.fixture(scope="module")
def restart(tmp_path_factory, exported, photos) -> dict:
    """The benchmark's summary of one kill and restart (2 s down, plus the stand-in's start)."""
    root = tmp_path_factory.mktemp("restart")
    copy_version(exported["v1"], root / "models" / "faces", 1)
    with StandInProcess("faces", root / "models" / "faces", root / "standin.log") as standin:
        env = {"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": standin.address, "MODEL_NAME": "faces",
               "WEB_CONCURRENCY": "2", "TFSERVING_TIMEOUT_S": str(DEADLINE_S)}
        with Gunicorn(env, root / "gunicorn.log") as server:
            return restart_under_load(server.port, standin, [photos["one"], photos["three"]], clients=4,
                                      settle_s=2.0, down_s=2.0, after_s=4.0)


def test_every_request_succeeds_within_2_s_of_the_model_server_being_back(restart):
    before, after = restart["before_kill"], restart["after_back"]
    assert before["requests"] > 0 and before["failures"] == 0
    # The goal itself, on the clients' clock: no request fails that ends later than 2 s after the
    # port opened. gRPC's default backoff (attempts 1, 1.6, 2.6, ... s apart) failed it by seconds.
    assert after["failures"] == 0 or after["last_failure_after_back_s"] <= GOALS["last_failure_after_back_s"]
    assert after["statuses"].get("200", 0) >= 10  # the load ran on once it was back: nothing vacuous


def test_while_it_is_away_every_answer_is_a_503_with_retry_after(restart):
    down = restart["while_down"]
    assert down["requests"] > 0
    assert down["statuses"] == {"503": down["requests"]}  # no 504 (a call held to its deadline), no 500
    assert down["all_503_with_retry_after"] and int(down["retry_after"][0]) > 0
    assert set(restart["in_flight_at_kill"]["statuses"]) <= {"200", "503"}
    assert down["first_503_after_kill_s"] <= DOWN_BOUND_S
    calls = down["predict_calls"]  # the service's own timing of its Predict calls while TF Serving was away
    assert calls["count"] > 0 and calls["all_within_s"] <= DOWN_BOUND_S
