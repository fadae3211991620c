"""The speed switches, each accepted or refused with a message that says what to do instead.

``check_switches`` is called once, before anything loads, by the runner and the classifier:
--attn_implementation, --bf16/--fp16, --torch_compile, --use_liger, --gradient_checkpointing
and --packing. A refusal raises StageError (the CLI prints one line and exits 2); an accepted
switch with a cost worth knowing (compile time) prints one warning line.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field

import torch
import transformers
from transformers.integrations.liger import apply_liger_kernel

from prep.core.errors import StageError
from train.lm.packing import PACKING_MODES

ATTENTIONS = ("eager", "sdpa", "flash_attention_2")


@dataclass
class Switches:
    """What the switches resolved to, and the lines worth telling the user."""
    device: str
    attn_implementation: str
    notes: list[str] = field(default_factory=list)


class AnyModel:
    """Stands for a transformers model whose class is not looked up: transformers decides at load."""
    _supports_sdpa = True
    _supports_flash_attn = True


def model_class_for(path: str, auto: str = "AutoModelForCausalLM", trust_remote_code: bool = False):
    """The class ``transformers.<auto>`` loads for ``path`` (read from its config), or AnyModel for
    code that lives with the model (its class is only known once loaded)."""
    try:
        config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise StageError(f"cannot load {path}: {exc}") from exc
    try:
        return getattr(transformers, auto)._model_mapping[type(config)]
    except KeyError:
        if getattr(config, "auto_map", None):
            return AnyModel
        raise StageError(f"{path}: transformers has no {auto} for {type(config).__name__}") from None


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def device_of(use_cpu: bool = False) -> str:
    return "cuda" if torch.cuda.is_available() and not use_cpu else "cpu"


def resolve_attention(requested: str | None, model_class=None, device: str = "cpu") -> tuple[str, list[str]]:
    """The attention to load with, and notes; StageError where the request cannot be met.

    ``model_class``: the transformers class that will be loaded (its ``_supports_sdpa`` and
    ``_supports_flash_attn`` attributes say what it implements), or None for our own encoder,
    which has sdpa and eager but no flash.
    """
    notes = []
    sdpa_ok = True if model_class is None else bool(getattr(model_class, "_supports_sdpa", False))
    if requested in (None, "", "auto"):
        return ("sdpa" if sdpa_ok else "eager"), notes
    if requested not in ATTENTIONS:
        raise StageError(f"--attn_implementation {requested}: choose one of {', '.join(ATTENTIONS)}")
    if requested == "sdpa" and not sdpa_ok:
        notes.append(f"{model_class.__name__} has no SDPA attention; using eager")
        return "eager", notes
    if requested == "flash_attention_2":
        missing = [what for what, ok in (("the flash-attn package", installed("flash_attn")),
                                         ("a CUDA GPU", device == "cuda")) if not ok]
        if model_class is None:
            missing.append("a transformers model (the scratch encoder has sdpa and eager only)")
        elif not getattr(model_class, "_supports_flash_attn", False):
            missing.append(f"a model that implements it ({model_class.__name__} does not)")
        if missing:
            raise StageError(f"--attn_implementation flash_attention_2 needs {' and '.join(missing)}; "
                             "use --attn_implementation sdpa (PyTorch's fused attention, which picks a "
                             "flash kernel itself on a GPU where it can)")
    return requested, notes


def gpu_bf16() -> tuple[bool, str]:
    """(whether this CUDA GPU computes in bfloat16, its name)."""
    return torch.cuda.is_bf16_supported(), torch.cuda.get_device_name()


def check_precision(bf16: bool, fp16: bool, device: str, gpu: tuple[bool, str] | None = None) -> None:
    """Mixed precision: fp16 needs CUDA; bf16 needs a GPU with bf16 (Ampere or newer) or the CPU.

    ``gpu``: what ``gpu_bf16()`` returns, where the caller has already asked (None: ask torch,
    only when it matters).
    """
    if bf16 and fp16:
        raise StageError("--bf16 and --fp16 are both set; choose one")
    if fp16 and device != "cuda":
        raise StageError("--fp16 mixed precision needs a CUDA GPU (its loss scaler is CUDA-only); on the "
                         "CPU use --bf16 or leave both off")
    if bf16 and device == "cuda":
        supported, name = gpu or gpu_bf16()
        if not supported:
            raise StageError(f"--bf16: this GPU ({name}) has no bfloat16 support (it needs Ampere or newer); "
                             "use --fp16")


def check_liger(device: str) -> None:
    """--use_liger needs the liger-kernel package and a CUDA GPU (its kernels are Triton)."""
    missing = [what for what, ok in (("the liger-kernel package (pip install liger-kernel)", installed("liger_kernel")),
                                     ("a CUDA GPU", device == "cuda")) if not ok]
    if missing:
        raise StageError(f"--use_liger needs {' and '.join(missing)}; drop --use_liger to train without "
                         "the fused kernels")


def apply_liger(model) -> None:
    """Liger's fused RMSNorm, RoPE, SwiGLU and linear+cross-entropy on the model, in place.

    Goes through transformers' own integration, which unwraps a PEFT model and picks the
    kernels for the architecture from the model's type.
    """
    apply_liger_kernel(model, {})


def check_packing(packing: str | None, task: str) -> None:
    if packing in (None, "", "none"):
        return
    if packing not in PACKING_MODES:
        raise StageError(f"--packing {packing}: choose one of none, {', '.join(PACKING_MODES)}")
    if task != "causal-lm":
        raise StageError(f"--packing {packing} is for causal LM training; --task {task} pools each example "
                         "on its own, so use --group_by_length to cut padding instead")


def check_switches(*, attn_implementation: str | None, bf16: bool = False, fp16: bool = False,
                   torch_compile: bool = False, use_liger: bool = False,
                   packing: str | None = None, task: str = "causal-lm", model_class=None,
                   use_cpu: bool = False, quiet: bool = False) -> Switches:
    """Every switch checked; refusals raise StageError, notes are printed unless ``quiet``.

    --gradient_checkpointing needs no check: every setting accepts it (transformers says so
    when a model lacks it)."""
    device = device_of(use_cpu)
    attn, notes = resolve_attention(attn_implementation, model_class, device)
    check_precision(bf16, fp16, device)
    if use_liger:
        check_liger(device)
    check_packing(packing, task)
    if torch_compile:
        notes.append("--torch_compile: the first steps compile the model (tens of seconds to minutes) "
                     "before training runs at full speed")
    for note in notes if not quiet else ():
        print(f"tunesmith: warning: {note}", file=sys.stderr)
    return Switches(device=device, attn_implementation=attn, notes=notes)


def settle_runner(model_args, data_args, training_args, quiet: bool = False) -> Switches:
    """The causal LM runner's switches checked before anything loads; the resolved attention and
    Liger choice written back (the Trainer applies Liger itself, through use_liger_kernel)."""
    use_liger = bool(getattr(model_args, "use_liger", False) or training_args.use_liger_kernel)
    model_class = AnyModel
    if model_args.attn_implementation == "flash_attention_2":  # what the model implements matters only here
        model_class = model_class_for(model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code)
    result = check_switches(
        attn_implementation=model_args.attn_implementation, bf16=training_args.bf16, fp16=training_args.fp16,
        torch_compile=training_args.torch_compile, use_liger=use_liger,
        packing=getattr(data_args, "packing", None),
        model_class=model_class, use_cpu=training_args.use_cpu, quiet=quiet)
    model_args.attn_implementation = result.attn_implementation
    training_args.use_liger_kernel = use_liger
    return result
