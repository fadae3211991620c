"""Every command of the registry exists and documents every flag."""
import subprocess
import sys
from pathlib import Path

import pytest

from prep import cli as prep_cli
from train import cli as train_cli

ROOT = Path(__file__).resolve().parents[1]


def test_no_registered_command_is_missing():
    proc = subprocess.run([sys.executable, "-m", "train.cli", "--help"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0
    assert "not installed" not in proc.stderr, proc.stderr
    for name in ["prep", *train_cli.COMMANDS]:
        assert name in proc.stdout


def all_parsers():
    parser = train_cli.build_parser()
    stack = [("tunesmith", parser)]
    while stack:
        name, p = stack.pop()
        yield name, p
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                stack.extend((f"{name} {sub}", sp) for sub, sp in action.choices.items())


def test_every_flag_has_help():
    seen = set()
    for name, parser in all_parsers():
        seen.add(name)
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings[0]} has no help text"
    for stage in [*prep_cli.STAGES, *(f"extract {s}" for s in prep_cli.EXTRACTORS)]:
        assert f"tunesmith prep {stage}" in seen


@pytest.mark.parametrize("args", [["--help"], ["prep", "--help"], ["prep", "clean", "--help"]])
def test_help_exits_zero(cli, args):
    code, out, _ = cli(*args)
    assert code == 0 and "usage: tunesmith" in out
