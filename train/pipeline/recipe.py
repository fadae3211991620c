"""The recipe file: variables and a list of steps, each one CLI call.

    vars: {WORK: data/work}            # ${WORK} in any value; the environment or --var wins
    env: {WANDB_PROJECT: demo}         # set for every step (optional)
    steps:
      - name: clean                    # unique; default: the last word of ``run``
        run: prep clean                # a tunesmith command, or `train` / `train qlora`
        args: {input: ${WORK}/x.jsonl, output: ${WORK}/clean.jsonl, min-words: 3}
      - name: train
        run: train                     # accelerate launch -m train.hf_trainer
        accelerate_config: recipes/accelerate/single_gpu.yaml   # optional, train steps only
        launch: {num_processes: 2}     # more `accelerate launch` flags (optional)
        config: recipes/lora.yaml      # the runner's --config file (optional)
        args: {output_dir: data/runs/x, learning_rate: 2.0e-4}
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from prep.core.errors import StageError

TOP_KEYS = ("vars", "env", "steps")
STEP_KEYS = ("name", "run", "args", "env", "config", "accelerate_config", "launch")
TRAIN_ONLY = ("config", "accelerate_config", "launch")
# ${NAME}; $$ stands for a literal $ (as in make and docker-compose).
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Step:
    name: str
    run: str
    args: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    config: str | None = None
    accelerate_config: str | None = None
    launch: dict = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return self.run.split()


def substitute(value, variables: dict, where: str):
    """``value`` with every ${NAME} replaced, recursively through lists and mappings."""
    if isinstance(value, str):
        def one(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                raise StageError(f"{where}: ${{{name}}} is not defined (vars: {known}; or set it in the "
                                 "environment or with --var NAME=VALUE)")
            return variables[name]
        return VARIABLE.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables, where) for k, v in value.items()}
    return value


def resolve_vars(declared: dict, overrides: dict, environ: dict, path: str) -> dict:
    """Each variable from --var, else the environment, else the file (which may use earlier ones)."""
    if not isinstance(declared, dict):
        raise StageError(f"{path}: vars must be a mapping of NAME: value")
    # Undeclared names still resolve from the environment, as in a shell recipe.
    known = {**environ, **overrides}
    for name, value in declared.items():
        if name in overrides or name in environ:
            continue
        known[name] = str(substitute("" if value is None else str(value), known, f"{path}: vars.{name}"))
    return known


def _step(item, index: int, variables: dict, path: str) -> Step:
    where = f"{path}: step {index + 1}"
    if not isinstance(item, dict):
        raise StageError(f"{where}: expected a mapping with run: and args:, got {type(item).__name__}")
    unknown = [k for k in item if k not in STEP_KEYS]
    if unknown:
        raise StageError(f"{where}: unknown key {unknown[0]!r} (a step takes {', '.join(STEP_KEYS)})")
    run = item.get("run")
    if not isinstance(run, str) or not run.split():
        raise StageError(f"{where}: run: must name a command, e.g. 'prep clean' or 'train'")
    name = str(item.get("name") or run.split()[-1])
    where = f"{path}: step {name!r}"
    for key in ("args", "env", "launch"):
        if not isinstance(item.get(key) or {}, dict):
            raise StageError(f"{where}: {key}: must be a mapping of name: value")
    if run.split()[0] != "train" and any(item.get(k) for k in TRAIN_ONLY):
        raise StageError(f"{where}: {', '.join(TRAIN_ONLY)} apply to train steps only")
    values = substitute({k: item.get(k) for k in STEP_KEYS}, variables, where)
    return Step(name=name, run=" ".join(run.split()), args=values["args"] or {},
                env={str(k): "" if v is None else str(v) for k, v in (values["env"] or {}).items()},
                config=values["config"], accelerate_config=values["accelerate_config"],
                launch=values["launch"] or {})


def read_yaml(path: str, label: str, missing: str = "no such file"):
    """The YAML document at ``path``; StageError naming the YAML files beside it where there is
    no such file, and the parser's message where it does not parse. ``label`` starts each message."""
    file = Path(path)
    if not file.is_file():
        near = sorted(p.name for p in file.parent.glob("*.y*ml")) if file.parent.is_dir() else []
        raise StageError(f"{label}: {missing} (YAML files in {file.parent}: {', '.join(near) or 'none'})")
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StageError(f"{label} is not valid YAML: {exc}") from None


def load(path: str, overrides: dict | None = None, environ: dict | None = None) -> tuple[list[Step], dict]:
    """(steps, env for every step) of the recipe at ``path``; StageError names what is wrong."""
    recipe = read_yaml(path, path, "no such recipe")
    if not isinstance(recipe, dict) or not isinstance(recipe.get("steps"), list) or not recipe["steps"]:
        raise StageError(f"{path}: expected a mapping with a non-empty steps: list")
    unknown = [k for k in recipe if k not in TOP_KEYS]
    if unknown:
        raise StageError(f"{path}: unknown key {unknown[0]!r} (a recipe takes {', '.join(TOP_KEYS)})")
    variables = resolve_vars(recipe.get("vars") or {}, overrides or {},
                             dict(os.environ if environ is None else environ), path)
    steps = [_step(item, i, variables, path) for i, item in enumerate(recipe["steps"])]
    seen: set[str] = set()
    for step in steps:
        if step.name in seen:
            raise StageError(f"{path}: two steps are named {step.name!r}: give each a name:")
        seen.add(step.name)
    env = substitute(recipe.get("env") or {}, variables, f"{path}: env")
    if not isinstance(env, dict):
        raise StageError(f"{path}: env must be a mapping of NAME: value")
    return steps, {str(k): "" if v is None else str(v) for k, v in env.items()}
