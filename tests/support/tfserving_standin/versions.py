"""The versions of one model: which folders are versions, which one serves, and their states.

Copies TF Serving's FileSystemStoragePathSource (which children of the base path are versions,
the 'latest 1' policy), its AspiredVersionsManager with the availability-preserving policy
(the new version is loaded before the old one is unloaded) and LoaderHarness's load retries.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
from tensorflow_serving.apis import get_model_status_pb2, status_pb2

from tfserving_standin.atoi import simple_atoi
from tfserving_standin.errors import ServingError

log = logging.getLogger("tfserving_standin")
State = get_model_status_pb2.ModelVersionStatus


def parse_version(name: str) -> int | None:
    """The version number a child of the base path names ("007" is 7), or None if it names none.

    ParseVersionNumber is absl::SimpleAtoi into an int64: wider than facecore.versions.parse_version
    (ASCII digits only, the names the project writes); the stand-in reads what TF Serving reads.
    """
    return simple_atoi(name)


def versions_in(children: list[str]) -> dict[int, str]:
    """Version -> child name; names that are not numbers are skipped silently (TF Serving's
    IndexChildrenByVersion)."""
    found: dict[int, str] = {}
    for child in sorted(children):  # TF Serving walks a std::set<string>: of duplicates, the later name wins
        version = parse_version(child)
        if version is None:
            continue
        if version in found:
            log.warning("Duplicate version directories detected. Version %d will be loaded from %s, "
                        "%s will be ignored.", version, child, found[version])
        found[version] = child
    return found


@dataclass(frozen=True)
class VersionStatus:
    """A version's state and, for a failed load, its error."""

    state: int
    error: ServingError | None = None

    def proto(self, version: int) -> State:
        """The ModelVersionStatus GetModelStatus answers (status always set, OK included)."""
        status = status_pb2.StatusProto()
        if self.error is not None:
            status.error_code = self.error.code_number
            status.error_message = self.error.message
        return State(version=version, state=self.state, status=status)


@dataclass(frozen=True)
class LoadRetries:
    """--max_num_load_retries and --load_retry_interval_micros (as seconds; negative: no wait).

    The default is none, for in-process tests; TF_SERVING_RETRIES is tensorflow_model_server's.
    """

    max_retries: int = 0
    interval_s: float = 0.0


TF_SERVING_RETRIES = LoadRetries(5, 60.0)  # server.h: max_num_load_retries = 5, load_retry_interval_micros = 1 min


@dataclass(frozen=True)
class FirstLoad:
    """How the first load the server tried ended: what start-up waits for."""

    version: int
    error: ServingError | None


