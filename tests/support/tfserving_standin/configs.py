"""TF Serving's config files (protobuf text format): ModelServerConfig, BatchingParameters,
MonitoringConfig.

tensorflow-serving-api's wheel ships model_server_config_pb2 but not the other two, so their
descriptors are declared here field for field (names and numbers) from TF Serving's
tensorflow_serving/config/monitoring_config.proto and
tensorflow_serving/servables/tensorflow/session_bundle_config.proto (BatchingParameters, fields 1-9).
"""

from __future__ import annotations

import functools
from pathlib import Path

MODEL_SERVER_CONFIG = "ModelServerConfig"
BATCHING_PARAMETERS = "BatchingParameters"
MONITORING_CONFIG = "MonitoringConfig"
# monitoring_config.proto: an empty `path` means PrometheusExporter::kPrometheusPath, this one.
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def _add_message(file_proto, name: str, *fields) -> None:
    """Declare message `name`; `fields` are (number, name, type, type_name, label)."""
    from google.protobuf import descriptor_pb2

    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    added = file_proto.message_type.add(name=name)
    for number, field_name, kind, type_name, label in fields:
        added.field.add(name=field_name, number=number, type=kind, type_name=type_name, label=label or optional)


def _configs_file_proto():
    """The FileDescriptorProto declaring PrometheusConfig, MonitoringConfig, BatchingParameters."""
    from google.protobuf import descriptor_pb2

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="tfserving_standin/configs.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    int64 = (field.TYPE_MESSAGE, ".google.protobuf.Int64Value", None)
    _add_message(proto, "PrometheusConfig", (1, "enable", field.TYPE_BOOL, None, None),
                 (2, "path", field.TYPE_STRING, None, None))
    _add_message(proto, MONITORING_CONFIG,
                 (1, "prometheus_config", field.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig", None))
    _add_message(proto, BATCHING_PARAMETERS,
                 (1, "max_batch_size", *int64), (2, "batch_timeout_micros", *int64),
                 (3, "max_enqueued_batches", *int64), (4, "num_batch_threads", *int64),
                 (5, "thread_pool_name", field.TYPE_MESSAGE, ".google.protobuf.StringValue", None),
                 (8, "enable_large_batch_splitting", field.TYPE_MESSAGE, ".google.protobuf.BoolValue", None),
                 (9, "max_execution_batch_size", *int64),
                 (6, "allowed_batch_sizes", field.TYPE_INT64, None, field.LABEL_REPEATED),
                 (7, "pad_variable_length_inputs", field.TYPE_BOOL, None, None))
    return proto


@functools.cache
def descriptor_pool():
    """A pool holding MonitoringConfig and BatchingParameters (and the wrappers they use)."""
    from google.protobuf import descriptor_pb2, descriptor_pool as pools, wrappers_pb2

    pool = pools.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    pool.Add(_configs_file_proto())
    return pool


def new_message(message_name: str):
    """An empty TF Serving config message: ModelServerConfig, BatchingParameters or MonitoringConfig."""
    from google.protobuf import message_factory

    if message_name == MODEL_SERVER_CONFIG:
        from tensorflow_serving.config import model_server_config_pb2

        return model_server_config_pb2.ModelServerConfig()
    descriptor = descriptor_pool().FindMessageTypeByName(f"tensorflow.serving.{message_name}")
    return message_factory.GetMessageClass(descriptor)()


def parse_config(text: str, message_name: str):
    """Parse protobuf text as the TF Serving message `message_name`."""
    from google.protobuf import text_format

    return text_format.Parse(text, new_message(message_name))


def read_config(path: Path, message_name: str):
    """Read the text-format config file at `path` as the TF Serving message `message_name`."""
    return parse_config(Path(path).read_text(), message_name)


def single_model(config) -> tuple[str, Path]:
    """(name, base_path) of the one model a ModelServerConfig lists; ValueError for what the
    stand-in does not copy (several models, a version policy other than latest 1)."""
    models = list(config.model_config_list.config)
    if len(models) != 1:
        raise ValueError(f"the stand-in serves exactly one model; the config lists {len(models)}")
    (model,) = models
    policy = model.model_version_policy
    if policy.WhichOneof("policy_choice") not in (None, "latest") or policy.latest.num_versions > 1:
        raise ValueError(f"the stand-in only copies the 'latest 1' version policy, not {policy}")
    return model.name, Path(model.base_path)


def prometheus_path(config) -> str | None:
    """The metrics path a MonitoringConfig enables, or None when Prometheus is off."""
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
