"""Whether a step is up to date, as make decides, plus what the stats and run files recorded.

A prep step is up to date when its OUT.stats.json records the options it would run with now,
every input it hashed still has that sha256, every output is there and no input (a file, or
anything inside a folder, the folder's own entry list included) is newer than the oldest
output. A training step is up to date when OUTPUT_DIR holds a finished run (tunesmith-run.json)
whose run_config.yaml has the flags it would run with now, newer than its data.
A step that writes nothing (inspect, stats) always runs: it only reads and checks.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import yaml

from prep.core.atomic import file_sha256
from prep.core.errors import StageError
from prep.core.inputs import sidecar
from prep.core.stage import options_of
from train.pipeline.commands import Command

# Flags that say how a run starts, not what it trains (the pipeline adds --overwrite_output_dir).
START_FLAGS = ("overwrite_output_dir", "resume_from_checkpoint")
# Flags the runner resolves before writing run_config.yaml (train.lm.runner.settle): compared only
# where the step sets them itself.
SETTLED = ("attn_implementation", "optim", "activation_checkpointing_kwargs", "gradient_checkpointing_kwargs",
           "remove_unused_columns", "group_by_length", "train_sampling_strategy", "use_liger_kernel")


def newest(paths: list[str]) -> tuple[int, str]:
    """(mtime in ns, path) of the newest existing file or folder under ``paths``; hidden ones skipped."""
    best = (0, "")
    for spec in paths:
        path = Path(spec)
        if not path.exists():
            continue
        best = max(best, (path.stat().st_mtime_ns, str(path)))
        if path.is_dir():
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = [s for s in subfolders if not s.startswith(".")]
                for name in [*names, *subfolders]:
                    if not name.startswith("."):
                        item = Path(folder) / name
                        best = max(best, (item.stat().st_mtime_ns, str(item)))
    return best


def _older_than_inputs(outputs: list[str], cmd: Command) -> str | None:
    missing = [o for o in outputs if not Path(o).exists()]
    if missing:
        return f"{missing[0]} is missing"
    oldest = min((Path(o).stat().st_mtime_ns, o) for o in outputs)
    latest = newest([p for _, p in cmd.inputs] + cmd.soft)
    if latest[0] > oldest[0]:
        return f"{latest[1]} is newer than {oldest[1]}"
    return None


def _stats(cmd: Command) -> dict | None:
    for output in cmd.outputs:
        try:
            record = json.loads(sidecar(Path(output), ".stats.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("options"), dict):
            return record
    return None


def _differences(now: dict, then: dict, keys) -> list[str]:
    return [f"{k} {then.get(k, '(unset)')!r} -> {now.get(k, '(unset)')!r}" for k in keys
            if now.get(k) != then.get(k)]


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def prep_stale(cmd: Command) -> str | None:
    """Why a tunesmith step must run, or None when it is up to date."""
    if not cmd.outputs:
        return "writes no output (a check): always runs"
    record = _stats(cmd)
    if record is None:
        return f"no {cmd.outputs[0]}.stats.json"
    if record.get("kept") == 0:  # the stage wrote its (empty) output and then failed
        return "kept 0 records last time"
    # The options exactly as the stage records them (prep.core.stage.options_of), through JSON.
    now = json.loads(json.dumps(options_of(cmd.namespace), default=str))
    then = record["options"]
    # A flag newer than the stats file, left at its default, asks for what the old run did.
    keys = [k for k in sorted(set(now) | set(then)) if k in then or now[k] != _plain(cmd.defaults.get(k))]
    changed = _differences(now, then, keys)
    if changed:
        return "options changed: " + "; ".join(changed[:3])
    for item in record.get("inputs", []):
        path, digest = Path(str(item.get("path"))), item.get("sha256")
        if not path.is_file():
            return f"input {path} is gone"
        if digest is not None and file_sha256(path) != digest:
            return f"input {path} changed (sha256)"
    return _older_than_inputs([*cmd.outputs, *record.get("outputs", {}).values()], cmd)


def _effective(argv: list[str], types: tuple, prog: str) -> tuple[dict, set[str]]:
    """(the flags as run_config.yaml would record them before the runner settles them, the names given)."""
    # the runner's parsing: transformers' dataclasses, imported only for a train step
    from train import run_config
    from train.lm.args import parse
    from train.lm.legacy_flags import rewrite
    saved = dict(os.environ)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            expanded, _ = rewrite(run_config.expand(argv, types, prog))
            parsed = parse(expanded, types, prog)
    finally:
        os.environ.clear()
        os.environ.update(saved)  # an old flag (--logging_dir) sets an environment variable
    given = {t[2:].partition("=")[0] for t in expanded if t.startswith("--")}
    return run_config.effective(*parsed), given


def train_stale(cmd: Command) -> str | None:
    """Why a training step must run, or None when OUTPUT_DIR holds the same run, finished."""
    from train import hf_trainer, qlora  # the runner's flag tables (transformers): train steps only
    out = Path(cmd.outputs[0]) if cmd.outputs else None
    if out is None:
        return "no output_dir"
    try:
        run = json.loads((out / "tunesmith-run.json").read_text(encoding="utf-8"))
        then = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return f"no finished run in {out}"
    if not isinstance(run, dict) or run.get("status") != "finished" or not isinstance(then, dict):
        return f"the run in {out} did not finish"
    module = cmd.argv[cmd.argv.index("-m") + 1]
    flags = cmd.argv[cmd.argv.index("-m") + 2:]
    types = (hf_trainer if module == "train.hf_trainer" else qlora).types()
    try:
        now, given = _effective(flags, types, module)
    except (StageError, ValueError, SystemExit) as exc:
        return f"its flags do not parse here ({exc})"
    keys = [k for k in now if k in then and k not in START_FLAGS and (k not in SETTLED or k in given)]
    changed = _differences(now, then, keys) + [f"{k} is not in {out}/run_config.yaml" for k in given
                                               if k in now and k not in then]
    if changed:
        return "flags changed: " + "; ".join(changed[:3])
    return _older_than_inputs([str(out / "tunesmith-run.json")], cmd)
