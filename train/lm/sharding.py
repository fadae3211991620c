"""Sharded training (FSDP, DeepSpeed ZeRO) checked against the machine before anything loads.

FSDP needs an accelerator: on the CPU, accelerate quietly trains the processes of an FSDP
config as plain DDP (every process holding the whole model, unsharded checkpoints), and
with fsdp_sync_module_states (recipes/accelerate/fsdp.yaml) it stops after the model has
loaded with "no available devices". ``check_fsdp`` refuses both, before the model loads,
and names what works on the CPU instead.

DeepSpeed ZeRO-2/3 does run on the CPU over gloo (recipes/accelerate/deepspeed_zero*_cpu.yaml),
but its communication backend first compiles a C++ shared-memory allreduce with the
machine's compiler (a minute or more, and it fails where no compiler is installed).
``prepare_deepspeed`` marks that op unavailable so that DeepSpeed uses gloo's own
collectives; TUNESMITH_DEEPSPEED_SHM=1 lets DeepSpeed build it.
"""
from __future__ import annotations

import os

import torch

from prep.core.errors import StageError

SHM_ENV = "TUNESMITH_DEEPSPEED_SHM"
CPU_RECIPES = ("recipes/accelerate/cpu_ddp.yaml (replicated weights) or recipes/accelerate/"
               "deepspeed_zero3_cpu.yaml (weights, gradients and optimizer states sharded over gloo)")


def _flag(environ, name: str) -> bool:
    return environ.get(name, "false").lower() in ("1", "true", "yes")


def sharding_device() -> str | None:
    """The accelerator FSDP can shard on ('cuda', 'xpu'...), or None on a CPU-only machine."""
    if torch.cuda.is_available():
        return "cuda"
    for name in ("xpu", "npu", "mlu", "musa"):
        backend = getattr(torch, name, None)
        if backend is not None and getattr(backend, "is_available", lambda: False)():
            return name
    return None


def fsdp_requested(training_args, environ=None) -> bool:
    """An FSDP accelerate config (the launcher sets ACCELERATE_USE_FSDP) or --fsdp."""
    environ = os.environ if environ is None else environ
    return _flag(environ, "ACCELERATE_USE_FSDP") or bool(getattr(training_args, "fsdp", None))


def check_fsdp(training_args, environ=None, device: str | None = "detect") -> None:
    """StageError where FSDP is asked for but would not shard (CPU, or --use_cpu)."""
    environ = os.environ if environ is None else environ
    if not fsdp_requested(training_args, environ):
        return
    device = sharding_device() if device == "detect" else device
    on_cpu = device is None or training_args.use_cpu or _flag(environ, "ACCELERATE_USE_CPU")
    if not on_cpu:
        return
    processes = int(environ.get("WORLD_SIZE", "1") or 1)
    became = (f"would train its {processes} processes as plain DDP, each holding the whole model"
              if processes > 1 else "would train one unsharded process")
    sync = " (and fsdp_sync_module_states stops it after loading: no available devices)" \
        if _flag(environ, "FSDP_SYNC_MODULE_STATES") else ""
    where = "this machine has no GPU" if device is None else "--use_cpu is set"
    raise StageError(f"FSDP needs GPUs and {where}: accelerate {became}{sync}. On the CPU use "
                     f"{CPU_RECIPES}; on GPUs, recipes/accelerate/fsdp.yaml")


def deepspeed_requested(environ=None, argv=()) -> bool:
    """A DeepSpeed accelerate config (the launcher sets ACCELERATE_USE_DEEPSPEED) or --deepspeed."""
    environ = os.environ if environ is None else environ
    return _flag(environ, "ACCELERATE_USE_DEEPSPEED") or any(a.split("=")[0] == "--deepspeed" for a in argv)


def prepare_deepspeed(environ=None, argv=()) -> bool:
    """DeepSpeed present where asked for; on the CPU kept from compiling its shared-memory
    allreduce. True where that op was turned off."""
    environ = os.environ if environ is None else environ
    if not deepspeed_requested(environ, argv):
        return False
    try:
        import deepspeed.ops  # optional (pip install 'tunesmith[deepspeed]'), and seconds to import
    except ImportError as exc:
        raise StageError("a DeepSpeed config needs the deepspeed package: pip install 'tunesmith[deepspeed]' "
                         "(or pip install deepspeed), or launch with recipes/accelerate/multi_gpu.yaml") from exc
    if sharding_device() is not None or _flag(environ, SHM_ENV):
        return False
    # deepspeed/comm/torch.py builds the op only where this table, probed once and kept in
    # one dict, says it is compatible.
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    return True
