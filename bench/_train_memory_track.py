"""Live tensor bytes of a block of PyTorch code, on any device: the CPU's stand-in for
torch.cuda.max_memory_allocated.

``LiveBytes`` is a dispatch mode: every tensor an operator returns whose storage is new is
counted until that storage is freed (a weak reference's finalizer), so ``peak`` is the
largest sum of live storages the block made: activations saved for backward, gradients,
optimizer states, the logits and every temporary. Storages that existed before (weights,
``known``) and tensors on other kinds of device are not counted. On the CPU it sees what the
CPU kernels allocate, which can differ from CUDA's (other attention or 4-bit kernels); the
allocator's rounding, kernel workspaces and memory outside PyTorch are not in it.
"""
from __future__ import annotations

import weakref


def mode_class():
    """The dispatch mode class (built on first use: torch loads only then)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LiveBytes(TorchDispatchMode):
        def __init__(self, known=(), device_type: str = "cpu"):
            super().__init__()
            self.known = set(known)  # storage addresses that belong to the caller (weights)
            self.device_type = device_type  # only tensors on this kind of device count
            self.live: dict[int, int] = {}
            self.current = self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for value in tree_leaves(out):
                if isinstance(value, torch.Tensor):
                    self._track(value)
            return out

        def _track(self, tensor) -> None:
            if tensor.device.type != self.device_type:
                return  # e.g. host-side views of bitsandbytes' paged (unified memory) optimizer states
            try:
                storage = tensor.untyped_storage()
            except (RuntimeError, NotImplementedError):
                return  # no plain storage (sparse, nested, some tensor subclasses): not counted
            address, size = storage.data_ptr(), storage.nbytes()
            if not size or address in self.live or address in self.known:
                return  # a view, an in-place result, or a weight
            self.live[address] = size
            self.current += size
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._free, address)

        def _free(self, address: int) -> None:
            self.current -= self.live.pop(address, 0)

    return LiveBytes


def storage_addresses(tensors) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in tensors}
