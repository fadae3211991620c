"""Flags shared by the stages, with the guide's spellings as aliases."""
from __future__ import annotations

import argparse
from pathlib import Path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default and keeps the line breaks of descriptions and epilogs."""


# A record (one JSONL line) larger than this is rejected unread (prep.core.records).
MAX_RECORD_BYTES = 8 << 20


def add_input(parser: argparse.ArgumentParser, help: str = "input JSONL/JSON file, folder or glob",
              required: bool = True, records: bool = True) -> None:
    """--input; with ``records`` (JSONL/JSON input) also --max-record-bytes."""
    parser.add_argument("--input", "--input-file", "--input_file", dest="input", required=required,
                        help=help)
    if records:
        add_max_record_bytes(parser)


def add_max_record_bytes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-record-bytes", "--max_record_bytes", dest="max_record_bytes", type=int,
                        default=MAX_RECORD_BYTES, metavar="N",
                        help="a record (one JSONL line) larger than this is rejected with its size, unread, "
                        "so that memory stays bounded")


def add_output(parser: argparse.ArgumentParser, help: str = "output JSONL file (stats and "
               "rejects are written beside it)", required: bool = True) -> None:
    parser.add_argument("--output", "--output-file", "--output_file", dest="output", type=Path,
                        required=required, help=help)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-line messages")


def add_common(parser: argparse.ArgumentParser, input_help: str | None = None,
               output_help: str | None = None, records: bool = True) -> None:
    """--input, --output and --quiet: what almost every stage takes (``records``: JSONL input)."""
    add_input(parser, records=records, **({"help": input_help} if input_help else {}))
    add_output(parser, **({"help": output_help} if output_help else {}))
    add_quiet(parser)
