"""Reading what a stage wrote: OUT (JSONL), OUT.rejected.jsonl and OUT.stats.json beside it.

The file names are built here, not taken from prep.core.stage, so the tests pin them down.
"""
from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def sidecar(out: Path, suffix: str) -> Path:
    """out.jsonl + '.stats.json' -> out.jsonl.stats.json: named after the whole output name."""
    return out.with_name(out.name + suffix)


def stats_of(out: Path) -> dict:
    """OUT.stats.json, its counts checked: every record read is kept, dropped or an error."""
    stats = json.loads(sidecar(out, ".stats.json").read_text())
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + stats["errors"]
    return stats


def outputs(out: Path) -> tuple[list[dict], list[dict], dict]:
    """(kept records, rejected items, stats) of a JSONL output."""
    stats = stats_of(out)
    return read_jsonl(out), read_jsonl(sidecar(out, ".rejected.jsonl")), stats
