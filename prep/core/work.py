"""What a worker process runs for a stage (``Work``, ``judge_batch``) and how many may run.

Kept apart from prep/core/engine.py so that the Ray side (prep/core/engine_ray.py) and the
local pool import the same pieces without importing each other, and free of torch so that
counting cores (``cpu_quota``, also used by prep/core/threads.py) costs nothing.
"""
from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prep.core.records import dumps

# cgroup v2 holds "QUOTA PERIOD" (QUOTA "max" when unlimited); v1 two files (-1 when unlimited).
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cpu_quota() -> int | None:
    """CPUs this process's cgroup may use, rounded up; None when no quota is set or readable."""
    try:
        quota, period = CGROUP_V2.read_text().split()[:2]
    except (OSError, ValueError):  # no cgroup v2 file (v1, not Linux) or an odd one
        try:
            quota, period = (path.read_text().strip() for path in CGROUP_V1)
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


@dataclass(frozen=True)
class Work:
    """A stage's per-record work: ``factory(settings)`` -> judge (see the module docstring)."""
    factory: Callable[[Any], Callable]
    settings: Any
    # Names this run's judge in each process's cache: a process that judged for another run
    # (a Ray worker lives on between stages) builds the judge anew.
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


_built: dict = {}   # this process's judge: {"token": Work.token, "judge": ...}


def judge_batch(work: Work, records: list[dict]) -> tuple[list[tuple], dict]:
    """In any process: ``[(reason, detail, record as one output line)]`` and the counts moved."""
    if _built.get("token") != work.token:
        _built.clear()
        _built.update(token=work.token, judge=work.factory(work.settings))
    results, counts = _built["judge"](records)
    return [(reason, detail, dumps(record)) for record, reason, detail in results], counts


def usable_cores() -> int:
    """The CPUs this process may run on, lowered to a container's CPU quota where one is set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota()
    return cores if quota is None else max(1, min(cores, quota))
