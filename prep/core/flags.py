"""Flags shared by the stages, with the guide's spellings as aliases."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from prep.core.shards import DEFAULT_PART_RECORDS


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
               "rejects are written beside it)", required: bool = True, shards: bool = True) -> None:
    """--output; with ``shards`` (a JSONL output) also --shard-records (prep.core.shards)."""
    if not shards:
        parser.add_argument("--output", "--output-file", "--output_file", dest="output", type=Path,
                            required=required, help=help)
        return
    parser.add_argument("--output", "--output-file", "--output_file", dest="output", action=_Output,
                        required=required, help=help + "; a name ending in '/' is a folder of parts "
                        f"(--shard-records {DEFAULT_PART_RECORDS} unless given)")
    parser.add_argument("--shard-records", "--shard_records", dest="shard_records", type=_at_least(1, "a part holds at least 1 record"),
                        default=None, metavar="N",
                        help="write the output as a folder OUT/ of part-00000.jsonl ... with at most N "
                        "records each and OUT/manifest.json (records, bytes and sha256 per part) written "
                        "last; OUT.stats.json and OUT.rejected.jsonl sit beside the folder")


class _Output(argparse.Action):
    """Stores --output as a Path; a trailing '/' (lost in a Path) asks for a sharded folder."""

    def __call__(self, parser, namespace, value, option_string=None):
        setattr(namespace, self.dest, Path(value))
        if value.endswith(("/", os.sep)) and getattr(namespace, "shard_records", None) is None:
            namespace.shard_records = DEFAULT_PART_RECORDS


def _at_least(minimum: int, why: str):
    """An argparse type: a whole number of at least ``minimum`` (``why`` says what a smaller one means)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: {why}")
        return value
    return parse


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-line messages")


def add_common(parser: argparse.ArgumentParser, input_help: str | None = None,
               output_help: str | None = None, records: bool = True) -> None:
    """--input, --output and --quiet: what almost every stage takes (``records``: JSONL input)."""
    add_input(parser, records=records, **({"help": input_help} if input_help else {}))
    add_output(parser, **({"help": output_help} if output_help else {}))
    add_quiet(parser)


def add_engine(parser: argparse.ArgumentParser) -> None:
    """--engine, --workers and --ray-address: where a stage's per-record work runs (prep.core.engine)."""
    group = parser.add_argument_group("engine (where the per-record work runs; the outputs are the same)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this machine (--workers processes); ray: a Ray cluster, joined at "
                       "--ray-address or RAY_ADDRESS, else a local one started and stopped with the stage "
                       "(needs the ray extra: pip install 'tunesmith[ray]')")
    group.add_argument("--workers", type=_at_least(0, "give 0 (every usable core) or more"), default=None, metavar="N",
                       help="processes that judge records: 0 = every usable core; local default 1 (in this "
                       "process, no pool); with --engine ray the CPUs of the local cluster it starts "
                       "(default every usable core)")
    group.add_argument("--ray-address", "--ray_address", dest="ray_address", default=None, metavar="ADDRESS",
                       help="the Ray cluster to join (ray://HOST:10001, HOST:6379 or auto; default: "
                       "RAY_ADDRESS where it is set); its nodes need tunesmith installed, and Ray's own "
                       "settings apply (RAY_AUTH_MODE=token and the token for a cluster that asks for one)")
