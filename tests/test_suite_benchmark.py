"""The suite's timing reads pytest's own summary line (benchmarks/suite_benchmark.py)."""

from __future__ import annotations

import sys

import pytest

from processes import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import suite_benchmark  # noqa: E402


def test_the_last_summary_line_counts():
    output = ("== 1 failed, 2 passed in 3.00s ==\n... a second session ...\n"
              "========= 709 passed, 128 deselected, 12 warnings in 157.57s (0:02:37) =========\n")
    assert suite_benchmark.summary(output) == {
        "counts": {"passed": 709, "deselected": 128, "warnings": 12}, "pytest_seconds": 157.57}


def test_quiet_output_and_failures_are_read_too():
    result = suite_benchmark.summary("F..\nFAILED tests/x.py::y\n1 failed, 543 passed, 128 deselected in 102.85s\n")
    assert result["counts"]["failed"] == 1 and result["pytest_seconds"] == 102.85


def test_output_without_a_summary_is_an_error():
    with pytest.raises(ValueError, match="no pytest summary"):
        suite_benchmark.summary("ImportError while loading conftest\n")


def test_subtests_are_counted_apart():
    result = suite_benchmark.summary("838 passed, 12 warnings, 32 subtests passed in 1570.41s (0:26:10)\n")
    assert result["counts"] == {"passed": 838, "warnings": 12, "subtests passed": 32}
