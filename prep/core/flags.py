"""Flags shared by the stages, with the guide's spellings as aliases."""
from __future__ import annotations

import argparse
from pathlib import Path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default and keeps the line breaks of descriptions and epilogs."""


def add_input(parser: argparse.ArgumentParser, help: str = "input JSONL/JSON file, folder or glob",
              required: bool = True) -> None:
    parser.add_argument("--input", "--input-file", "--input_file", dest="input", required=required,
                        help=help)


def add_output(parser: argparse.ArgumentParser, help: str = "output JSONL file (stats and "
               "rejects are written beside it)", required: bool = True) -> None:
    parser.add_argument("--output", "--output-file", "--output_file", dest="output", type=Path,
                        required=required, help=help)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-line messages")


def add_common(parser: argparse.ArgumentParser, input_help: str | None = None,
               output_help: str | None = None) -> None:
    """--input, --output and --quiet: what almost every stage takes."""
    add_input(parser, **({"help": input_help} if input_help else {}))
    add_output(parser, **({"help": output_help} if output_help else {}))
    add_quiet(parser)
