"""PyTorch: the few `keras.ops` the probes' reductions use, as plain torch calls.

On the torch backend each `keras.ops` call converts and checks its
arguments in Python, tens of microseconds apiece; a layer's statistics take
about thirty of them, more than a small layer's own forward pass. Here the
same names, with the same meaning for the arguments the probes pass, call
torch directly.

Example:
    >>> ops = ops_for(tensor)          # TORCH_OPS for a torch tensor, else keras.ops
    >>> ops.sum(ops.cast(ops.isnan(tensor), "float32"))
"""

from __future__ import annotations


class TorchOps:
    """`keras.ops` names the probes use, on torch tensors (no argument conversion).

    Example:
        >>> TORCH_OPS.max(torch.ones(2, 3), axis=(0,)).shape
        torch.Size([3])
    """

    def __init__(self):
        import torch

        self.torch = torch
        for name in ("isfinite", "isnan", "isinf", "where", "zeros_like", "abs", "logical_and", "logical_or",
                     "stack", "sum", "mean"):
            setattr(self, name, getattr(torch, name))

    def cast(self, x, dtype: str):
        if not isinstance(x, self.torch.Tensor):
            return self.torch.tensor(x, dtype=getattr(self.torch, dtype))
        return x.to(getattr(self.torch, dtype))

    def size(self, x) -> int:
        return x.numel()

    def equal(self, x, y):
        return x == y

    def max(self, x, axis=None):
        return self.torch.amax(x) if axis is None else self.torch.amax(x, dim=axis)

    def min(self, x, axis=None):
        return self.torch.amin(x) if axis is None else self.torch.amin(x, dim=axis)

    def convert_to_tensor(self, value):
        return self.torch.tensor(value)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def convert_to_numpy(self, x):
        return x.detach().cpu().numpy()


TORCH_OPS = None


def ops_for(tensor):
    """`TORCH_OPS` for a torch tensor, else `keras.ops`.

    Example:
        >>> ops_for(jax_array) is keras.ops
        True
    """
    global TORCH_OPS
    if type(tensor).__module__.startswith("torch"):
        if TORCH_OPS is None:
            TORCH_OPS = TorchOps()
        return TORCH_OPS
    import keras

    return keras.ops
