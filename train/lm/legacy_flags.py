"""Old flag spellings from the guide's scripts, rewritten for current transformers.

transformers 5 renamed or dropped many TrainingArguments (``--evaluation_strategy``,
``--no_cuda``, ``--warmup_ratio``...). The guide's command lines still use them, so
``rewrite(argv)`` maps each to today's flag, or drops it where nothing replaces it, and
returns one warning line per change, never an error. It also fits the flags to the
machine: ``--tf32`` only where CUDA supports it, ``--use_cpu`` where there is no GPU,
``--report_to`` only with integrations that are installed.
"""
from __future__ import annotations

import importlib.util
import json
import os

import torch

from prep.core.errors import StageError
from train.lm.switches import check_precision, gpu_bf16

# old name -> current name; the value passes through unchanged.
RENAMED = {
    "evaluation_strategy": "eval_strategy",
    "no_cuda": "use_cpu",
    "per_gpu_train_batch_size": "per_device_train_batch_size",
    "per_gpu_eval_batch_size": "per_device_eval_batch_size",
    "push_to_hub_token": "hub_token",
    "push_to_hub_model_id": "hub_model_id",
    "torchdynamo": "torch_compile_backend",
    "xpu_backend": "ddp_backend",
    "gradient_checkpointing": "activation_checkpointing",
    "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs",
    "source_max_length": "source_max_len",  # the guide's prose spells it this way
    "target_max_length": "target_max_len",
}

# old name -> why it is dropped (the flag and its value are removed).
DROPPED = {
    "use_mps_device": "Apple GPUs are used automatically",
    "save_safetensors": "checkpoints are always safetensors",
    "fp16_backend": "mixed precision always uses torch.amp",
    "half_precision_backend": "mixed precision always uses torch.amp",
    "fp16_opt_level": "apex is no longer used",
    "use_ipex": "Intel extension support was removed",
    "jit_mode_eval": "removed from transformers",
    "tpu_num_cores": "set TPU cores in the accelerate config",
    "tpu_metrics_debug": "use --debug tpu_metrics_debug",
    "past_index": "removed from transformers",
    "ray_scope": "removed from transformers",
    "sharded_ddp": "use --fsdp or a recipes/accelerate config",
    "mp_parameters": "removed from transformers",
    "split_batches": "use --accelerator_config",
    "dispatch_batches": "use --accelerator_config",
    "include_tokens_per_second": "removed from transformers",
    "use_legacy_prediction_loop": "removed from transformers",
    "push_to_hub_organization": "use --hub_model_id ORG/NAME",
}

# Old flags whose meaning changed shape (rewritten by _special; --config files accept them too).
SPECIAL = ("adafactor", "include_inputs_for_metrics", "logging_dir", "fsdp_transformer_layer_cls_to_wrap",
           "fsdp_min_num_params", "warmup_ratio")

# --report_to name -> the module that must be importable for it.
INTEGRATIONS = {"wandb": "wandb", "tensorboard": "tensorboard", "mlflow": "mlflow", "comet_ml": "comet_ml",
                "clearml": "clearml", "neptune": "neptune", "trackio": "trackio", "swanlab": "swanlab",
                "dvclive": "dvclive", "codecarbon": "codecarbon", "dagshub": "dagshub"}

TRUE = {"true", "1", "yes", "y", "t", "on"}


def split_groups(argv: list[str]) -> list[list[str]]:
    """[[flag, value, ...], ...]; ``--flag=value`` becomes [flag, value]."""
    out: list[list[str]] = []
    for token in argv:
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            out.append([name, value] if eq else [name])
        elif out:
            out[-1].append(token)
        else:
            out.append([token])
    return out


def name_of(group: list[str]) -> str:
    return group[0][2:].replace("-", "_") if group[0].startswith("--") else ""


def is_true(group: list[str]) -> bool:
    """A bool flag's value: bare means true."""
    return len(group) == 1 or group[1].lower() in TRUE


def _machine() -> dict:
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return {"cuda": cuda, "accelerator": cuda or mps,
            "gpu": gpu_bf16() if cuda else None,  # (has bfloat16, name); CPU autocast runs bf16 anyway
            "tf32": cuda and torch.cuda.get_device_capability()[0] >= 8}


