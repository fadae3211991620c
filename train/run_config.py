"""``--config run.yaml``: the training runner's flags read from a YAML file, and the run's effective flags written back.

The file is a flat mapping whose keys are the flags' names (``learning_rate: 5.0e-5``), as in
TRL's config files. Its entries become flag tokens placed before the command line's, so that
everything downstream is what the command line goes through: the old spellings are rewritten
with the same warnings (train/lm/legacy_flags.py), each value is converted by its flag's own
argparse type (a Literal's choices are checked, ``2e-4``, which YAML 1.1 reads as a string,
still becomes a float), and a flag given on the command line as well wins, because argparse
keeps the last value. Setting the parser's defaults from the file instead (TRL's way) would
bypass both the old-spelling rewrite and the type conversion of non-string YAML values.
Values: true/false for switches, a list for a multi-valued flag (a list for a comma flag such
as lora_target_modules is joined with commas), a mapping for a JSON flag (fsdp_config...),
null for "the default".
"""
from __future__ import annotations

import dataclasses
import difflib
import enum
import json
from pathlib import Path

import yaml

from prep.core.errors import StageError
from train.lm import legacy_flags
from train.lm.args import parser_for
from train.pipeline.recipe import read_yaml

FLAG = "--config"
FILE_NAME = "run_config.yaml"  # beside tunesmith-run.json: the flags, loadable with --config


def split_config(argv: list[str]) -> tuple[str | None, list[str]]:
    """(the --config path or None, argv without it)."""
    rest, path, tokens = [], None, iter(argv)
    for token in tokens:
        if token == FLAG:
            path = next(tokens, None)
            if path is None:
                raise StageError(f"{FLAG} needs a YAML file path")
        elif token.startswith(FLAG + "="):
            path = token.partition("=")[2]
        else:
            rest.append(token)
    return path, rest


def load(path: str) -> dict:
    """The file's mapping; StageError for a missing file, bad YAML or a top level that is not a mapping."""
    config = read_yaml(path, f"{FLAG} {path}")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StageError(f"{FLAG} {path}: expected a mapping of flag names to values, got a "
                         f"{type(config).__name__}")
    return config


def _known(parser) -> dict:
    """Flag name (no dashes) -> argparse action, old spellings -> None."""
    known = {opt[2:].replace("-", "_"): action for opt, action in parser._option_string_actions.items()
             if opt.startswith("--")}  # argparse has no public lookup of its actions
    for name in (*legacy_flags.RENAMED, *legacy_flags.DROPPED, *legacy_flags.SPECIAL):
        known.setdefault(name, None)
    known.pop("config", None)  # a file naming another file is not supported
    return known


def _tokens(key: str, value, action) -> list[str]:
    """``--key`` and the value as the command line would spell it."""
    flag = f"--{key}"
    if value is None:
        return []
    if isinstance(value, bool):
        return [flag, "true" if value else "false"]
    if isinstance(value, dict):
        return [flag, json.dumps(value)]
    if isinstance(value, (list, tuple)):
        if not value:
            return []  # an empty list is the default of every list flag
        if action is None or action.nargs in ("+", "*"):
            return [flag, *(str(v) for v in value)]
        return [flag, ",".join(str(v) for v in value)]
    return [flag, str(value)]


def to_argv(config: dict, parser, path: str = "the config") -> list[str]:
    """The file's entries as flag tokens; an unknown key stops with the closest flag."""
    known = _known(parser)
    argv = []
    for key, value in config.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see --help for the flags"
            raise StageError(f"{path}: unknown key {key!r}: {hint}")
        argv += _tokens(name, value, known[name])
    return argv


def expand(argv: list[str], types: tuple, prog: str) -> list[str]:
    """argv with ``--config FILE`` replaced by the file's flags, placed first so the command line wins."""
    path, rest = split_config(argv)
    if path is None:
        return list(argv)
    return [*to_argv(load(path), parser_for(types, prog), path), *rest]


def _plain(value):
    """A value as YAML can write it and the flag reads it back."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def effective(*parsed) -> dict:
    """Every flag of the parsed dataclasses, in their order; TrainingArguments' own to_dict
    masks its tokens (hub_token...), so no secret lands in the file."""
    flags: dict = {}
    for args in parsed:
        if args is None:
            continue
        values = args.to_dict() if hasattr(args, "to_dict") else dataclasses.asdict(args)
        names = [f.name for f in dataclasses.fields(args) if f.init and not f.name.startswith("_")]
        flags.update({name: _plain(values[name]) for name in names if name in values})
    for name in [k for k, v in flags.items() if isinstance(v, str) and v == f"<{k.upper()}>"]:
        flags[name] = None  # a masked token reads back as the default, not as the mask
    return flags


def write(output_dir: str, flags: dict, argv: list[str]) -> Path:
    """OUTPUT_DIR/run_config.yaml: the flags after defaults, --config file and command line."""
    path = Path(output_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ("# The effective flags of this run (defaults, --config file, command line).\n"
            f"# Command line: {' '.join(argv)}\n# Rerun with: --config {path}\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + yaml.safe_dump(flags, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)  # written whole or not at all
    return path
