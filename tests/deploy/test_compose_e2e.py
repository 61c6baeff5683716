"""`docker compose up` for real: scripts/e2e-compose.sh builds the images and runs the user's flow.

Needs root and a Docker engine it can start (it installs Debian's docker.io when missing); a
machine where dockerd cannot start fails this test with the script's message, never skips it.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from processes import REPO

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.data]


def test_compose_flow_end_to_end(tmp_path):
    results = tmp_path / "e2e.json"
    env = {**os.environ, "E2E_LOG_DIR": str(tmp_path / "logs")}
    done = subprocess.run(["bash", str(REPO / "scripts" / "e2e-compose.sh"), "--results", str(results)],
                          env=env, capture_output=True, text=True, timeout=80 * 60)
    assert done.returncode == 0, (f"e2e failed (container logs in {tmp_path / 'logs'}):\n"
                                  f"{done.stderr[-6000:]}\n{done.stdout[-3000:]}")
    figures = json.loads(results.read_text())
    assert figures["load"]["failed"] == 0 and figures["load"]["requests"] > 0
    assert figures["load"]["new_version_after_publish_s"] <= 15
    assert figures["prometheus"]["predict_requests_counted"] == figures["requests_sent"]
    assert figures["scheduled_run"]["outcome"] in ("published", "refused")
    assert figures["restart"]["version"] >= 2
    fault = figures["model_server_restart"]  # `docker compose restart tfserving` under load
    assert fault["failed_otherwise"] == 0 and fault["answered_503"] > 0 and fault["succeeded_after_back"] > 0
    assert fault["last_failure_after_back_s"] is None or fault["last_failure_after_back_s"] <= 2.0
