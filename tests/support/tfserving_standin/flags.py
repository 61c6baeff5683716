"""tensorflow_model_server's command-line flags, as far as the stand-in copies them."""

from __future__ import annotations

import argparse


def bool_flag(text: str) -> bool:
    """A boolean flag's value: tensorflow's Flag parser takes true/false and 1/0."""
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def flag_parser() -> argparse.ArgumentParser:
    """The parser; unknown flags are an error, and names are never abbreviated (as in TF Serving)."""
    parser = argparse.ArgumentParser(prog="python -m tfserving_standin", allow_abbrev=False,
                                     description="TF Serving stand-in, run like tensorflow_model_server")
    add = parser.add_argument
    add("--port", type=int, default=8500, help="gRPC port")
    add("--rest_api_port", type=int, default=0, help="REST port; 0: no REST API")
    add("--model_name", default="default")
    add("--model_base_path", default="")
    add("--model_config_file", default="", help="ModelServerConfig; when given, model_name/base_path are ignored")
    add("--model_config_file_poll_wait_seconds", type=int, default=0, help="accepted; the file is read once")
    # An int32 in TF Serving; a float here so that tests can poll more often than once a second.
    add("--file_system_poll_wait_seconds", type=float, default=1.0,
        help="seconds between polls of the base path; 0: once at start; negative: never")
    add("--monitoring_config_file", default="")
    add("--enable_batching", type=bool_flag, nargs="?", const=True, default=False)
    add("--batching_parameters_file", default="")
    add("--tensorflow_intra_op_parallelism", type=int, default=0)
    add("--tensorflow_inter_op_parallelism", type=int, default=0)
    add("--enable_model_warmup", type=bool_flag, nargs="?", const=True, default=True)
    add("--delay_s", type=float, default=0.0, help="stand-in only: sleep before each Predict (deadline tests)")
    return parser


def parse_flags(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of `argv`; exits with status 2 and a usage message on unknown or bad flags."""
    return flag_parser().parse_args(argv)
