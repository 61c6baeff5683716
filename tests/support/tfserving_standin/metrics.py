"""TF Serving's request metrics, in the text its Prometheus exporter writes.

Written by hand, not with prometheus_client: TF Serving's names start with ':' (its '/'
separators replaced), its counters have no `_total` suffix and it writes no HELP lines.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

import grpc

PREFIX = ":tensorflow:serving:"
# /tensorflow/serving/request_latency: microseconds, monitoring::Buckets::Exponential(10, 1.8, 33).
LATENCY_BUCKETS_US = tuple(10 * 1.8**i for i in range(33))


class Metrics:
    """request_count{model_name,status} and request_latency{model_name,API,entrypoint}."""

    def __init__(self) -> None:
        self._counts: Counter = Counter()
        self._latencies: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def count(self, model_name: str, code: grpc.StatusCode) -> None:
        """Count one request by its status (TF Serving counts Predict and GetModelMetadata)."""
        with self._lock:
            self._counts[(model_name, code.name)] += 1

    def requests(self, status: str = "OK") -> int:
        """request_count summed over models, for one status (what the exposition would say)."""
        with self._lock:
            return sum(count for (_, name), count in self._counts.items() if name == status)

    def observe_latency(self, model_name: str, api: str, seconds: float) -> None:
        """Add one request's wall time (TF Serving records it for Predict, entrypoint GRPC)."""
        micros = seconds * 1e6
        with self._lock:
            buckets, totals = self._latencies.setdefault((model_name, api, "GRPC"),
                                                         ([0] * len(LATENCY_BUCKETS_US), [0.0, 0]))
            index = bisect.bisect_left(LATENCY_BUCKETS_US, micros)
            if index < len(buckets):  # beyond the last bound: only +Inf, _sum and _count see it
                buckets[index] += 1
            totals[0] += micros
            totals[1] += 1

    def exposition(self) -> str:
        """The Prometheus text exposition of every metric."""
        with self._lock:
            lines = [f"# TYPE {PREFIX}request_count counter"]
            lines += [f'{PREFIX}request_count{{model_name="{model}",status="{status}"}} {count}'
                      for (model, status), count in sorted(self._counts.items())]
            lines.append(f"# TYPE {PREFIX}request_latency histogram")
            for labels, (buckets, totals) in sorted(self._latencies.items()):
                lines += _histogram_lines("request_latency", labels, buckets, totals)
        return "\n".join(lines) + "\n"


def _histogram_lines(name: str, labels: tuple, buckets: list[int], totals: list) -> list[str]:
    model, api, entrypoint = labels
    label_text = f'model_name="{model}",API="{api}",entrypoint="{entrypoint}"'
    lines, cumulative = [], 0
    for bound, count in zip(LATENCY_BUCKETS_US, buckets):
        cumulative += count
        lines.append(f'{PREFIX}{name}_bucket{{{label_text},le="{bound:g}"}} {cumulative}')
    lines.append(f'{PREFIX}{name}_bucket{{{label_text},le="+Inf"}} {totals[1]}')
    lines.append(f"{PREFIX}{name}_sum{{{label_text}}} {totals[0]:g}")
    lines.append(f"{PREFIX}{name}_count{{{label_text}}} {totals[1]}")
    return lines
