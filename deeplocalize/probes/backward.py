"""Gradients seen from outside the step, on JAX and PyTorch: noted as the step runs.

Where the outside observer watches a JAX or PyTorch run (see
`deeplocalize.probes.outside`), the step still passes through two places
the callback can reach without changing what it computes:

- the optimizer's gradient application (``optimizer.stateless_apply`` in
  Keras's JAX step, ``optimizer.apply`` in its PyTorch step), wrapped on
  the instance: each probed layer's trainable-weight gradients are reduced
  to the numbers the in-step probes record (`WEIGHT_GRAD_STATS`), and the
  gradients go on to the optimizer untouched;
- each probed layer's output (`BackwardCapture.tap`, called from the
  forward wrapper of `deeplocalize.probes.forward`): on JAX an identity
  with a custom VJP whose backward rule reduces the cotangent it passes on
  unchanged; on PyTorch a ``Tensor.register_hook`` that reads the gradient
  and returns nothing (for a softmax/sigmoid output whose cross-entropy
  Keras takes from its logits, the logits' gradient, as the probes do).

The numbers reach the host through one ``jax.debug.callback`` per recorded
step from inside the jitted step, at the gradient application (the output
gradients' statistics, computed by the backward rules earlier in the same
trace, go with it), and on the other steps only when a gradient holds a
NaN or Inf (see `ForwardCapture.mode`); eagerly on PyTorch. Weight gradients are reduced from the
same strided sample as the probes' (`_sample_stride`), output gradients
whole. A failure in any of this is kept in ``error`` (the observer warns
once) and the capture stops noting; the step runs on as written.

Example:
    >>> backward = BackwardCapture(layers)
    >>> backward.install(model); backward.begin_step(); ...
    >>> outputs, weights = backward.end_step()   # {layer: OUTPUT_GRAD_STATS}, array (layers, 3)
"""

from __future__ import annotations

import functools

import numpy as np

from deeplocalize.probes.forward import _is_float
from deeplocalize.probes.jax_step import call_host, gated
from deeplocalize.probes.sampling import _sample_stride

OUTPUT_GRAD_STATS = ("grad_norm", "grad_nan", "grad_inf")  # names as in `LAYER_STATS`
WEIGHT_GRAD_STATS = ("gw_norm", "gw_nan", "gw_inf")
_APPLY = {"jax": "stateless_apply", "torch": "apply"}  # what Keras's own step hands the gradients to


def can_watch_gradients(model) -> str | None:
    """Why the gradients cannot be noted from outside on ``model``'s backend, or None.

    Example:
        >>> can_watch_gradients(model)     # KERAS_BACKEND=jax
        >>> can_watch_gradients(model)     # KERAS_BACKEND=tensorflow, run_eagerly=True
        'the tensorflow backend: gradients are seen by the in-step probes only'
    """
    import keras

    backend = keras.backend.backend()
    if backend not in _APPLY:
        return f"the {backend} backend: gradients are seen by the in-step probes only"
    if getattr(model, "optimizer", None) is None:
        return "the model has no optimizer"
    return None