def _special(name: str, group: list[str], ctx: dict, notes: list[str]) -> list[list[str]] | None:
    """Flags whose meaning changed shape; None where ``name`` is not one of them."""
    flag = f"--{name}"
    if name == "adafactor":
        notes.append(f"{flag} is now --optim adafactor")
        return [["--optim", "adafactor"]] if is_true(group) else []
    if name == "include_inputs_for_metrics":
        notes.append(f"{flag} is now --include_for_metrics inputs")
        return [["--include_for_metrics", "inputs"]] if is_true(group) else []
    if name == "logging_dir":
        os.environ["TENSORBOARD_LOGGING_DIR"] = group[1] if len(group) > 1 else ""
        notes.append(f"{flag} is now the TENSORBOARD_LOGGING_DIR environment variable (set)")
        return []
    if name in ("fsdp_transformer_layer_cls_to_wrap", "fsdp_min_num_params"):
        key = name.removeprefix("fsdp_")
        value = group[1:] if key.endswith("wrap") else int(group[1])
        ctx["fsdp_config"][key] = value
        notes.append(f"{flag} now lives in --fsdp_config as {key!r}")
        return []
    if name == "warmup_ratio":
        ctx["warmup_ratio"] = group[1] if len(group) > 1 else "0"
        return []
    if name == "tf32" and is_true(group) and not ctx["machine"]["tf32"]:
        notes.append(f"{flag}: this machine has no CUDA GPU with TF32 (Ampere or newer); ignored")
        return []
    if name == "report_to":
        wanted = [v for value in group[1:] for v in value.replace(",", " ").split()]
        kept = [v for v in wanted if v not in INTEGRATIONS
                or importlib.util.find_spec(INTEGRATIONS[v]) is not None]
        for missing in sorted(set(wanted) - set(kept)):
            notes.append(f"--report_to {missing}: the {INTEGRATIONS[missing]} package is not installed; "
                         "not reporting there")
        return [[flag, *(kept or ["none"])]]
    return None


def _rewrite_group(group: list[str], ctx: dict, notes: list[str]) -> list[list[str]]:
    name = name_of(group)
    special = _special(name, group, ctx, notes)
    if special is not None:
        return special
    if name in DROPPED:
        notes.append(f"--{name} no longer exists ({DROPPED[name]}); ignored")
        return []
    if name in RENAMED:
        new = RENAMED[name]
        notes.append(f"--{name} is now --{new}")
        return [[f"--{new}", *group[1:]]]
    return [group]


def _warmup(groups: list[list[str]], ratio: str, notes: list[str]) -> list[list[str]]:
    """--warmup_ratio R becomes --warmup_steps R (below 1 it is a ratio of the total steps).

    As before, a --warmup_steps above 0 given beside it wins.
    """
    steps = [g for g in groups if name_of(g) == "warmup_steps"]
    if steps and len(steps[-1]) > 1 and float(steps[-1][1]) > 0:
        notes.append(f"--warmup_ratio {ratio} and --warmup_steps {steps[-1][1]} are both given; "
                     "using --warmup_steps as transformers always did")
        return groups
    if float(ratio) >= 1:
        raise StageError(f"--warmup_ratio {ratio}: a ratio must be below 1")
    notes.append(f"--warmup_ratio is now --warmup_steps (a value below 1 is a ratio): --warmup_steps {ratio}")
    return [g for g in groups if name_of(g) != "warmup_steps"] + [["--warmup_steps", ratio]]


def _check_precision(groups: list[list[str]], machine: dict) -> None:
    """The precision flags (the last of each counts) against the machine; the rules are train.lm.switches'."""
    last = {name_of(g): g for g in groups}
    on = {name: name in last and is_true(last[name]) for name in ("bf16", "fp16")}
    check_precision(on["bf16"], on["fp16"], "cuda" if machine["cuda"] else "cpu", machine["gpu"])


def rewrite(argv: list[str], machine: dict | None = None) -> tuple[list[str], list[str]]:
    """(argv for HfArgumentParser, one warning line per change). Raises StageError for
    precision flags the machine cannot honour (fp16 without CUDA, bf16 on an old GPU, both)."""
    machine = _machine() if machine is None else machine
    ctx = {"machine": machine, "fsdp_config": {}}
    notes: list[str] = []
    groups = [new for group in split_groups(argv) for new in _rewrite_group(group, ctx, notes)]
    names = {name_of(g) for g in groups}
    if ctx["fsdp_config"]:
        if "fsdp_config" in names:
            notes.append(f"--fsdp_config is given too: add {ctx['fsdp_config']} to it; the old flags "
                         "were ignored")
        else:
            groups.append(["--fsdp_config", json.dumps(ctx["fsdp_config"])])
    if "warmup_ratio" in ctx:
        groups = _warmup(groups, ctx["warmup_ratio"], notes)
    _check_precision(groups, machine)
    if not machine["accelerator"] and "use_cpu" not in names:
        groups.append(["--use_cpu", "true"])  # TrainingArguments refuses --bf16 on CPU without it
    return [token for group in groups for token in group], notes
