"""Bytes that autograd keeps for backward (saved activations), counted while a run trains.

:class:`SavedBytes` is a ``torch.autograd.graph.saved_tensors_hooks`` context: every tensor a forward saves
for its backward passes through its pack hook, which records the tensor's storage (each storage once, however
many views of it are saved) until the tensor is freed. ``peak`` is the most bytes alive at once: for a
training step, the activations of the pass with the largest graph (a method whose loss holds a divergence
keeps that divergence's intermediates too). Left out, because they are not per-example activations: the
weights themselves (leaf tensors that require a gradient, and views of them) and autocast's low-precision
copies of them (a cast whose input is a weight).

The figure depends on the kernels that run: on a CPU, transformers' ``sdpa`` attention runs PyTorch's math
path, which keeps the ``[heads, T, T]`` attention probabilities per example, where a GPU's fused (flash /
memory-efficient) kernels keep only ``O(T)`` statistics. CPU figures are therefore upper bounds for a GPU run
of the same model (by about ``heads x T x T x bytes x layers`` per example).
"""

from __future__ import annotations

import weakref

import torch


def _is_weight(t: torch.Tensor) -> bool:
    base = t._base if t._base is not None else t
    if base.is_leaf and base.requires_grad:
        return True
    fn = base.grad_fn
    # autocast's cached cast of a weight: a copy whose only input is the weight's gradient accumulator.
    return fn is not None and fn.name().startswith("ToCopyBackward") and any(
        nxt is not None and type(nxt).__name__ == "AccumulateGrad" for nxt, _ in fn.next_functions
    )


class SavedBytes:
    """Context manager counting the saved-for-backward bytes alive at once (module docstring).

    ``peak``: the maximum in bytes since entry; ``live``: the bytes alive now."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self._refs: dict[int, list[int]] = {}  # storage address -> [bytes, saved tensors alive]
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live -= entry[0]
            del self._refs[key]

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or _is_weight(t):
            return t
        storage = t.untyped_storage()
        key = storage.data_ptr()
        entry = self._refs.get(key)
        if entry is None:
            entry = self._refs[key] = [storage.nbytes(), 0]
            self.live += entry[0]
            self.peak = max(self.peak, self.live)
        entry[1] += 1
        # A view holding the storage: released when autograd drops what it saved.
        holder = t.detach()
        weakref.finalize(holder, self._release, key)
        return holder

    @staticmethod
    def _unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    def __enter__(self) -> "SavedBytes":
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
