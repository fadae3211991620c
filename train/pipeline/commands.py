"""A step as the command line it stands for, checked against that command's own argparse parser.

``tunesmith ...`` steps are parsed by the tunesmith parser itself, so a step names exactly the
flags a shell recipe could; `train` steps are checked against the training runner's parser
(HfArgumentParser, with the old spellings and --config handled as the runner does).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from prep.core.errors import StageError
from train.cli import build_parser
from train.pipeline.recipe import Step

# `run:` words -> the module accelerate launches (recipes/lora.sh, recipes/qlora.sh).
TRAINERS = {"train": "train.hf_trainer", "train qlora": "train.qlora"}
# Flag destinations that name what a step writes, and what it reads. Inputs in SOFT may be a hub
# id (a model, a tokenizer): they are a dependency when an earlier step writes them, else unchecked.
OUTPUTS = ("output", "train_output", "val_output", "test_output", "report", "output_dir")
INPUTS = ("input", "against", "schema", "file", "train", "eval", "train_labels", "eval_labels", "head",
          "train_file", "eval_file", "dataset")
SOFT = ("tokenizer_path", "model", "base", "adapter", "model_name_or_path", "tokenizer_name_or_path",
        "template_file", "phrases", "rules", "sample_prompts")


@dataclass
class Command:
    step: Step
    argv: list[str]                    # what runs: after `tunesmith`, or the whole accelerate line
    shown: list[str]                   # the shell command line, env prefix included
    training: bool = False
    namespace: argparse.Namespace | None = None   # the parsed flags of a tunesmith command
    inputs: list[tuple[str, str]] = field(default_factory=list)   # (flag, path) that must exist
    soft: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    defaults: dict = field(default_factory=dict)   # flag destination -> its parser's default


def leaf_parser(root: argparse.ArgumentParser, words: list[str], step: str) -> argparse.ArgumentParser:
    """The parser of `tunesmith WORDS...` (e.g. prep -> extract -> csv)."""
    parser, walked = root, []
    for word in words:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None:
            raise StageError(f"step {step!r}: `tunesmith {' '.join(walked)}` takes no command {word!r}")
        if word not in sub.choices:
            close = difflib.get_close_matches(word, list(sub.choices), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise StageError(f"step {step!r}: run: unknown command {' '.join([*walked, word])!r}; {hint}"
                             f"known: {', '.join(sub.choices)}, or {' / '.join(TRAINERS)}")
        parser, walked = sub.choices[word], [*walked, word]
    if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        raise StageError(f"step {step!r}: run: `{' '.join(walked)}` needs one more word (see its --help)")
    return parser


def _flag(parser: argparse.ArgumentParser, key: str, step: str) -> tuple[argparse.Action, list[str]]:
    """(the action, the option as written: [] for a positional) of the flag ``key`` names."""
    name = str(key).lstrip("-")
    spellings = [f"--{s}" for s in dict.fromkeys((name, name.replace("_", "-"), name.replace("-", "_")))]
    for option in spellings + ([f"-{name}"] if len(name) == 1 else []):
        action = parser._option_string_actions.get(option)  # argparse has no public lookup
        if action is not None:
            return action, [option]
    for action in parser._actions:
        if not action.option_strings and action.dest == name.replace("-", "_"):
            return action, []
    names = [o.lstrip("-") for o in parser._option_string_actions if o.startswith("--")]
    names += [a.dest for a in parser._actions if not a.option_strings]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"`{parser.prog} --help` lists them"
    raise StageError(f"step {step!r}: unknown flag {key!r} for `{parser.prog}`: {hint}")


def _tokens(found: tuple[argparse.Action, list[str]], key: str, value, step: str) -> list[str]:
    """The flag and its value as a shell recipe would write them."""
    action, flag = found
    if action.nargs == 0:  # a switch: true writes it, false or null leaves it out
        if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
            value = value.strip().lower() == "true"  # from a variable: QUIET=true
        if not isinstance(value, bool) and value is not None:
            raise StageError(f"step {step!r}: {key} is a switch: write true or false, not {value!r}")
        return flag if value else []
    if value is None:
        return []
    if isinstance(value, dict):
        return [*flag, json.dumps(value)]
    if isinstance(value, list):
        if action.nargs in ("+", "*"):
            return [*flag, *(_text(v) for v in value)]
        return [*flag, ",".join(_text(v) for v in value)]
    return [*flag, _text(value)]


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _paths(values) -> list[str]:
    items = values if isinstance(values, (list, tuple)) else [values]
    return [str(v) for v in items if v is not None and str(v) != ""]


def env_prefix(env: dict) -> list[str]:
    return ["env", *(f"{k}={v}" for k, v in env.items())] if env else []


def tunesmith_command(step: Step, env: dict, root: argparse.ArgumentParser) -> Command:
    parser = leaf_parser(root, step.words, step.name)
    tokens: list[str] = []
    for key, value in step.args.items():
        tokens += _tokens(_flag(parser, key, step.name), key, value, step.name)
    argv = [*step.words, *tokens]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            namespace = root.parse_args(argv)
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        raise StageError(f"step {step.name!r}: {lines[-1] if lines else 'the flags do not parse'}") from None
    found = vars(namespace)
    outputs = [p for dest in OUTPUTS if dest in found and _is_option(parser, dest) for p in _paths(found[dest])]
    inputs = [(dest, p) for dest in INPUTS if dest in found and dest not in OUTPUTS for p in _paths(found[dest])]
    if "output_dir" in found and not _is_option(parser, "output_dir"):
        inputs += [("output_dir", p) for p in _paths(found["output_dir"])]  # `curves RUN`: reads a run
    soft = [p for dest in SOFT if dest in found for p in _paths(found[dest])]
    return Command(step, argv, [*env_prefix(env), "tunesmith", *argv], namespace=namespace,
                   inputs=inputs, soft=soft, outputs=outputs,
                   defaults={a.dest: a.default for a in parser._actions if a.dest != "help"})


def _is_option(parser: argparse.ArgumentParser, dest: str) -> bool:
    return any(a.dest == dest and a.option_strings for a in parser._actions)


def accelerate_path() -> str:
    """The accelerate beside this Python (a virtual environment not on PATH), else PATH's."""
    beside = Path(sys.executable).parent / "accelerate"
    return str(beside) if beside.is_file() else (shutil.which("accelerate") or "accelerate")


