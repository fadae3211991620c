"""Export a trained model: a GGUF file for llama.cpp (checked by a round trip) and a model card.

  tunesmith export gguf --model M [--adapter A] --outtype f16|q8_0 --output FILE.gguf
      merges the adapter when given, converts with llama.cpp's own convert_hf_to_gguf.py and
      checks that transformers reads the file back with the same logits (see --help).
  tunesmith export card --run RUN_DIR
      writes RUN_DIR/README.md: base model, data counts, method, curve diagnosis, evals.
  tunesmith export converter
      fetches llama.cpp's converter once (pip downloads the pinned llama-cpp-python source
      release and unpacks only the converter into the virtual environment).
"""
from __future__ import annotations

import argparse

from prep.core.flags import HelpFormatter
from train.export import card, converter, gguf_export


def add_subcommands(subparsers) -> None:
    for name, module in (("gguf", gguf_export), ("card", card)):
        parser = subparsers.add_parser(name, help=module.__doc__.strip().splitlines()[0],
                                       description=module.__doc__.strip(), formatter_class=HelpFormatter)
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)
    parser = subparsers.add_parser("converter", help="fetch llama.cpp's HF -> GGUF converter once",
                                   description=converter.__doc__.strip(), formatter_class=HelpFormatter)
    parser.add_argument("--force", action="store_true", help="fetch it again even when it is already there")
    parser.set_defaults(func=fetch_converter)


def fetch_converter(args: argparse.Namespace) -> int:
    folder = converter.home()
    if (folder / converter.SCRIPT).is_file() and not args.force:
        print(f"llama.cpp's converter is already in {folder} (--force fetches it again)")
        return 0
    converter.fetch(folder)
    return 0
