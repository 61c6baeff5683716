"""`python -m tfserving_standin` with tensorflow_model_server's flags (`--flag=value`).

    PYTHONPATH=tests/support python -m tfserving_standin --port=8500 --rest_api_port=8501 \
        --model_name=faces --model_base_path=/models/faces --enable_batching=true \
        --batching_parameters_file=k8s/base/tfserving/batching.config \
        --monitoring_config_file=k8s/base/tfserving/monitoring.config

It binds 0.0.0.0 (it runs in a container) and, like tensorflow_model_server, opens its ports
only once a version is AVAILABLE; if the first version fails to load (after
--max_num_load_retries retries, --load_retry_interval_micros apart) it exits with status 255.
Tests poll with the stand-in-only --standin_poll_ms (TF Serving polls in whole seconds).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from tfserving_standin import configs
from tfserving_standin.flags import channel_arguments, parse_flags, poll_seconds

LOG_FORMAT = "%(asctime)s %(levelname).1s tfserving_standin] %(message)s"


class FlagError(Exception):
    """A flag or config file the server cannot start with; the message is TF Serving's status."""


def model_from_flags(args: argparse.Namespace) -> tuple[str, Path]:
    """(name, base path): from --model_config_file when given, else --model_name/--model_base_path."""
    if args.model_config_file:
        try:
            return configs.single_model(configs.read_config(args.model_config_file, configs.MODEL_SERVER_CONFIG))
        except (OSError, ValueError) as exc:  # text_format.ParseError is a ValueError
            raise FlagError(f"INVALID_ARGUMENT: {args.model_config_file}: {exc}") from None
    if not args.model_base_path:  # server.cc
        raise FlagError("INVALID_ARGUMENT: Both server_options.model_base_path and "
                        "server_options.model_config_file are empty!")
    return args.model_name, Path(args.model_base_path)


def batching_from_flags(args: argparse.Namespace):
    """The Batching rules with --enable_batching (from --batching_parameters_file if given), else None."""
    from tfserving_standin.batching import Batching

    if not args.enable_batching:
        if args.batching_parameters_file:  # server.cc, before any model loads
            raise FlagError("INVALID_ARGUMENT: server_options.batching_parameters_file is set without setting "
                            "server_options.enable_batching to true.")
        return None
    if not args.batching_parameters_file:
        return Batching()
    return Batching.from_parameters(_read(args.batching_parameters_file, configs.BATCHING_PARAMETERS))


def metrics_path_from_flags(args: argparse.Namespace) -> str | None:
    """The Prometheus path --monitoring_config_file enables, if any."""
    if not args.monitoring_config_file:
        return None
    return configs.prometheus_path(_read(args.monitoring_config_file, configs.MONITORING_CONFIG))


def _read(path: str, message_name: str):
    try:
        return configs.read_config(Path(path), message_name)
    except (OSError, ValueError) as exc:
        raise FlagError(f"INVALID_ARGUMENT: {path}: {exc}") from None


def apply_threading(args: argparse.Namespace) -> None:
    """--tensorflow_{intra,inter}_op_parallelism, before TensorFlow starts its thread pools (0: its default)."""
    import tensorflow as tf

    if args.tensorflow_intra_op_parallelism > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    if args.tensorflow_inter_op_parallelism > 0:
        tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)


def retries_from_flags(args: argparse.Namespace):
    """--max_num_load_retries and --load_retry_interval_micros."""
    from tfserving_standin.versions import LoadRetries

    return LoadRetries(args.max_num_load_retries, args.load_retry_interval_micros / 1e6)


def channel_arguments_from_flags(args: argparse.Namespace) -> list:
    try:
        return channel_arguments(args.grpc_channel_arguments)
    except ValueError as exc:
        raise FlagError(f"INVALID_ARGUMENT: {exc}") from None


def build_server(args: argparse.Namespace):
    """The StandIn the flags describe, waiting for a version and bound on every interface."""
    from tfserving_standin.server import StandIn

    name, base = model_from_flags(args)  # server.cc reads the model config before the batching flags
    return StandIn(name, base, poll_seconds(args), args.delay_s, batching=batching_from_flags(args),
                   warmup=args.enable_model_warmup, metrics_path=metrics_path_from_flags(args), host="0.0.0.0",
                   wait_for_version=True, retries=retries_from_flags(args),
                   as_content=args.enable_serialization_as_tensor_content,
                   channel_arguments=channel_arguments_from_flags(args))


def serve_until_signalled(server) -> None:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_flags(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    from tfserving_standin.server import StartError

    try:
        apply_threading(args)
        server = build_server(args)
        server.start(args.port, args.rest_api_port or None)
    except (FlagError, StartError) as exc:
        print(f"Failed to start server. Error: {exc}", flush=True)  # main.cc prints this and returns -1
        return 255
    serve_until_signalled(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