class BackwardCapture:
    """Notes each probed layer's weight and output gradients during training steps.

    Example:
        >>> backward.begin_step()
        >>> model.train_function(...)                  # the user's step, unchanged
        >>> outputs, weights = backward.end_step()
    """

    def __init__(self, layers):
        import keras

        self.layers = layers
        self.active = False
        self.error: BaseException | None = None
        self._backend = keras.backend.backend()
        self._optimizer = None
        self._orig_apply = None
        self._owner: dict[int, int] = {}
        self._identities: dict[int, object] = {}
        self._outputs: dict[int, list] = {}
        self._weights: list = []
        self._stash: list = []  # JAX, while a step is traced: (layer index, its output gradient's statistics)
        self.mode = "all"  # JAX, while a step is traced: as `ForwardCapture.mode`
        self.record = True  # ...and as `ForwardCapture.record`
        self.outbox = None  # JAX, a recorded step being traced to return them: its gradients' statistics
        self.host_calls = True  # JAX: whether the step just run may have called the host (set by the forward capture)
        self.seen = {"outputs": False, "weights": False}  # whether any arrived, ever
        self._full = True  # False: PyTorch, a step not recorded (see `begin_step`)

    # ---- wrapping ----------------------------------------------------------------
    def install(self, model) -> None:
        """Wrap the optimizer's gradient application (before the train function is traced)."""
        self._owner = {}
        for i, layer in enumerate(self.layers):
            for v in layer.trainable_weights:
                self._owner.setdefault(id(v), i)
        self._variables = list(model.trainable_variables)
        optimizer, name = model.optimizer, _APPLY[self._backend]
        if self._optimizer is not optimizer:
            self.uninstall()
            self._optimizer, self._orig_apply = optimizer, optimizer.__dict__.get(name)
            setattr(optimizer, name, self._wrap_apply(getattr(optimizer, name)))

    def uninstall(self) -> None:
        """Give the optimizer back its own gradient application."""
        self.active = False
        optimizer, self._optimizer = self._optimizer, None
        if optimizer is None:
            return
        name = _APPLY[self._backend]
        if self._orig_apply is None:
            optimizer.__dict__.pop(name, None)
        else:
            setattr(optimizer, name, self._orig_apply)
        self._orig_apply = None

    def _wrap_apply(self, apply):
        capture = self

        @functools.wraps(apply)
        def apply_and_note(*args, **kwargs):
            if capture.active and capture.error is None:
                capture._guard(capture._note_weights, *args, **kwargs)
            return apply(*args, **kwargs)

        return apply_and_note

    def _guard(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # never the user's step: noted, and the capture stops
            self.error = self.error or exc
            return None

    # ---- weight gradients ---------------------------------------------------------
    def _note_weights(self, *args, **kwargs) -> None:
        if self._backend == "jax":  # stateless_apply(optimizer_variables, grads, trainable_variables)
            grads = args[1] if len(args) > 1 else kwargs["grads"]
            variables = self._variables
        else:  # apply(grads, trainable_variables=None)
            grads = args[0] if args else kwargs["grads"]
            variables = args[1] if len(args) > 1 else kwargs.get("trainable_variables")
            variables = self._variables if variables is None else variables
        grads = list(grads)
        if len(grads) != len(variables):
            return
        ids = [self._owner.get(id(v), -1) for v in variables]
        if self.mode == "out":  # JAX, one compiled step for all: the reductions only on recorded steps
            owners = [i for g, i in zip(grads, ids) if g is not None and i >= 0]
            stats = gated(self.record, lambda: _weight_sums(grads, ids)[0], (len(owners), 3)) if owners else None
        else:
            stats, owners = _weight_sums(grads, ids, light=not self._full)
        if stats is None:
            return
        if self._backend != "jax":
            self._receive_weights(owners, stats)
            return
        import jax

        stash, self._stash = [(i, t) for i, t in self._stash if t is not None], []
        if self.mode == "out":  # returned by the step (see deeplocalize.probes.jax_step)
            self.outbox = ([i for i, _ in stash], owners, stats, [t for _, t in stash])
            return

        def send(with_outputs=True):
            kept = stash if with_outputs else []
            jax.debug.callback(functools.partial(self._on_host, [i for i, _ in kept], owners), stats,
                               *[t for _, t in kept])

        try:  # one callback for the step's gradients, the outputs' included
            call_host(self.mode, send, [stats[:, 1:]] + [t[1:] for _, t in stash])
        except Exception:  # the outputs' statistics belong to another trace: the weights' alone
            call_host(self.mode, lambda: send(with_outputs=False), [stats[:, 1:]])

    def _on_host(self, indices, owners, weights, *outputs) -> None:
        self._guard(self._receive_weights, owners, np.asarray(weights))
        for i, values in zip(indices, outputs):
            self._guard(self._receive_output, i, np.asarray(values))

    def _receive_weights(self, owners, stats) -> None:
        if self.active:
            self._weights.append((owners, stats))

    # ---- output gradients ---------------------------------------------------------
    def tap(self, index: int, outputs):
        """``outputs`` with its first float tensor's gradient noted in the
        backward pass (the same values; on PyTorch the very same tensors)."""
        if not self.active or self.error is not None:
            return outputs
        tapped = self._guard(self._tap, index, outputs)
        return outputs if tapped is None else tapped

    def _tap(self, index, outputs):
        import keras

        flat = keras.tree.flatten(outputs)
        k = next((k for k, t in enumerate(flat) if _is_float(t)), None)
        if k is None:
            return outputs
        if self._backend == "torch":
            target = getattr(flat[k], "_keras_logits", None)
            target = flat[k] if target is None else target
            if target.requires_grad:
                target.register_hook(functools.partial(self._torch_hook, index))
            return outputs
        original, flat[k] = flat[k], self._identity(index)(flat[k])
        return flat[k] if original is outputs else keras.tree.pack_sequence_as(outputs, flat)

    def _identity(self, index):
        """The identity whose backward rule notes layer ``index``'s cotangent's
        statistics, for the step's host callback (see `_note_weights`)."""
        identity = self._identities.get(index)
        if identity is None:
            import jax

            identity = jax.custom_vjp(lambda x: x)

            def backward(_, g):
                # Kept (a tracer of the step being traced) for the gradient application, which the
                # step reaches later: its one host callback, or the step's outputs (mode "out").
                if self.mode == "out":
                    self._stash.append((index, self._guard(gated, self.record, lambda: _sums(g), (3,))))
                else:
                    self._stash.append((index, self._guard(_sums, g)))
                return (g,)

            identity.defvjp(lambda x: (x, None), backward)
            self._identities[index] = identity
        return identity

    def _torch_hook(self, index, grad):
        if self.active and self.error is None:
            import torch

            g = grad.detach()
            self._guard(self._receive_output, index, _sums(g) if self._full else g.sum(dtype=torch.float32))
        return None

    def _receive_output(self, index, stats) -> None:
        if self.active:
            self._outputs.setdefault(index, []).append(stats)

    # ---- per step ---------------------------------------------------------------------
    def begin_step(self, record: bool = True) -> None:
        """Note the coming step; on PyTorch, a step not ``record``-ed takes one sum
        per gradient (non-finite exactly when the gradient holds a NaN or Inf,
        or its sum overflows), not its norm and counts (see `_light`)."""
        self._outputs, self._weights, self._stash = {}, [], []
        self._full = record or self._backend != "torch"
        self.active = True

    def end_step(self) -> tuple[dict, np.ndarray | None]:
        """``({layer index: OUTPUT_GRAD_STATS}, (layers, WEIGHT_GRAD_STATS) array or None)``
        of the step(s) since `begin_step`: norms averaged over several calls
        (replicas, steps of one execution), counts summed."""
        if self._backend == "jax" and self.host_calls:
            import jax

            jax.effects_barrier()  # the host callbacks of the step have all run
        self.active = False
        try:
            got = _numpy([s for i in sorted(self._outputs) for s in self._outputs[i]] + [s for _, s in self._weights])
        except Exception as exc:
            self.error = self.error or exc
            return {}, None
        got = got if self._full else [_light(v) for v in got]
        outputs = {}
        for i in sorted(self._outputs):
            n = len(self._outputs[i])
            outputs[i], got = _combine([_rooted(v) for v in got[:n]]), got[n:]
        weights = _combine([_per_layer(o, v, len(self.layers)) for (o, _), v in zip(self._weights, got)]) \
            if got else None
        self.seen["outputs"] |= bool(outputs)
        self.seen["weights"] |= weights is not None
        return outputs, weights


def _combine(stats: list) -> np.ndarray:
    """One set of statistics from several: the first (norm) column averaged, counts summed."""
    if len(stats) == 1:
        return stats[0]
    stats = np.stack(stats)
    out = stats.sum(axis=0)
    out[..., 0] = stats[..., 0].mean(axis=0)
    return out


def _light(sums: np.ndarray) -> np.ndarray:
    """`_sums`' ``[sum of squares, NaN count, Inf count]`` from a plain sum (a
    step not recorded, on PyTorch): ``[NaN, 1 if it is NaN, 1 if it is
    infinite]``, whether the gradient held a NaN or an Inf, not how many (an
    Inf beside a -Inf reads as a NaN, an overflowing sum as an Inf)."""
    sums = np.asarray(sums, dtype=float)[..., None]
    return np.concatenate([np.full_like(sums, np.nan), np.isnan(sums), np.isinf(sums)], axis=-1).astype(float)


def _rooted(sums: np.ndarray) -> np.ndarray:
    """``[sum of squares, NaN, Inf]`` -> ``[norm, NaN, Inf]``."""
    out = np.array(sums, dtype=float)
    out[..., 0] = np.sqrt(out[..., 0])
    return out


def _per_layer(owners: list, sums: np.ndarray, n_layers: int) -> np.ndarray:
    """`WEIGHT_GRAD_STATS` per layer from each weight's sums (``owners[k]``:
    the layer of row ``k``); the norm NaN for a layer without a weight gradient."""
    out = np.zeros((n_layers, 3))
    np.add.at(out, owners, sums)
    out[:, 0] = np.sqrt(out[:, 0])
    out[np.bincount(owners, minlength=n_layers) == 0, 0] = np.nan
    return out


def _numpy(stats: list) -> list:
    """Each of ``stats`` (numpy from a host callback, or tensors) as a float64
    array; tensors are copied to the host together, once."""
    import keras

    if not stats or all(isinstance(s, np.ndarray) for s in stats):
        return [np.asarray(s, dtype=float) for s in stats]
    if _is_torch(stats[0]):
        import torch

        flat = torch.cat([s.reshape(-1) for s in stats]).cpu().numpy().astype(float)
    else:
        ops = keras.ops
        flat = np.asarray(ops.convert_to_numpy(ops.concatenate([ops.reshape(s, (-1,)) for s in stats])), dtype=float)
    out, at = [], 0
    for s in stats:
        size = int(np.prod(s.shape))
        out.append(flat[at:at + size].reshape(tuple(s.shape)))
        at += size
    return out


def _sums(g, stride: int = 1):
    """``[sum of squares, NaN count, Inf count]`` of ``g`` (every ``stride``-th
    value of it, the sums times ``stride``) as one float32 vector: one
    reduction (keras.ops only); the host takes the root."""
    if _is_torch(g):  # eager: torch's own ops (keras.ops would cost more than they do)
        import torch

        flat = g.detach().reshape(-1)[::stride].float()
        sums = torch.stack([flat.square().sum(), flat.isnan().sum().float(), flat.isinf().sum().float()])
    elif type(g).__module__.startswith("jax"):  # one variadic reduction: XLA copies a stack first
        import jax

        flat = g.reshape(-1)[::stride].astype("float32")
        terms = (jax.numpy.square(flat), jax.numpy.isnan(flat).astype("float32"),
                 jax.numpy.isinf(flat).astype("float32"))
        sums = jax.numpy.stack(jax.lax.reduce(terms, (jax.numpy.float32(0),) * 3,
                                              lambda x, y: tuple(a + b for a, b in zip(x, y)), (0,)))
    else:
        import keras

        ops = keras.ops
        flat = ops.cast(ops.reshape(g, (-1,)), "float32")
        flat = flat[::stride] if stride > 1 else flat
        sums = ops.sum(ops.stack([ops.square(flat), ops.cast(ops.isnan(flat), "float32"),
                                  ops.cast(ops.isinf(flat), "float32")]), axis=1)
    return sums * float(stride) if stride > 1 else sums


def _weight_sums(grads, owners, light: bool = False):
    """``(array (weights, 3) of `_sums`, the probed layer of each)`` over the
    weight gradients a probed layer owns, each from the strided sample the
    probes take (`_sample_stride`); ``(None, [])`` when there is none.
    ``light`` (PyTorch, a step not recorded): each sample's plain sum instead
    (see `_light`)."""
    import keras

    kept = [(g, i) for g, i in zip(grads, owners) if g is not None and i >= 0]
    if not kept:
        return None, []
    if light:
        import torch

        rows = [g.detach().reshape(-1)[::_sample_stride(g.shape) if len(g.shape) else 1].sum(dtype=torch.float32)
                for g, _ in kept]
    else:
        rows = [_sums(g, _sample_stride(g.shape) if len(g.shape) else 1) for g, _ in kept]
    owners = [i for _, i in kept]
    if _is_torch(rows[0]):
        import torch

        return torch.stack(rows), owners
    return keras.ops.stack(rows), owners


def _is_torch(t) -> bool:
    return type(t).__module__.startswith("torch")
