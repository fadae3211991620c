"""The preference-tuning flags: which objective, its loss variant and strength.

``RunArguments`` (train/lm/args.py) inherits these, so both entry points, ``--config`` files
and run_config.yaml carry them like every other flag. This module imports nothing from the
runner: train/lm/args.py imports it.

No ``from __future__ import annotations`` here: HfArgumentParser reads the field types.
"""
import dataclasses
import importlib
import re
from dataclasses import dataclass, field
from typing import Literal

from prep.core.errors import StageError

METHODS = ("sft", "dpo", "orpo", "kto")
# Objectives whose installed TRL config has a loss_type field, and where it lives.
LOSS_CONFIGS = {"dpo": ("trl", "DPOConfig"), "kto": ("trl", "KTOConfig")}


def _option(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class PreferenceArguments:
    method: Literal["sft", "dpo", "orpo", "kto"] = _option(
        "sft", "training objective: sft (next-token loss on the response), dpo (direct preference optimisation "
        "on chosen/rejected pairs against the frozen starting model), orpo (odds-ratio preference loss added to "
        "SFT, no reference model), kto (desirable/undesirable completions, or pairs split into both)")
    loss_type: str | None = _option(
        None, "dpo/kto: the loss variant, as the installed TRL accepts it. dpo: sigmoid (default), hinge, ipo, "
        "robust, exo_pair, nca_pair, bco_pair, sppo_hard, aot, aot_unpaired, apo_zero, apo_down, discopop, sft, "
        "sigmoid_norm; a comma list sums several (MPO: sigmoid,bco_pair,sft); robust and exo_pair take their "
        "epsilon from --label_smoothing_factor. kto: kto (default), apo_zero_unpaired")
    beta: float | None = _option(
        None, "dpo/kto: how far the model may move from the reference (higher: closer; IPO's tau); orpo: the "
        "weight of the odds-ratio term (lambda). Default: TRL's, 0.1")
    desirable_weight: float = _option(1.0, "kto: weight of the losses of desirable completions (raise it where "
                                      "they are rarer than undesirable ones)")
    undesirable_weight: float = _option(1.0, "kto: weight of the losses of undesirable completions")


def accepted_loss_types(method: str) -> tuple[str, ...]:
    """The loss names the installed TRL config lists for ``method`` (from its loss_type field's
    declared choices, else the quoted names in its help text); () where it has no loss_type."""
    if method not in LOSS_CONFIGS:
        return ()
    module, name = LOSS_CONFIGS[method]
    # trl pulls in torch and transformers' trainer: imported here to keep the CLI's start-up light.
    config = getattr(importlib.import_module(module), name)
    item = next((f for f in dataclasses.fields(config) if f.name == "loss_type"), None)
    if item is None:
        return ()
    choices = item.metadata.get("choices")
    return tuple(choices) if choices else tuple(re.findall(r"`'([a-z0-9_]+)'`", item.metadata.get("help", "")))


def loss_types(args: PreferenceArguments) -> list[str] | None:
    """``--loss_type`` as a list of names checked against the installed TRL, or None (TRL's default)."""
    if args.loss_type is None:
        return None
    names = [n.strip() for n in args.loss_type.split(",") if n.strip()]
    if args.method not in LOSS_CONFIGS:
        raise StageError(f"--loss_type {args.loss_type}: only --method dpo or kto has loss variants "
                         f"(this run: --method {args.method})")
    known = accepted_loss_types(args.method)
    unknown = [n for n in names if known and n not in known]
    if unknown or not names:
        raise StageError(f"--loss_type {args.loss_type}: --method {args.method} takes "
                         f"{', '.join(known) or 'no loss variants'} (installed TRL)")
    if args.method == "kto" and len(names) > 1:
        raise StageError(f"--loss_type {args.loss_type}: kto takes one loss, not a list")
    return names


def check(args: PreferenceArguments) -> None:
    """Flags that belong to another objective stop the run instead of being ignored."""
    if args.method not in METHODS:
        raise StageError(f"--method {args.method}: not one of {', '.join(METHODS)}")
    if args.method == "sft" and args.beta is not None:
        raise StageError("--beta applies to --method dpo, orpo or kto (this run: --method sft)")
    if args.method != "kto" and (args.desirable_weight != 1.0 or args.undesirable_weight != 1.0):
        raise StageError(f"--desirable_weight/--undesirable_weight apply to --method kto "
                         f"(this run: --method {args.method})")
    loss_types(args)
