"""The `tunesmith` command: `prep` stages plus the commands around a training run.

Training itself runs under accelerate: `accelerate launch -m train.hf_trainer ...` or
`accelerate launch -m train.qlora ...` (see recipes/).
"""
from __future__ import annotations

import argparse
import sys

from prep import cli as prep_cli
from prep.core.errors import exit_code
from prep.core.flags import HelpFormatter

COMMANDS = {
    "curves": "train.tools.curves",
    "merge": "train.tools.merge",
    "export": "train.export.cli",
    "estimate": "train.tools.estimate",
    "models": "train.tools.models",
    "single-pass": "train.heads.cli",
    "compare": "train.heads.compare",
    "pipeline": "train.pipeline.cli",
    "eval": "train.observe.harness",
}

EPILOG = """\
training runs (under accelerate):
  accelerate launch -m train.hf_trainer --model_name_or_path M --train_file train.arrow --output_dir OUT
  accelerate launch -m train.qlora --model_name_or_path M --dataset DATA --output_dir OUT
  (each with --help)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith", description="From raw data to a fine-tuned language model, one stage at a time.",
        epilog=EPILOG, formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    prep_cli.register(subparsers)
    for name, module_name in COMMANDS.items():
        prep_cli.add_module_parser(subparsers, name, module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_code(lambda: args.func(args))

if __name__ == "__main__":
    sys.exit(main())
