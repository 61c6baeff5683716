"""TF Serving's config files, parsed as TF Serving parses them (its protobuf text format)."""

from __future__ import annotations

from deploy_files import tfserving_message
from service.uploads import OPTION_RANGES


def test_monitoring_config_enables_prometheus():
    config = tfserving_message("monitoring.config", "MonitoringConfig")
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_batching_config_is_sane_for_cpu():
    batching = tfserving_message("batching.config", "BatchingParameters")
    assert 1 <= batching.num_batch_threads.value <= 16
    # TF Serving refuses one request larger than max_batch_size, and a photo's faces go in one
    # request: it must hold the most faces the API lets a client ask for.
    assert OPTION_RANGES["max_faces"][1] <= batching.max_batch_size.value <= 256
    assert 0 <= batching.batch_timeout_micros.value <= 10_000
    assert batching.max_enqueued_batches.value >= 1
    if batching.allowed_batch_sizes:
        assert batching.allowed_batch_sizes[-1] == batching.max_batch_size.value
