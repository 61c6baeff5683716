"""HTTP from the host to the running stack, standard library only (runs with any python3)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def multipart(fields: dict[str, str], files: dict[str, Path]) -> tuple[bytes, str]:
    """A multipart/form-data body of text `fields` and photo `files`; (body, content type)."""
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
             for name, value in fields.items()]
    for name, photo in files.items():
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{photo.name}\"\r\n"
                     "Content-Type: image/jpeg\r\n\r\n".encode() + photo.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30.0) -> tuple[int, dict]:
    """One HTTP request; (status, JSON body or {} when there is none). 0: no answer at all."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as exc:
        return exc.code, {"detail": exc.read().decode(errors="replace")[:500]}
    except (urllib.error.URLError, OSError) as exc:
        return 0, {"detail": f"{type(exc).__name__}: {exc}"}


def post_photo(url: str, photo: Path, timeout: float = 30.0, headers: dict | None = None,
               fields: dict | None = None) -> tuple[int, dict]:
    """POST `photo` as the multipart field `image` (with text `fields`); (HTTP status, JSON body)."""
    body, content_type = multipart(fields or {}, {"image": photo})
    return call("POST", url, body, {"Content-Type": content_type, **(headers or {})}, timeout)


def prometheus_query(base: str, query: str) -> list[dict]:
    """The instant vector of `query` from Prometheus' HTTP API."""
    answer = get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    if answer.get("status") != "success":
        raise RuntimeError(f"Prometheus query {query!r} failed: {answer}")
    return answer["data"]["result"]


def wait_until(what: str, check, timeout: float, interval: float = 1.0):
    """Call `check` until it returns a true value; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


@dataclass
class Answer:
    """One request of the load: when it ended, its status, the version and face label."""

    at: float
    status: int
    version: int | None
    label: str | None
    detail: str = ""


@dataclass
class Load:
    """`concurrency` clients posting photos in turn until stopped; every answer is kept."""

    url: str
    photos: list[Path]
    concurrency: int = 2
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.concurrency)]

    def start(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.answers

    def _client(self, offset: int) -> None:
        index = offset
        while not self._stop.is_set():
            status, body = post_photo(self.url, self.photos[index % len(self.photos)])
            faces = body.get("faces") or [{}]
            answer = Answer(time.time(), status, (body.get("model") or {}).get("version"), faces[0].get("label"),
                            "" if status == 200 else str(body.get("detail", body))[:300])
            with self._lock:
                self.answers.append(answer)
            index += self.concurrency
