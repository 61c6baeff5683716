"""Running the service under gunicorn (and other servers) as real processes, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent  # tests/support: on pytest's pythonpath, and the stand-in's
# The TF Serving configs compose and k8s both deploy (one copy: kustomize reads files only below k8s/base).
TFSERVING_CONFIGS = REPO / "k8s" / "base" / "tfserving"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` different free ports (all bound at once, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1):
    """Call `condition` until it returns something true (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def http_status(url: str, timeout: float = 5.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


class Gunicorn:
    """`gunicorn -c service/gunicorn.conf.py service.wsgi:app` with the given environment."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        if "PROMETHEUS_MULTIPROC_DIR" not in env:  # gunicorn.conf.py then makes a fresh one
            self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 120.0) -> "Gunicorn":
        command = [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py", "service.wsgi:app"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until /readyz answers 200 (every worker has booted once the master accepts, so also poll a bit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            if http_status(self.url + "/readyz") == 200:
                return
            time.sleep(0.25)
        raise RuntimeError(f"gunicorn not ready after {timeout} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def deployed_batching():
    """TF Serving's batching rules as k8s/base/tfserving/batching.config sets them (compose and k8s
    run TF Serving with --enable_batching=true), for in-process stand-ins."""
    from tfserving_standin.batching import Batching
    from tfserving_standin.configs import BATCHING_PARAMETERS, read_config

    config = TFSERVING_CONFIGS / "batching.config"
    return Batching.from_parameters(read_config(config, BATCHING_PARAMETERS))


def poll_flag(poll_s: float) -> str:
    """The stand-in's poll flag for `poll_s`: TF Serving's --file_system_poll_wait_seconds takes
    whole seconds only, so a shorter or fractional interval goes in the stand-in-only --standin_poll_ms."""
    if poll_s == int(poll_s) and poll_s >= 1:
        return f"--file_system_poll_wait_seconds={int(poll_s)}"
    return f"--standin_poll_ms={round(poll_s * 1000)}"


class StandInProcess:
    """`python -m tfserving_standin` in its own process, with TF Serving's flags and this project's
    batching and monitoring configs, as TF Serving would run beside the service."""

    def __init__(self, model_name: str, base: Path, log_path: Path, poll_s: float = 0.2) -> None:
        self.port, self.rest_port = free_port(), free_port()
        tfserving = TFSERVING_CONFIGS
        self.command = [sys.executable, "-m", "tfserving_standin", f"--port={self.port}",
                        f"--rest_api_port={self.rest_port}", f"--model_name={model_name}",
                        f"--model_base_path={base}", poll_flag(poll_s),
                        f"--monitoring_config_file={tfserving / 'monitoring.config'}", "--enable_batching=true",
                        f"--batching_parameters_file={tfserving / 'batching.config'}"]
        support = str(SUPPORT)
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [support, os.environ.get("PYTHONPATH")]))}
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def start(self, timeout: float = 300.0) -> "StandInProcess":
        """Start it and wait for its gRPC port: like TF Serving, it opens only once a version is
        AVAILABLE, so this also waits for the first version to be published."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stand-in exited with {self.process.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')[-3000:]}")
            if self.port_open():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"stand-in port {self.port} not open after {timeout} s")

    def port_open(self) -> bool:
        """Whether the gRPC port accepts connections."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def __enter__(self) -> "StandInProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
