"""LoRA's defaults and target names: one source for the runner and `tunesmith estimate`.

``--lora_target_modules`` is a comma list of module leaf names, ``all-linear`` (every linear
layer but the output layer, PEFT's rule), or nothing: PEFT's choice for the architecture
(its table by ``model_type``, e.g. q_proj and v_proj for Llama). The estimate reads the same
table, so it describes the run that the same flags launch.
"""
from __future__ import annotations

from prep.core.errors import StageError

RANK = 4          # r: the runner's default (the guide's LoRA command)
ALPHA = 32        # the update is scaled by alpha / r
DROPOUT = 0.05    # on each adapter's input
ALL_LINEAR = "all-linear"


def parse_targets(spec: str | None):
    """None (PEFT's choice), ``"all-linear"``, or a list of leaf names."""
    if spec is None or not spec.strip():
        return None
    if spec.strip() == ALL_LINEAR:
        return ALL_LINEAR
    return [t.strip() for t in spec.split(",") if t.strip()]


def default_targets(model_type: str | None) -> list[str]:
    """The leaf names PEFT adapts when no targets are given, for this ``model_type``."""
    # peft pulls in torch: imported here so that the CLI starts without it.
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    names = PEFT_TARGETS.get(model_type or "")
    if not names:
        raise StageError(f"PEFT has no default LoRA targets for model_type {model_type!r}: pass "
                         "--lora_target_modules (all-linear, or names from `tunesmith models list-modules`)")
    return [name.rsplit(".", 1)[-1] for name in names]


def scaling(alpha: float, rank: int, rslora: bool = False) -> float:
    """What PEFT multiplies the update B @ A by: alpha / r, or alpha / sqrt(r) with rsLoRA
    (Kalajdzievski 2023: keeps the update's size steady as r grows)."""
    return alpha / (rank ** 0.5 if rslora else rank)


def peft_config(lora_args, targets):
    """PEFT's LoraConfig for the runner's flags (``targets`` as parse_targets returns them)."""
    # peft pulls in torch: imported here so that the CLI starts without it.
    from peft import LoraConfig

    return LoraConfig(r=lora_args.lora_rank, lora_alpha=lora_args.lora_alpha, lora_dropout=lora_args.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM",
                      use_dora=lora_args.use_dora, use_rslora=lora_args.use_rslora)