class ModelVersions:
    """The versions of one model on disk and in memory (TF Serving's 'latest 1' policy).

    `load(path, version)` makes a servable or raises ServingError; it is the only part that
    touches TensorFlow, so this class can be tested with a fake.
    """

    def __init__(self, name: str, base: Path, load: Callable[[Path, int], object],
                 retries: LoadRetries = LoadRetries()) -> None:
        self.name = name
        self.base = Path(base)
        self.first_load: FirstLoad | None = None
        self.retries = retries
        self._load_version = load
        self._loaded: dict[int, object] = {}
        self._seen: dict[int, VersionStatus] = {}
        self._failed: set[int] = set()
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()

    def poll(self) -> None:
        """One poll of the base path: load the newest version, then unload the others."""
        with self._poll_lock:
            found = self._scan()
            if found is None:  # a missing base path is an error, not an empty aspired set: nothing changes
                return
            newest = max(found, default=None)
            # A failed version is not retried while it stays aspired; AspiredVersionsManager stops
            # managing it once the source no longer aspires it, so it may be tried again later.
            self._failed &= {newest}
            if newest is not None and newest not in self._loaded and newest not in self._failed:
                self._load(newest, self.base / found[newest])
            # Availability preserving: the old versions go only once the newest is AVAILABLE (or
            # when nothing is aspired any more: an emptied base path unloads every version).
            if newest is None or newest in self._loaded:
                self._unload_all_but(newest)

    def _scan(self) -> dict[int, str] | None:
        """Version -> child of the base path, or None (logged) when the base path cannot be read."""
        try:
            children = os.listdir(self.base)
        except OSError as exc:
            log.error("FileSystemStoragePathSource encountered a filesystem access error: Could not find "
                      "base path %s for servable %s with error %s", self.base, self.name, exc)
            return None
        found = versions_in(children)
        if not found:
            log.warning("No versions of servable %s found under base path %s. Did you forget to name "
                        "your leaf directory as a number (eg. '/1/')?", self.name, self.base)
        return found

    def _load(self, version: int, path: Path) -> None:
        self._set(version, VersionStatus(State.LOADING))  # LOADING through every retry
        try:
            servable = self._load_with_retries(version, path)
        except ServingError as exc:
            self._failed.add(version)
            self._set(version, VersionStatus(State.END, exc))
            self._note_first_load(version, exc)
            return
        with self._lock:
            self._loaded[version] = servable
            self._seen[version] = VersionStatus(State.AVAILABLE)
        log.info("Successfully loaded servable version {name: %s version: %d}", self.name, version)
        self._note_first_load(version, None)

    def _load_with_retries(self, version: int, path: Path):
        """LoaderHarness::Load through util/retrier.cc's Retry: a failed load is tried again up to
        max_num_load_retries times, interval apart, whatever the error; the last error stands.

        Polling waits meanwhile, as in TF Serving after start-up, where loads run inline in the
        manager's thread (num_load_threads 0): a newer version is not looked at until this ends.
        """
        description = f"Loading servable: {{name: {self.name} version: {version}}}"
        attempts = 1 + self.retries.max_retries % 2**32  # a uint32 in AspiredVersionsManager::Options
        for attempt in range(attempts):
            if attempt > 0:
                time.sleep(max(self.retries.interval_s, 0.0))
                log.info("Retrying of %s retry: %d", description, attempt)
            try:
                return self._load_version(path, version)
            except ServingError as exc:
                log.error("%s failed: %s", description, exc.status_string())
                error = exc
        if attempts > 1:
            log.info("Retrying of %s exhausted max_num_load_retries: %d", description, attempts - 1)
        raise error

    def _note_first_load(self, version: int, error: ServingError | None) -> None:
        if self.first_load is None:
            self.first_load = FirstLoad(version, error)

    def _unload_all_but(self, keep: int | None) -> None:
        with self._lock:
            for version in [v for v in self._loaded if v != keep]:
                del self._loaded[version]
                self._seen[version] = VersionStatus(State.END)
                log.info("Done unloading servable version {name: %s version: %d}", self.name, version)

    def _set(self, version: int, status: VersionStatus) -> None:
        with self._lock:
            self._seen[version] = status

    def find(self, spec):
        """The servable a ModelSpec asks for, or TF Serving's error."""
        if spec.name != self.name:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
        if spec.WhichOneof("version_choice") == "version_label":
            # ServerCore::GetModelVersionForLabel; this system configures no labels, so every label is unknown.
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Unrecognized servable version label: {spec.version_label}")
        with self._lock:
            loaded = dict(self._loaded)
        version = spec.version.value if spec.HasField("version") else max(loaded, default=None)
        if version not in loaded:
            which = f"Specific({spec.name}, {version})" if spec.HasField("version") else f"Latest({spec.name})"
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {which}")
        return loaded[version]

    def statuses(self, spec) -> list:
        """ModelVersionStatus of every version seen (or the one asked for), highest version first."""
        with self._lock:
            seen = dict(self._seen)
        if spec.name != self.name or not seen:  # GetModelStatusImpl: the monitor knows no version of it
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        if spec.HasField("version"):
            if spec.version.value not in seen:
                raise ServingError(grpc.StatusCode.NOT_FOUND,
                                   f"Could not find version {spec.version.value} of model {spec.name}")
            seen = {spec.version.value: seen[spec.version.value]}
        # ServableStateMonitor keeps versions in a map ordered by std::greater<int64>.
        return [seen[v].proto(v) for v in sorted(seen, reverse=True)]
