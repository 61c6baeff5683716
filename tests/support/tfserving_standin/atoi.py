"""absl::SimpleAtoi, with which TF Serving reads version folder names, REST versions and gRPC
channel argument values: ASCII whitespace around, an optional sign, decimal digits, in range."""

from __future__ import annotations

import re

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*")


def simple_atoi(text: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int | None:
    """The number `text` holds, or None where SimpleAtoi fails (not a number, out of [low, high])."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    number = int(match.group(1))
    return number if low <= number <= high else None
