"""`tunesmith prep ...`: the dataset preparation stages.

Each stage module holds ``add_arguments(parser)`` and ``run(args) -> int``; its docstring's
first line is the one-line help and the whole docstring the description. The table below
is the only place that names them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from prep.core.flags import HelpFormatter

EXTRACTORS = {
    "html": "prep.extract.html.stage",
    "csv": "prep.extract.csv",
    "sql": "prep.extract.sql.stage",
    "jsonl": "prep.extract.jsonl",
}

STAGES = {
    "clean": "prep.clean",
    "filter": "prep.filter.stage",
    "decontaminate": "prep.filter.decontaminate",
    "dedup": "prep.dedup.stage",
    "cluster": "prep.cluster.stage",
    "split": "prep.split",
    "tokenize": "prep.tokenize.stage",
    "inspect": "prep.tokenize.inspect",
    "stats": "prep.stats",
}


def add_module_parser(subparsers, name: str, module_name: str) -> None:
    """A subcommand whose flags, help and action come from one module.

    The module holds ``add_arguments(parser)`` and ``run(args) -> int``, or
    ``add_subcommands(subparsers)`` when it has verbs of its own.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        # Only while a stage is being written; tests/test_cli.py checks none is missing.
        print(f"tunesmith: note: {module_name} is not installed; `{name}` is unavailable",
              file=sys.stderr)
        return
    doc = (module.__doc__ or name).strip()
    parser = subparsers.add_parser(name, help=doc.splitlines()[0], description=doc,
                                   formatter_class=HelpFormatter)
    if hasattr(module, "add_subcommands"):
        # A command with verbs of its own (`models list-modules`, `single-pass fit`).
        module.add_subcommands(parser.add_subparsers(dest=f"{name}_verb", metavar="VERB", required=True))
    else:
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)


def register(subparsers) -> None:
    """Adds `prep` and its stages to the top-level parser."""
    prep = subparsers.add_parser(
        "prep", help="prepare a dataset: extract, clean, filter, decontaminate, dedup, cluster, split, tokenize, inspect",
        description="Dataset preparation stages. Each reads JSONL (or a raw source), writes one "
        "output plus OUT.stats.json and OUT.rejected.jsonl beside it.",
        formatter_class=HelpFormatter)
    stages = prep.add_subparsers(dest="stage", metavar="STAGE", required=True)
    extract = stages.add_parser(
        "extract", help="turn raw sources (html, csv, sql, jsonl) into JSONL records",
        description="Read a raw source and write JSONL records {id, text} or {id, input, output}.",
        formatter_class=HelpFormatter)
    sources = extract.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, module_name in EXTRACTORS.items():
        add_module_parser(sources, name, module_name)
    for name, module_name in STAGES.items():
        add_module_parser(stages, name, module_name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tunesmith", formatter_class=HelpFormatter)
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser
