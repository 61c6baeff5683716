"""tensorflow_model_server's command-line flags, as far as the stand-in copies them.

Values are parsed as TensorFlow's flag parser (tsl/util/command_line_flags.cc) parses them: an
int32 or int64 flag takes a whole decimal number and nothing else (`sscanf("%d%c") == 1`), so
`--file_system_poll_wait_seconds=0.5` is refused. A value it cannot interpret makes main.cc print
the usage and return -1: exit status 255. Flags TF Serving does not know are refused too (TF
Serving prints "unknown argument" and starts anyway): a flag the stand-in does not copy must not
be silently ignored.
"""

from __future__ import annotations

import argparse
import re
import sys

from tfserving_standin.atoi import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, simple_atoi

EXIT_FLAG_ERROR = 255  # main.cc: `return -1` when tensorflow::Flags::Parse fails
# sscanf's %d: leading whitespace, an optional sign, decimal digits; %c must then find nothing.
_WHOLE_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _bool(text: str) -> bool:
    """A boolean flag's value: tensorflow's Flag parser takes true/false (any case) and 1/0."""
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise ValueError(text)


def _whole_number(bounds: tuple[int, int]):
    def parse(text: str) -> int:
        match = _WHOLE_NUMBER.fullmatch(text)
        if match is None or not bounds[0] <= int(match.group(1)) <= bounds[1]:
            raise ValueError(text)
        return int(match.group(1))
    return parse


_KINDS = {"bool": _bool, "int32": _whole_number((INT32_MIN, INT32_MAX)),
          "int64": _whole_number((INT64_MIN, INT64_MAX))}


def typed(kind: str, flag: str):
    """The argparse type of a `kind` flag, refusing a value with TensorFlow's message."""
    def parse(text: str):
        try:
            return _KINDS[kind](text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"Couldn't interpret value {text} for flag {flag}.") from None
    return parse


class FlagParser(argparse.ArgumentParser):
    """argparse, failing as tensorflow_model_server fails on a bad flag: message, usage, status 255."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bool_flags: set[str] = set()  # the flags that may stand alone, without `=value`

    def error(self, message: str):
        print(f"tfserving_standin: {message}", file=sys.stderr)
        self.print_usage(sys.stdout)
        sys.exit(EXIT_FLAG_ERROR)


def flag_parser() -> argparse.ArgumentParser:
    """The parser; unknown flags are an error, and names are never abbreviated (as in TF Serving)."""
    parser = FlagParser(prog="python -m tfserving_standin", allow_abbrev=False,
                        description="TF Serving stand-in, run like tensorflow_model_server")

    def add(name: str, kind: str = "string", default=None, help: str | None = None) -> None:  # noqa: A002
        if kind == "bool":  # `--flag` alone means true
            parser.bool_flags.add(f"--{name}")
            parser.add_argument(f"--{name}", type=typed(kind, name), nargs="?", const=True, default=default, help=help)
        else:
            parser.add_argument(f"--{name}", type=typed(kind, name) if kind in _KINDS else str, default=default,
                                help=help)

    # Names, kinds and defaults: main.cc's flag list and server.h's Server::Options.
    add("port", "int32", 8500, "gRPC port")
    add("rest_api_port", "int32", 0, "REST port; 0: no REST API")
    add("model_name", default="default")
    add("model_base_path", default="")
    add("model_config_file", default="", help="ModelServerConfig; when given, model_name/base_path are ignored")
    add("model_config_file_poll_wait_seconds", "int32", 0, "accepted; the file is read once")
    add("file_system_poll_wait_seconds", "int32", 1, "seconds between polls of the base path; 0: once at start; "
        "negative: never")
    add("max_num_load_retries", "int32", 5, "retries of a failed version load")
    add("load_retry_interval_micros", "int64", 60 * 1000 * 1000, "wait between load retries; negative: none")
    add("monitoring_config_file", default="")
    add("enable_batching", "bool", False)
    add("batching_parameters_file", default="")
    add("tensorflow_intra_op_parallelism", "int64", 0)
    add("tensorflow_inter_op_parallelism", "int64", 0)
    add("enable_model_warmup", "bool", True)
    add("grpc_channel_arguments", default="", help="comma-separated key=value gRPC server channel arguments")
    add("enable_serialization_as_tensor_content", "bool", False)
    # Stand-in only, not in TF Serving (never in a deployment file): for tests.
    add("standin_poll_ms", "int32", None, "stand-in only: poll the base path every N ms, overriding "
        "--file_system_poll_wait_seconds, whose whole seconds are too coarse for tests")
    parser.add_argument("--delay_s", type=float, default=0.0, help="stand-in only: sleep before each Predict")
    return parser


def parse_flags(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags of `argv`; exits with status 255 and the usage on unknown or bad flags."""
    parser = flag_parser()
    argv = sys.argv[1:] if argv is None else argv
    for arg in argv:  # TensorFlow's parser knows only `--name=value` (and `--name` for a boolean)
        if not arg.startswith("--") or ("=" not in arg and arg not in parser.bool_flags):
            parser.error(f"unknown argument: {arg} (tensorflow_model_server reads only --flag=value)")
    return parser.parse_args(argv)


def poll_seconds(args: argparse.Namespace) -> float:
    """The base path's poll interval: --standin_poll_ms when given, else --file_system_poll_wait_seconds."""
    if args.standin_poll_ms is not None:
        return args.standin_poll_ms / 1000
    return float(args.file_system_poll_wait_seconds)


def channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """--grpc_channel_arguments as server.cc's parseGrpcChannelArgs reads it: split at ',', each
    part at '='; a value SimpleAtoi reads as an int32 is passed as an int, any other as a string.

    A part without '=' (or an empty one, as in "a=1,,b=2") is refused: TF Serving reads past the
    end of its split there, which is undefined behaviour, not a rule to copy. Text after a second
    '=' is dropped, as TF Serving drops it.
    """
    arguments = []
    for part in text.split(",") if text else []:  # str_util::Split of "" is no part at all
        key_value = part.split("=")
        if len(key_value) < 2:
            raise ValueError(f"--grpc_channel_arguments: {part!r} is not key=value")
        key, value = key_value[:2]
        number = simple_atoi(value, INT32_MIN, INT32_MAX)
        arguments.append((key, value if number is None else number))
    return arguments
