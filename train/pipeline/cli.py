"""Run a recipe: prep stages and training in order, each skipped when it is up to date.

    tunesmith pipeline recipes/pipeline_lora.yaml [--dry-run] [--force | --from STEP] [--var NAME=VALUE]

The whole file is checked before anything runs: every command and flag against that command's
own parser, every input an existing file or an earlier step's output. --dry-run prints the
shell commands that would run, one a line (each ready to paste), and the reason for each.
`tunesmith ...` steps run in this process through the same parser as the printed line;
training runs under `accelerate launch`, as recipes/lora.sh does. The first step that fails
stops the pipeline with its exit status.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from prep.core.environ import environ_kept
from prep.core.errors import StageError
from train.cli import main as tunesmith_main
from train.pipeline import recipe
from train.pipeline.commands import Command, accelerate_path, command, root_parser
from train.pipeline.fresh import prep_stale, train_stale


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="the recipe YAML file (vars:, env:, steps: [{name, run, args}]); "
                        "see recipes/pipeline_*.yaml")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="print the shell commands that would run, one a line, and run nothing")
    parser.add_argument("--force", action="store_true", help="run every step, up to date or not")
    parser.add_argument("--from", dest="from_step", metavar="STEP",
                        help="run STEP and every step after it; the earlier ones only where out of date")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="set a variable of the recipe (wins over the environment and the file's vars:)")
    parser.add_argument("--quiet", action="store_true", help="no line per step on stderr")


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise StageError(f"--var {pair!r}: write NAME=VALUE")
        out[name] = value
    return out


def related(a: str, b: str) -> bool:
    """The same path, one inside the other, or a glob that matches the other."""
    pa, pb = Path(os.path.normpath(os.path.abspath(a))), Path(os.path.normpath(os.path.abspath(b)))
    if pa == pb or pa in pb.parents or pb in pa.parents:
        return True
    return glob.has_magic(a) and Path(pb).match(str(pa))


def check_inputs(commands: list[Command]) -> None:
    """Every input is there already or is written by an earlier step; else one error naming both."""
    made: list[str] = []
    for cmd in commands:
        for flag, spec in cmd.inputs:
            if Path(spec).exists() or (glob.has_magic(spec) and glob.glob(spec)):
                continue
            if any(related(spec, out) for out in made):
                continue
            raise StageError(f"step {cmd.step.name!r}: {flag} {spec}: no such file, and no earlier step writes "
                             f"it (earlier outputs: {', '.join(made) or 'none'})")
        made += cmd.outputs


def _finished(out: str) -> bool:
    try:
        return json.loads((Path(out) / "tunesmith-run.json").read_text(encoding="utf-8")).get("status") == "finished"
    except (OSError, ValueError, AttributeError):
        return False


def plan(commands: list[Command], force: bool, start: int | None) -> list[str | None]:
    """Why each step runs, or None where it is skipped. A step reading what an earlier one remakes
    runs too (make's rule), which --dry-run cannot learn from file times."""
    reasons: list[str | None] = []
    remade: list[tuple[str, str]] = []
    for i, cmd in enumerate(commands):
        upstream = next((f"{out} is remade by step {name!r}" for name, out in remade
                         for spec in [p for _, p in cmd.inputs] + cmd.soft if related(spec, out)), None)
        if force:
            reason = "--force"
        elif start is not None and i >= start:
            reason = f"--from {commands[start].step.name}"
        else:
            reason = upstream or (train_stale(cmd) if cmd.training else prep_stale(cmd))
        if reason and cmd.training and cmd.outputs and _finished(cmd.outputs[0]) \
                and not any(t.startswith("--overwrite_output_dir") for t in cmd.argv):
            # A rerun into a finished run's folder would resume at its end and train nothing.
            cmd.argv.append("--overwrite_output_dir")
            cmd.shown.append("--overwrite_output_dir")
        reasons.append(reason)
        remade += [(cmd.step.name, out) for out in cmd.outputs] if reason else []
    return reasons


def execute(cmd: Command, base_env: dict) -> int:
    env = {**base_env, **cmd.step.env}
    if cmd.training:
        return subprocess.run([accelerate_path(), *cmd.argv], env={**os.environ, **env}).returncode
    with environ_kept(*env):
        os.environ.update(env)
        try:
            return tunesmith_main(list(cmd.argv))
        except SystemExit as exc:  # a stage that exits by itself
            return exc.code if isinstance(exc.code, int) else 1


def run(args: argparse.Namespace) -> int:
    steps, env = recipe.load(args.recipe, _overrides(args.var))
    names = [s.name for s in steps]
    if args.from_step is not None and args.from_step not in names:
        raise StageError(f"--from {args.from_step}: no such step in {args.recipe} (steps: {', '.join(names)})")
    root = root_parser()
    commands = [command(step, {**env, **step.env}, root) for step in steps]
    check_inputs(commands)
    reasons = plan(commands, args.force, None if args.from_step is None else names.index(args.from_step))
    total = len(commands)
    for i, (cmd, reason) in enumerate(zip(commands, reasons), 1):
        line = f"[{i}/{total}] {cmd.step.name}: " + (reason or "up to date, skipped")
        if args.dry_run:
            print(f"# {line}")
            if reason:
                print(shlex.join(cmd.shown))
            continue
        if not args.quiet:
            print(f"pipeline: {line}" + (f"\n+ {shlex.join(cmd.shown)}" if reason else ""), file=sys.stderr)
        if not reason:
            continue
        code = execute(cmd, env)
        if code != 0:
            later = ", ".join(names[i:]) or "none"
            print(f"tunesmith pipeline: step {cmd.step.name!r} failed (exit status {code}); not run: {later}",
                  file=sys.stderr)
            return code
    return 0
