"""Gunicorn settings: `gunicorn -c service/gunicorn.conf.py service.wsgi:app`.

The environment is read and checked here, in the master, so a bad variable stops the start
with a message naming it. The app (with its gRPC channel and model) is created in each worker
after the fork: no preload.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from service.config import Config, ConfigError

try:
    service_config = Config.from_env()  # not `config`: that name is a gunicorn setting
except ConfigError as exc:
    sys.exit(f"faceid service: configuration error: {exc}")

bind = f"[{service_config.host}]:{service_config.port}" if ":" in service_config.host \
    else f"{service_config.host}:{service_config.port}"
workers = service_config.web_concurrency
worker_class = "gthread"
threads = service_config.web_threads
preload_app = False  # gRPC channels and TensorFlow must not cross a fork
timeout = 60  # a worker silent this long is restarted (TensorFlow's import takes seconds)
graceful_timeout = 30
keepalive = 5
# No periodic worker recycling: with gthread workers, a worker leaving at max_requests resets
# connections it has accepted but not served (gunicorn#3038, open), which the e2e test saw as a
# failed request. Without TensorFlow a worker's memory stays flat (benchmarks/service_footprint.py).
max_requests = 0
worker_tmp_dir = "/dev/shm"  # heartbeat file off the (maybe slow or overlay) disk
accesslog = "-"
errorlog = "-"
logger_class = "service.accesslog.JsonAccessLogger"


def on_starting(server):
    """Give the workers an empty PROMETHEUS_MULTIPROC_DIR before any of them imports the client."""
    directory = service_config.prometheus_multiproc_dir
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="faceid-metrics-", dir=_shm_or_tmp()))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    server.log.info("prometheus multiprocess dir: %s", directory)
    # A drain file left by the last stop (k8s keeps /tmp, an emptyDir, across container
    # restarts) would keep this start unready for ever.
    service_config.drain_file.unlink(missing_ok=True)
    # Imported now, not first inside child_exit: that runs in the master's SIGCHLD handler, and a
    # second worker exiting during that first import re-entered it and found the module half
    # initialised (ImportError and a traceback on every stop, seen on the quick start).
    import service.metrics  # noqa: F401


def child_exit(server, worker):
    """A worker died: its live gauges (in-flight, model info) must stop counting."""
    from service.metrics import mark_process_dead

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    mark_process_dead(worker.pid, Path(directory) if directory else None)


def on_exit(server):
    """Remove the metrics directory this master made for itself."""
    if service_config.prometheus_multiproc_dir is None and "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _shm_or_tmp() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
