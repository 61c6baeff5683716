"""TF Serving's gRPC API without TensorFlow: message classes and calls built from saved descriptors.

tensorflow-serving-api's generated modules import all of TensorFlow. The service (its client)
and the trainer (its warm-up requests) need only the message definitions, so an install step
run where that package is installed saves them, as a FileDescriptorSet, with
`python -m facecore.tfserving_api write [PATH]`; `serving_api()` builds the classes from that
file in a private descriptor pool (never clashing with TensorFlow's own).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from facecore.tensors import fill_tensor

log = logging.getLogger(__name__)

DISTRIBUTION = "tensorflow-serving-api"
API_MODULES = ("tensorflow_serving.apis.prediction_service_pb2", "tensorflow_serving.apis.model_service_pb2",
               "tensorflow_serving.apis.prediction_log_pb2")
PATH_VARIABLE = "TFSERVING_API_DESCRIPTORS"
PACKAGED = Path(__file__).with_name("tfserving_api.binpb")  # where `write` puts it by default
WRITE_COMMAND = "python -m facecore.tfserving_api write"


class ApiMissing(RuntimeError):
    """TF Serving's API descriptors are neither saved nor installed."""


@dataclass(frozen=True)
class ServingApi:
    """TF Serving's messages, enums and RPCs, from one private descriptor pool."""

    pool: descriptor_pool.DescriptorPool
    classes: Mapping[str, type]  # full name (e.g. "tensorflow.serving.PredictRequest") -> class
    source: str  # where the descriptors came from, for logs

    def message(self, full_name: str) -> type:
        return self.classes[full_name]

    def predict_request(self, model_spec, inputs: Mapping[str, object], output_filter=()):
        """A PredictRequest for `model_spec` (a ModelSpec) with numpy `inputs` by alias."""
        request = self.message("tensorflow.serving.PredictRequest")(model_spec=model_spec,
                                                                   output_filter=list(output_filter))
        for key, value in inputs.items():
            fill_tensor(request.inputs[key], value)
        return request

    def enum(self, full_name: str):
        return self.pool.FindEnumTypeByName(full_name)

    def method(self, channel, service: str, name: str):
        """A callable for one unary RPC on `channel`, e.g. ("tensorflow.serving.PredictionService", "Predict")."""
        method = self.pool.FindServiceByName(service).FindMethodByName(name)
        return channel.unary_unary(
            f"/{service}/{name}",
            request_serializer=self.classes[method.input_type.full_name].SerializeToString,
            response_deserializer=self.classes[method.output_type.full_name].FromString,
        )


@functools.cache
def serving_api() -> ServingApi:
    """The API for this process, from the first source `read_descriptors` finds."""
    api = load_api()
    log.info("TF Serving API from %s", api.source)
    return api


def load_api(environ: Mapping[str, str] = os.environ, packaged: Path = PACKAGED) -> ServingApi:
    """Classes for every message in the descriptor set `read_descriptors` finds."""
    descriptors, source = read_descriptors(environ, packaged)
    pool = descriptor_pool.DescriptorPool()
    for file in descriptors.file:  # dependencies first, as `installed_descriptors` orders them
        pool.Add(file)
    classes = message_factory.GetMessageClassesForFiles([file.name for file in descriptors.file], pool)
    return ServingApi(pool, classes, source)


def read_descriptors(environ: Mapping[str, str], packaged: Path) -> tuple[descriptor_pb2.FileDescriptorSet, str]:
    """The descriptor set from $TFSERVING_API_DESCRIPTORS, else `packaged`, else the installed package."""
    named = environ.get(PATH_VARIABLE)
    if named:
        if not Path(named).is_file():
            raise ApiMissing(f"{PATH_VARIABLE}={named} is not a file; write it with `{WRITE_COMMAND} {named}` "
                             f"where {DISTRIBUTION} is installed")
        return _read(Path(named)), _describe_file(Path(named))
    if packaged.is_file():
        return _read(packaged), _describe_file(packaged)
    try:
        return installed_descriptors(), f"the installed {DISTRIBUTION} {metadata.version(DISTRIBUTION)}"
    except ImportError:
        raise ApiMissing(
            f"TF Serving's API descriptors are missing: run `{WRITE_COMMAND}` where {DISTRIBUTION} is "
            f"installed (writes {packaged}), or set {PATH_VARIABLE} to a file it wrote"
        ) from None


def installed_descriptors() -> descriptor_pb2.FileDescriptorSet:
    """The .proto files of TF Serving's prediction and model services and all they import, dependencies first."""
    # Importing the generated modules imports TensorFlow: this runs at build time, or in dev.
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def add(file) -> None:
        if file.name in files:
            return
        for dependency in file.dependencies:
            add(dependency)
        files[file.name] = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(files[file.name])

    for module in API_MODULES:
        add(importlib.import_module(module).DESCRIPTOR)
    return descriptor_pb2.FileDescriptorSet(file=files.values())


def write_descriptors(path: Path) -> str:
    """Save the installed API's descriptors at `path` and its version beside it (.json); the version."""
    descriptors = installed_descriptors()
    version = metadata.version(DISTRIBUTION)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(descriptors.SerializeToString())
    record = {DISTRIBUTION: version, "files": [file.name for file in descriptors.file]}
    _record_path(path).write_text(json.dumps(record, indent=1) + "\n")
    return version


def _read(path: Path) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def _describe_file(path: Path) -> str:
    """`path`, with the tensorflow-serving-api version recorded beside it when there is one."""
    try:
        version = json.loads(_record_path(path).read_text())[DISTRIBUTION]
    except (OSError, ValueError, KeyError):
        return str(path)
    return f"{path} ({DISTRIBUTION} {version})"


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def main(argv: list[str] | None = None) -> int:
    """`write [PATH]`: save TF Serving's API descriptors for a service installed without it."""
    parser = argparse.ArgumentParser(prog="python -m facecore.tfserving_api", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help=f"save the descriptors (needs {DISTRIBUTION} installed)")
    write.add_argument("path", nargs="?", type=Path, default=PACKAGED, help=f"default: {PACKAGED}")
    args = parser.parse_args(argv)
    try:
        version = write_descriptors(args.path)
    except ImportError as exc:
        parser.exit(1, f"cannot read TF Serving's API: {exc}; install {DISTRIBUTION} here first\n")
    print(f"wrote {args.path} from {DISTRIBUTION} {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
