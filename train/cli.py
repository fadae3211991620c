"""The `tunesmith` command: `prep` stages plus the commands around a training run.

Training itself runs under accelerate: `accelerate launch -m train.hf_trainer ...` or
`accelerate launch -m train.qlora ...` (see recipes/).
"""
from __future__ import annotations

import argparse
import sys

from prep import cli as prep_cli
from prep.errors import StageError
from prep.flags import HelpFormatter

COMMANDS = {
    "curves": "train.curves",
    "merge": "train.merge",
    "estimate": "train.estimate",
    "models": "train.models",
    "single-pass": "train.single_pass_cli",
    "compare": "train.compare",
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
    try:
        return int(args.func(args) or 0)
    except StageError as exc:
        print(f"tunesmith: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tunesmith: interrupted; outputs were left as they were", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
