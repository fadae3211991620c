"""What a training run was made of, read from the files it and the prep stages left behind.

- The run: run_config.yaml (the effective flags), tunesmith-run.json (method, steps, metrics),
  adapter_config.json (the base and LoRA settings), the loss curves' diagnosis
  (train/tools/diagnosis.py over trainer_state.json) and an eval results JSON when present.
- The data: run_config.yaml names the train and eval files; each prep output has a stats file
  beside it (OUTPUT.stats.json) that lists its inputs with their sha256, and each input has a
  stats file of its own, back to the raw sources. The chain is followed through every input; a
  link whose recorded sha256 differs from what the upstream stats say it wrote is marked
  changed (the file was rewritten since, so the counts upstream may not describe it). An output
  that is not the first of its stage (split's val.jsonl) is found by the stats in its folder
  that list it among their outputs.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from prep.core.errors import StageError
from train.tools import curves
from train.tools.diagnosis import diagnose

EVAL_GLOBS = ("eval*.json", "results*.json", "eval/*.json", "eval/**/results*.json")


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_stats(path: Path) -> tuple[Path, dict] | None:
    """(stats file, its contents) describing ``path``: its own sidecar, or a stage's other output."""
    own = path.with_name(path.name + ".stats.json")
    if own.is_file() and (data := read_json(own)) is not None:
        return own, data
    if not path.parent.is_dir():
        return None
    for candidate in sorted(path.parent.glob("*.stats.json")):
        data = read_json(candidate)
        outputs = (data or {}).get("outputs") or {}
        if any(Path(p).name == path.name for p in outputs.values()):
            return candidate, data
    return None


def locate(recorded: str, seen_from: Path) -> Path:
    """A path as a stage recorded it (relative to where it ran); else the same name beside the reader."""
    path = Path(recorded)
    return path if path.exists() else seen_from.parent / path.name


def output_digests(stats: dict) -> set[str]:
    return {d for d in (stats.get("output_sha256") or {}).values() if isinstance(d, str)}


def outputs_named(stats: dict) -> str:
    """``train.jsonl 46, val.jsonl 5`` for a stage with several outputs (split's counts), else the name."""
    outputs, counts = stats.get("outputs") or {}, stats.get("counts") or {}
    shown = [Path(p).name + (f" ({counts[k]})" if isinstance(counts.get(k), int) and len(outputs) > 1 else "")
             for k, p in outputs.items()]
    return ", ".join(shown)


def data_chain(path: Path) -> list[dict]:
    """Every stage behind ``path``, raw sources first: stage, output, read, kept, dropped, errors, checked."""
    stages: list[dict] = []
    seen: set[Path] = set()

    def visit(target: Path, digest: str | None) -> None:
        found = find_stats(target)
        if found is None:
            return
        stats_path, stats = found
        if stats_path.resolve() in seen:
            return
        seen.add(stats_path.resolve())
        for entry in stats.get("inputs") or []:
            if isinstance(entry, dict) and entry.get("path"):
                visit(locate(entry["path"], stats_path), entry.get("sha256"))
        stages.append({
            "stage": stats.get("stage", "?"), "stats": str(stats_path),
            "output": outputs_named(stats),
            "read": stats.get("read"), "kept": stats.get("kept"), "dropped": stats.get("dropped") or {},
            "errors": stats.get("errors", 0), "tokens": stats.get("tokens_total"),
            "changed": digest is not None and bool(output_digests(stats)) and digest not in output_digests(stats),
        })

    visit(path, None)
    return stages


def diagnosis(run_dir: Path) -> dict | None:
    """The curves' verdict, computed from the run's log history (curves.json is not required)."""
    try:
        data = curves.series(curves.find_state(run_dir))
    except StageError:
        return None
    return diagnose(data["train"]["step"], data["train"]["loss"], data["eval"]["step"], data["eval"]["loss"],
                    list(curves.checkpoints(run_dir)), curves.DEFAULT_TOLERANCE)


def eval_results(run_dir: Path, given: Path | None = None) -> tuple[Path, dict] | None:
    """(file, {task: {metric: value}}) from an lm-eval style results JSON ("results" key)."""
    candidates = [given] if given is not None else \
        [p for pattern in EVAL_GLOBS for p in sorted(run_dir.glob(pattern))]
    for path in candidates:
        data = read_json(path) if path.is_file() else None
        results = (data or {}).get("results")
        if isinstance(results, dict) and results:
            return path, {task: {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
                          for task, metrics in results.items() if isinstance(metrics, dict)}
    return None


def run_facts(run_dir: Path, eval_file: Path | None = None) -> dict:
    """Everything the card says about a run; missing pieces are None."""
    config_path = run_dir / "run_config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else None
    config = config if isinstance(config, dict) else {}
    record = read_json(run_dir / "tunesmith-run.json") or {}
    adapter = read_json(run_dir / "adapter_config.json")
    data = {}
    for key in ("train_file", "eval_file"):
        if config.get(key):
            data[key] = {"path": config[key], "stages": data_chain(Path(config[key]))}
    return {"run_dir": str(run_dir), "config": config, "record": record, "adapter": adapter,
            "base": (adapter or {}).get("base_model_name_or_path") or config.get("model_name_or_path"),
            "data": data, "diagnosis": diagnosis(run_dir) if run_dir.is_dir() else None,
            "eval": eval_results(run_dir, eval_file)}
