"""The service's settings: one frozen object read once from the environment and checked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from facecore.images import DEFAULT_MAX_PIXELS

BACKENDS = ("local", "tfserving")
# gRPC name-resolver schemes TFSERVING_ADDRESS may use (gRPC's doc/naming.md).
TARGET_SCHEMES = ("dns", "ipv4", "ipv6")
SWITCH_VALUES = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Config:
    """Everything the service can be told; see docs/service.md for each variable."""

    model_name: str = "faces"
    model_base_path: Path | None = None
    backend: str = "local"
    tfserving_address: str | None = None
    tfserving_timeout_s: float = 5.0
    model_version: int | None = None
    model_poll_s: float = 2.0
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    detect_max_side: int | None = None
    api_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    enrolment: bool = False
    data_dir: Path | None = None
    web_concurrency: int = 2
    web_threads: int = 2
    host: str = "0.0.0.0"  # every interface: in a container, the only way to be reached
    port: int = 8000
    prometheus_multiproc_dir: Path | None = None
    # Present: the service is stopping (k8s preStop writes it) and /readyz answers 503 while
    # requests are still served, so that load balancers stop sending before SIGTERM arrives.
    drain_file: Path = Path("/tmp/faceid-draining")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"SERVING_BACKEND must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "local" and self.model_base_path is None:
            raise ConfigError("MODEL_BASE_PATH is required when SERVING_BACKEND=local")
        if self.backend == "tfserving" and not self.tfserving_address:
            raise ConfigError("TFSERVING_ADDRESS (host:port or dns:///host:port) is required when "
                              "SERVING_BACKEND=tfserving")
        if not self.model_name or "/" in self.model_name:
            raise ConfigError(f"MODEL_NAME must be a plain name, got {self.model_name!r}")
        if self.enrolment and not self.admin_keys:
            raise ConfigError("ENROLMENT=on needs ADMIN_KEYS: only an admin key may add or remove people")
        if self.enrolment and self.data_dir is None:
            raise ConfigError("ENROLMENT=on needs DATA_DIR, the data folder that photos are kept in")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Config":
        """Read and validate every setting; raise ConfigError naming the first bad variable."""
        env = _Reader(environ)
        if env.text("MODEL_VERSION_LABEL", None):
            # Removed: a label needs version_labels in TF Serving's model config, which this
            # deployment does not write; silently serving the latest version would be worse.
            raise ConfigError("MODEL_VERSION_LABEL is not supported; pin a version with MODEL_VERSION")
        return cls(
            model_name=env.text("MODEL_NAME", cls.model_name),
            model_base_path=env.path("MODEL_BASE_PATH"),
            backend=env.text("SERVING_BACKEND", cls.backend),
            tfserving_address=env.address("TFSERVING_ADDRESS"),
            tfserving_timeout_s=env.number("TFSERVING_TIMEOUT_S", cls.tfserving_timeout_s, float, 0.001),
            model_version=env.optional_int("MODEL_VERSION", 1),
            model_poll_s=env.number("MODEL_POLL_S", cls.model_poll_s, float, 0.0),
            max_upload_bytes=env.number("MAX_UPLOAD_BYTES", cls.max_upload_bytes, int, 1),
            max_image_pixels=env.number("MAX_IMAGE_PIXELS", cls.max_image_pixels, int, 1),
            detect_max_side=env.optional_int("DETECT_MAX_SIDE", 0),
            api_keys=env.keys("API_KEYS"),
            admin_keys=env.keys("ADMIN_KEYS"),
            enrolment=env.switch("ENROLMENT", cls.enrolment),
            data_dir=env.path("DATA_DIR"),
            web_concurrency=env.number("WEB_CONCURRENCY", cls.web_concurrency, int, 1),
            web_threads=env.number("WEB_THREADS", cls.web_threads, int, 1),
            host=env.host("LISTEN_HOST", cls.host),
            port=env.number("PORT", cls.port, int, 1, 65535),
            prometheus_multiproc_dir=env.path("PROMETHEUS_MULTIPROC_DIR"),
            drain_file=env.path("DRAIN_FILE") or cls.drain_file,
        )


class _Reader:
    """Typed access to environment variables; empty values count as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str | None) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or default

    def path(self, name: str) -> Path | None:
        value = self.text(name, None)
        return Path(value) if value else None

    def number(self, name: str, default, kind=int, minimum=None, maximum=None):
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError(f"{name} must be in [{minimum}, {maximum if maximum is not None else '∞'}], got {raw}")
        return value

    def optional_int(self, name: str, minimum: int) -> int | None:
        return self.number(name, None, int, minimum)

    def address(self, name: str) -> str | None:
        """host:port, or a gRPC target naming several servers: dns:///host:port (every address
        the name resolves to, e.g. a headless Service) or ipv4:host:port,host:port."""
        value = self.text(name, None)
        if value is None:
            return None
        scheme, sep, rest = value.partition(":")
        if sep and scheme in TARGET_SCHEMES:
            addresses = rest.removeprefix("//").lstrip("/").split(",")
        else:
            addresses = [value]
        for address in addresses:
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError(f"{name} must look like host:port, dns:///host:port or "
                                  f"ipv4:host:port,host:port, got {value!r}")
        return value

    def switch(self, name: str, default: bool) -> bool:
        raw = self.text(name, None)
        if raw is None:
            return default
        if raw.lower() not in SWITCH_VALUES:
            raise ConfigError(f"{name} must be on or off, got {raw!r}")
        return SWITCH_VALUES[raw.lower()]

    def host(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if any(c.isspace() for c in value) or "/" in value or value.count(":") == 1:
            raise ConfigError(f"{name} must be an address to listen on (e.g. 127.0.0.1 or 0.0.0.0), got {value!r}")
        return value

    def keys(self, name: str) -> tuple[str, ...]:
        return tuple(key.strip() for key in self.text(name, "").split(",") if key.strip())
