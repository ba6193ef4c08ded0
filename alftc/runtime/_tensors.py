"""Optional torch support without importing torch.

torch is imported only after a caller has passed a torch tensor, which means
torch is already loaded. Detection looks at the type's module name, so plain
numpy callers never import it.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["is_torch_tensor", "to_numpy", "from_numpy_like"]


def is_torch_tensor(value) -> bool:
    """Return True for a torch tensor, without importing torch."""
    return type(value).__module__.startswith("torch") and hasattr(value, "device")


def to_numpy(value):
    """Return ``value`` as a numpy array; a tensor is detached and copied to the CPU."""
    if is_torch_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def from_numpy_like(result, like):
    """Return ``result`` as a tensor on ``like``'s device when ``like`` is a tensor, else as is."""
    if not is_torch_tensor(like):
        return result
    torch = sys.modules["torch"]
    return torch.from_numpy(np.ascontiguousarray(result)).to(like.device)
