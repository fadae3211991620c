"""Export a model (or a base + LoRA adapter, merged first) to one GGUF file, checked by a round trip.

The adapter is merged into its base with `tunesmith merge`'s code (PEFT merge_and_unload on a
16-bit base), into --merged when given (kept, with a model card) or a temporary folder beside
--output. llama.cpp's own convert_hf_to_gguf.py writes the GGUF (see converter.py), under a
temporary name. With --check (the default) transformers reads the file back and its logits on a
few prompts are compared with the source's (see roundtrip.py for the figures and tolerances);
only a file that passes is renamed to --output, and its figures go to OUTPUT.check.json and
into the model card written beside it (README.md). A failed check exits 1 and leaves no file
under the output name.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from prep.core.atomic import AtomicFile, remove_stale_temporaries
from prep.core.errors import StageError
from train.export import card, converter, roundtrip
from train.tools import merge

OUTTYPES = tuple(roundtrip.TOLERANCE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "--model_name_or_path", "--base", dest="model",
                        help="model folder with config.json; with --adapter, the base (default: the base "
                             "named in adapter_config.json)")
    parser.add_argument("--adapter", type=Path,
                        help="LoRA adapter folder (a run's output_dir or its checkpoint-N) to merge in first")
    parser.add_argument("--outtype", choices=OUTTYPES, default="f16",
                        help="GGUF weight type: f16 (16-bit floats) or q8_0 (8-bit blocks, about half the size)")
    parser.add_argument("--output", "--outfile", dest="output", type=Path, required=True,
                        help="the .gguf file to write (README.md and OUTPUT.check.json go beside it)")
    parser.add_argument("--merged", type=Path,
                        help="with --adapter: keep the merged HF model (and a card) in this folder; left out, a temporary folder is used")
    parser.add_argument("--merge-dtype", "--merge_dtype", dest="merge_dtype", choices=merge.DTYPES, default="bf16",
                        help="dtype the base is loaded, merged and saved in before conversion")
    parser.add_argument("--run", type=Path,
                        help="training run folder for the model card (default: the adapter's or model's "
                             "folder, or its parent, when it holds run_config.yaml)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the round-trip check (transformers reloads the GGUF and compares logits)")
    parser.add_argument("--prompt", action="append", dest="prompts",
                        help="a prompt for the check (repeatable; default: four built-in prompts)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output when it already exists")


def source_folder(model: str | None) -> Path:
    """A local HF model folder (the converter reads files, not hub ids)."""
    if not model:
        raise StageError("pass --model (a model folder), or --adapter with a base named in adapter_config.json")
    path = Path(model).expanduser()
    if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
        raise StageError(f"{path} holds a LoRA adapter, not a model: pass it as --adapter (and its base as --model)")
    if not (path / "config.json").is_file():
        present = ", ".join(sorted(p.name for p in path.iterdir())[:15]) if path.is_dir() else "no such folder"
        raise StageError(f"{model} is not a model folder with config.json ({present})")
    return path


def merged_source(args: argparse.Namespace, scratch: Path) -> Path:
    """Merge --adapter into its base; returns the merged folder (args.merged or one inside scratch)."""
    config = merge.read_adapter_config(args.adapter)
    base = merge.check_base(args.model or config.get("base_model_name_or_path"))
    target = args.merged or scratch / "merged"
    if args.merged is not None and args.merged.exists() and not args.overwrite:
        raise StageError(f"{args.merged} already exists; pass --overwrite to replace it")
    building = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    for note in merge.merge(base, args.adapter, building, args.merge_dtype, "cpu"):
        print(f"note: {note}")
    if target.exists():
        shutil.rmtree(target)
    os.replace(building, target)
    print(f"merged {args.adapter} into {base} ({args.merge_dtype}) -> {target}")
    return target


def find_run(args: argparse.Namespace) -> Path | None:
    if args.run is not None:
        return args.run
    for folder in [args.adapter, Path(args.model) if args.model else None]:
        for candidate in ([folder, folder.parent] if folder is not None else []):
            if (candidate / "run_config.yaml").is_file():
                return candidate
    return None


def run(args: argparse.Namespace) -> int:
    output: Path = args.output
    if output.suffix != ".gguf":
        raise StageError(f"--output {output}: name the file *.gguf")
    if output.exists() and not args.overwrite:
        raise StageError(f"{output} already exists; pass --overwrite to replace it")
    converter.find()  # before any merge: a missing converter is a setup error
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    scratch = output.with_name(f".{output.name}.work-{os.getpid()}")
    try:
        scratch.mkdir()
        source = merged_source(args, scratch) if args.adapter else source_folder(args.model)
        print(converter.convert(source, tmp, args.outtype).splitlines()[-1])
        figures = None
        if args.check:
            figures = roundtrip.compare(source, tmp, args.outtype, tuple(args.prompts or roundtrip.PROMPTS))
            print(roundtrip.describe(figures))
            if not figures["passed"]:
                print(f"the GGUF failed its check: not written to {output}")
                return 1
        with AtomicFile(output.with_name(output.name + ".check.json"), "w") as out:
            out.handle.write(json.dumps(figures or {"skipped": True}, indent=1) + "\n")
        os.replace(tmp, output)
        export = {"file": output.name, "outtype": args.outtype, "bytes": output.stat().st_size,
                  "source": str(args.adapter or source), "base": args.model, "check": figures,
                  "converter": f"llama.cpp convert_hf_to_gguf.py from {converter.PACKAGE}=={converter.VERSION}"}
        run_dir = find_run(args)
        folders = [output.parent] + ([args.merged] if args.merged is not None else [])
        for folder in folders:
            print(f"wrote {card.write(folder, run_dir, export=export)}")
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, {args.outtype})")
    return 0
