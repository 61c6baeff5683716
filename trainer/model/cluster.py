"""Which task of a multi-worker training cluster this process is, from TF_CONFIG (no TensorFlow).

TF_CONFIG is `{"cluster": {"worker": [...], "chief": [...]}, "task": {"type": ..., "index": ...}}`
(k8s/overlays/multiworker/tf_config.sh writes it). The chief is as TensorFlow's
multi_worker_util.is_chief has it: the `chief` task if the cluster names one, else worker 0.
Without TF_CONFIG a process is a cluster of one, and its own chief.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

ROLES = ("chief", "worker")


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster."""

    workers: int  # training processes in the cluster, the chief included
    type: str = "worker"
    index: int = 0
    chief: bool = True

    @property
    def name(self) -> str:
        return f"{self.type} {self.index}"


def this_task(environ: Mapping[str, str] = os.environ) -> Task:
    """The task TF_CONFIG names (a chief of one without it); ValueError for TF_CONFIG that is not JSON."""
    try:
        config = json.loads(environ.get("TF_CONFIG") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not JSON: {exc}") from None
    cluster, task = config.get("cluster", {}), config.get("task", {})
    workers = sum(len(cluster.get(role, [])) for role in ROLES) or 1
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    chief = kind == "chief" if "chief" in cluster else (kind == "worker" and index == 0)
    return Task(workers, kind, index, chief)