def _launch_tokens(step: Step) -> list[str]:
    if not step.launch:
        return []
    # accelerate's parser imports torch: only for a step that sets launch flags
    from accelerate.commands.launch import launch_command_parser
    parser = launch_command_parser()
    tokens: list[str] = []
    for key, value in step.launch.items():
        tokens += _tokens(_flag(parser, key, step.name), key, value, step.name)
    return tokens


def train_command(step: Step, env: dict) -> Command:
    """`accelerate launch [--config_file C] -m MODULE [--config F] --flag value ...` as recipes/lora.sh."""
    module = TRAINERS[step.run]
    # the runner's flag table: transformers' TrainingArguments, imported only for a train step
    from train import hf_trainer, qlora, run_config
    from train.lm.args import parser_for
    types = (hf_trainer if module == "train.hf_trainer" else qlora).types()
    parser = parser_for(types, f"accelerate launch -m {module}")
    tokens = run_config.to_argv(step.args, parser, f"step {step.name!r}")
    flags = {str(k).lstrip("-").replace("-", "_"): v for k, v in step.args.items()}
    inputs = []
    if step.config:
        inputs.append(("config", step.config))
        if Path(step.config).is_file():
            file = run_config.load(step.config)
            run_config.to_argv(file, parser, f"step {step.name!r}: {step.config}")
            flags = {**{str(k).replace("-", "_"): v for k, v in file.items()}, **flags}
    if step.accelerate_config:
        inputs.append(("accelerate_config", step.accelerate_config))
    launcher = ["launch", *(["--config_file", step.accelerate_config] if step.accelerate_config else []),
                *_launch_tokens(step), "-m", module]
    argv = [*launcher, *(["--config", step.config] if step.config else []), *tokens]
    inputs += [(k, p) for k in INPUTS if k in flags for p in _paths(flags[k])]
    return Command(step, argv, [*env_prefix(env), "accelerate", *argv], training=True, inputs=inputs,
                   soft=[p for k in SOFT if k in flags for p in _paths(flags[k])],
                   outputs=_paths(flags.get("output_dir")))


def command(step: Step, env: dict, root: argparse.ArgumentParser) -> Command:
    if step.run in TRAINERS:
        return train_command(step, env)
    return tunesmith_command(step, env, root)


def root_parser() -> argparse.ArgumentParser:
    """The `tunesmith` parser: every stage's flags (its modules import no heavy packages)."""
    return build_parser()
