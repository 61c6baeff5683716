"""Config.from_env: defaults, parsing, and start-up errors that name the variable."""

from pathlib import Path

import pytest

from service.config import Config, ConfigError


def test_defaults_for_local():
    config = Config.from_env({"MODEL_BASE_PATH": "/models"})
    assert config.backend == "local"
    assert config.model_name == "faces"
    assert config.model_base_path == Path("/models")
    assert config.max_upload_bytes == 10 * 1024 * 1024
    assert config.port == 8000 and config.api_keys == ()


def test_tfserving_settings():
    config = Config.from_env({
        "SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": "tfserving:8500", "TFSERVING_TIMEOUT_S": "1.5",
        "MODEL_VERSION": "3", "API_KEYS": " a, b ,,", "WEB_CONCURRENCY": "4", "DETECT_MAX_SIDE": "320",
    })
    assert config.tfserving_address == "tfserving:8500"
    assert config.tfserving_timeout_s == 1.5
    assert config.model_version == 3
    assert config.api_keys == ("a", "b")
    assert config.web_concurrency == 4 and config.detect_max_side == 320


@pytest.mark.parametrize("target", [
    "dns:///tfserving-pods:8500", "dns:tfserving:8500", "ipv4:10.0.0.1:8500,10.0.0.2:8500", "ipv6:[::1]:8500",
])
def test_tfserving_address_may_name_several_servers(target):
    """gRPC targets whose every address the channel balances over (service/tfserving.py)."""
    env = {"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": target}
    assert Config.from_env(env).tfserving_address == target


@pytest.mark.parametrize("env, variable", [
    ({"SERVING_BACKEND": "torch", "MODEL_BASE_PATH": "/m"}, "SERVING_BACKEND"),
    ({}, "MODEL_BASE_PATH"),
    ({"SERVING_BACKEND": "tfserving"}, "TFSERVING_ADDRESS"),
    ({"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": "no-port"}, "TFSERVING_ADDRESS"),
    ({"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": "dns:///tfserving"}, "TFSERVING_ADDRESS"),
    ({"SERVING_BACKEND": "tfserving", "TFSERVING_ADDRESS": "ipv4:10.0.0.1:8500,10.0.0.2"}, "TFSERVING_ADDRESS"),
    ({"MODEL_BASE_PATH": "/m", "PORT": "eighty"}, "PORT"),
    ({"MODEL_BASE_PATH": "/m", "PORT": "70000"}, "PORT"),
    ({"MODEL_BASE_PATH": "/m", "MAX_UPLOAD_BYTES": "0"}, "MAX_UPLOAD_BYTES"),
    ({"MODEL_BASE_PATH": "/m", "TFSERVING_TIMEOUT_S": "soon"}, "TFSERVING_TIMEOUT_S"),
    ({"MODEL_BASE_PATH": "/m", "WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
    ({"MODEL_BASE_PATH": "/m", "MODEL_VERSION": "0"}, "MODEL_VERSION"),
    ({"MODEL_BASE_PATH": "/m", "MODEL_VERSION_LABEL": "stable"}, "MODEL_VERSION_LABEL"),
    ({"MODEL_BASE_PATH": "/m", "MODEL_NAME": "a/b"}, "MODEL_NAME"),
    ({"MODEL_BASE_PATH": "/m", "LISTEN_HOST": "127.0.0.1:8000"}, "LISTEN_HOST"),
    ({"MODEL_BASE_PATH": "/m", "LISTEN_HOST": "http://x"}, "LISTEN_HOST"),
])
def test_bad_settings_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(env)


def test_listen_host_defaults_to_every_interface():
    assert Config.from_env({"MODEL_BASE_PATH": "/m"}).host == "0.0.0.0"  # in a container, the only way in
    assert Config.from_env({"MODEL_BASE_PATH": "/m", "LISTEN_HOST": "127.0.0.1"}).host == "127.0.0.1"
    assert Config.from_env({"MODEL_BASE_PATH": "/m", "LISTEN_HOST": "::1"}).host == "::1"


def test_config_is_frozen():
    config = Config.from_env({"MODEL_BASE_PATH": "/m"})
    with pytest.raises(AttributeError):
        config.port = 1


def test_gunicorn_config_leaves_prometheus_client_unimported(tmp_path):
    """Workers fork from the master: it must not import prometheus_client before the multiprocess dir is set."""
    import subprocess
    import sys

    code = ("import runpy, sys; settings = runpy.run_path('service/gunicorn.conf.py'); "
            "assert 'prometheus_client' not in sys.modules, 'imported too early'; "
            "print(settings['workers'], settings['max_requests'], settings['worker_tmp_dir'])")
    env = {"MODEL_BASE_PATH": str(tmp_path), "WEB_CONCURRENCY": "3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "0", "/dev/shm"]
