"""Forward values seen from outside the step: each layer's output, noted as the step runs.

Where the outside observer watches (see `deeplocalize.probes.outside`), the
layers' outputs can still be seen where the step runs layer by layer in
Python (PyTorch, ``run_eagerly=True``) or is traced (JAX; a TensorFlow
graph not compiled with XLA, e.g. a model's own ``train_step``): each
probed layer's ``call`` is wrapped (on the instance, as the in-step probes
do) to reduce its output to a few numbers with ``keras.ops``, which the
wrapper hands to the host (eagerly, or from inside the compiled step
through ``jax.debug.callback`` or ``tf.numpy_function``). Where the step
runs once per replica (``tf.distribute``) or several times per call
(``steps_per_execution``), the numbers are combined: NaN/Inf counts summed,
extrema over all, the rest averaged. The layer's output itself is returned untouched, so
the step computes exactly what it did. Only training steps are noted: the
wrapper is active between the callback's batch hooks.

Every statistic is taken on recorded steps only (``begin_step(record=True)``);
on the other steps only the outputs' NaN/Inf counts, so a NaN is still named
to its layer on the step it appears. On JAX the statistics of a recorded
step leave the compiled step as extra outputs, and the other steps run the
model's own step, checked for a NaN/Inf in its loss and updated weights and
replayed as a recorded one when it holds one (see
`deeplocalize.probes.jax_step`). Run eagerly (PyTorch, ``run_eagerly=True``),
the counts are copied to the host once per step.

Example:
    >>> capture = ForwardCapture(layers, activations, saturation_eps=0.01)
    >>> capture.install(model); capture.begin_step(); ...; stats, order = capture.end_step()
"""

from __future__ import annotations

import functools
import weakref

import numpy as np

from deeplocalize.probes.jax_step import call_host, gated
from deeplocalize.probes.stats import _flatten
from deeplocalize.probes.forward_stats import FORWARD_STATS, _reduce
from deeplocalize.probes.torch_ops import ops_for

# One capture per model, reused by later fits: a compiled train function
# traced with the wrappers calls back into the capture it was traced with.
_CAPTURES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def can_capture(model) -> str | None:
    """Why the forward values cannot be seen on ``model``'s backend and
    settings, or None when they can.

    Example:
        >>> model.compile("adam", "mse", jit_compile=True); can_capture(model)   # TensorFlow
        'XLA (jit_compile=True) compiles the step as one graph'
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return None
    if backend == "torch":
        return "torch.compile (jit_compile=True) runs the layers as one graph" if model.jit_compile is True else None
    if getattr(model, "run_eagerly", False):
        return None
    if model.jit_compile is True:
        return "XLA (jit_compile=True) compiles the step as one graph"
    return None


class ForwardCapture:
    """Notes each probed layer's output statistics during training steps.

    Example:
        >>> capture.begin_step()
        >>> model.train_function(...)            # the user's step, unchanged
        >>> stats, order = capture.end_step()    # {layer index: FORWARD_STATS values}, call order
    """

    def __init__(self, layers, activations, saturation_eps: float = 0.01):
        import keras

        self.layers = layers
        self.activations = activations
        self.saturation_eps = float(saturation_eps)
        self.active = False
        self._backend = keras.backend.backend()
        self._jax = self._backend == "jax"
        self._orig_calls: dict[int, object] = {}
        self._seen: dict[int, np.ndarray] = {}
        self._order: list[int] = []
        self._counts: dict[int, int] = {}
        self._plain = None
        # (the plain train function, the one traced with the wrappers: on JAX it runs the
        # step compiled for the mode `begin_step` asked for)
        self._compiled = None
        # JAX, while a step is traced: "out" (statistics returned, computed where `record`
        # holds) or, calling the host, "all" statistics or "nonfinite" ones only
        # (see deeplocalize.probes.jax_step)
        self.mode, self.record = "all", True
        self._record, self._light = True, []  # eager: whether this step is recorded; else its NaN/Inf counts
        self._want = "all"
        self._host_calls = True  # JAX: whether the step just run may have called the host
        self.outbox: list = []  # JAX, a recorded step being traced: (layer index, statistics) to return
        self.layout = ([], None)  # JAX: the layer indices of those outputs (and the gradients'), set when traced
        # JAX, a step returning its statistics: each trainable weight's, the labels' (see jax_step)
        self.weight_stats = self.label_moments = None
        self.packing = None  # JAX: how that step's outputs were packed in one vector, set when traced
        self.unsettled = None  # JAX: what reads the last step's outputs, not called yet
        self.replay_faults = True  # JAX: replay a step not recorded whose loss or weights turn non-finite
        self.precompile = False  # JAX: steps not recorded are to come (compile them ahead, see jax_ahead.CompileAhead)
        # JAX: a recorded step may run unrecorded on a smaller batch than its kind was compiled
        # for (the next step is recorded instead); ``deferred`` says it did
        self.may_defer, self.deferred = False, False
        self.ahead = None  # JAX: what compiles them
        self._identities: dict = {}
        self._pending: list = []  # JAX, while a step is traced: (layer index, output) noted so far
        self._first_bad = None  # JAX: {layer index: statistics} of the step's first pass with a NaN/Inf
        self._model_call = None
        self.model = None
        self.backward = None  # a BackwardCapture tapping the outputs' gradients, where there is one

    @classmethod
    def for_model(cls, model, layers, activations, saturation_eps: float = 0.01) -> "ForwardCapture":
        """The model's capture, reused across ``fit`` calls (with its traced train function).

        Example:
            >>> ForwardCapture.for_model(model, layers, activations) is ForwardCapture.for_model(model, layers, activations)
            True
        """
        cached = _CAPTURES.get(model)
        if cached is not None and cached.saturation_eps == float(saturation_eps) and cached.layers == layers:
            return cached
        capture = _CAPTURES[model] = cls(layers, activations, saturation_eps)
        return capture

    # ---- wrapping ----------------------------------------------------------------
    def install(self, model) -> None:
        """Wrap the layers' ``call`` (and the optimizer, see ``backward``); on JAX, have
        the train function traced again with them."""
        self.model = model
        if self.backward is not None:
            self.backward.install(model)
        if not self._orig_calls:  # not wrapped yet
            for i, layer in enumerate(self.layers):
                self._orig_calls[i] = layer.__dict__.get("call")
                layer.call = self._wrap(i, layer.call)
            if self._jax:  # the model's call ends the forward pass: one host callback for all layers
                self._model_call = (model.__dict__.get("call"),)
                model.call = self._wrap_model(model.call)
        self._retrace()

    def uninstall(self) -> None:
        """Restore the layers and the optimizer (and, on JAX, a train function without the wrappers)."""
        self.active, self.unsettled = False, None
        if self.backward is not None:
            self.backward.uninstall()
        for i, layer in enumerate(self.layers):
            if i not in self._orig_calls:
                continue
            orig = self._orig_calls.pop(i)
            if orig is None:
                layer.__dict__.pop("call", None)
            else:
                layer.call = orig
        if self._model_call is not None:
            (orig,), self._model_call = self._model_call, None
            if orig is None:
                self.model.__dict__.pop("call", None)
            else:
                self.model.call = orig
        self._retrace(installing=False)

    def _retrace(self, installing: bool = True) -> None:
        """Swap in a compiled train function traced with the wrappers (made
        once per model and train function, like Keras's own), or back the plain one."""
        model = self.model
        compiled = self._jax or (self._backend == "tensorflow" and not getattr(model, "run_eagerly", False))
        plain = getattr(model, "train_function", None)
        if not compiled or plain is None:
            return
        if not installing:
            if self._plain is not None:
                model.train_function, self._plain = self._plain, None
            return
        if self._compiled is None or self._compiled[0] is not plain:
            if not self._jax:
                model.make_train_function(force=True)
                self._compiled = (plain, model.train_function)
            else:
                from deeplocalize.probes import jax_step

                self._compiled = (plain, jax_step.train_function(self, model))
        self._plain, model.train_function = plain, self._compiled[1]

    def _calls_host(self, calls: bool) -> None:
        self._host_calls = calls
        if self.backward is not None:
            self.backward.host_calls = calls

    def _wrap(self, index, call):
        capture = self

        @functools.wraps(call)
        def call_and_note(*args, **kwargs):
            outputs = call(*args, **kwargs)
            if capture.active:
                first = next((t for t in _flatten(outputs) if _is_float(t)), None)
                if first is not None and capture.mode == "out":
                    outputs = capture._note_out(index, outputs, first)
                elif first is not None:
                    capture._note(index, first)
                if capture.backward is not None:
                    outputs = capture.backward.tap(index, outputs)
            return outputs

        return call_and_note

    def _note_out(self, index, outputs, first):
        """JAX, a recorded step traced to return its statistics (see
        `deeplocalize.probes.jax_step`): ``outputs`` with ``first`` passed
        through an identity whose forward rule notes its statistics in the
        outbox (values of the step itself, not of the gradient's trace), or
        noted at once where nothing is differentiated through it."""
        import keras

        if type(first).__name__ == "DynamicJaxprTracer":  # not under the gradient
            self.outbox.append((index, self._gated_reduce(index, first)))
            return outputs
        flat = keras.tree.flatten(outputs)
        k = next(k for k, t in enumerate(flat) if t is first)
        flat[k] = self._identity(index)(first)
        return flat[k] if first is outputs else keras.tree.pack_sequence_as(outputs, flat)

    def _identity(self, index):
        identity = self._identities.get(index)
        if identity is None:
            import jax

            identity = jax.custom_vjp(lambda x: x)

            def forward(x):
                self.outbox.append((index, self._gated_reduce(index, x)))
                return x, None

            identity.defvjp(forward, lambda _, g: (g,))
            self._identities[index] = identity
        return identity

    def _gated_reduce(self, index, x):
        return gated(self.record, lambda: _reduce(x, self.activations[index], self.saturation_eps),
                     (len(FORWARD_STATS),))

    def _wrap_model(self, call):
        capture = self

        @functools.wraps(call)
        def call_and_hand_over(*args, **kwargs):
            outputs = call(*args, **kwargs)
            capture._hand_over()
            return outputs

        return call_and_hand_over

    def _hand_over(self) -> None:
        """JAX: one host callback with what the layers noted in this forward pass
        (in ``"nonfinite"`` mode only when some output holds a NaN or Inf)."""
        import jax
        import keras

        pending, self._pending = self._pending, []
        if not pending:
            return
        indices = [i for i, _ in pending]

        def send():
            stats = keras.ops.stack([_reduce(t, self.activations[i], self.saturation_eps) for i, t in pending])
            jax.debug.callback(functools.partial(self._receive_all, indices), stats)

        call_host(self.mode, send, [keras.ops.cast(~keras.ops.isfinite(t), "int32") for _, t in pending])

    def _receive_all(self, indices, stats) -> None:
        """One forward pass's statistics (JAX). With several steps per call,
        the first pass that holds a NaN or Inf is kept apart: after it, every
        layer turns non-finite, and the combined view would blame the first."""
        stats = np.asarray(stats, dtype=float)
        if self.active and self._first_bad is None and np.any(stats[:, :2] > 0):
            self._first_bad = dict(zip(indices, stats))
        for index, row in zip(indices, stats):
            self._receive(index, row)

    def _note(self, index, tensor) -> None:
        import keras

        # torch: detach() itself (keras.ops checks and converts its argument in Python first)
        tensor = tensor.detach() if self._backend == "torch" else keras.ops.stop_gradient(tensor)
        if self._jax:
            self._pending.append((index, tensor))
            return
        if self._backend == "tensorflow":
            import tensorflow as tf

            if not tf.executing_eagerly():
                stats = _reduce(tensor, self.activations[index], self.saturation_eps)
                tf.numpy_function(functools.partial(self._receive, index), [stats], [], stateful=True)
                return
        if not self._record:  # eager, a step not recorded: its NaN/Inf counts, read once at its end
            self._light.append((index, tensor))
            return
        stats = _reduce(tensor, self.activations[index], self.saturation_eps)
        self._receive(index, ops_for(stats).convert_to_numpy(stats))

    def _receive(self, index, stats) -> None:
        if not self.active:
            return
        stats = np.asarray(stats, dtype=float)
        old = self._seen.get(index)
        n = self._counts.get(index, 0)
        if old is None:
            self._order.append(index)
        else:  # another replica, or another step of the same call
            stats = np.r_[old[:2] + stats[:2], min(old[2], stats[2]), max(old[3], stats[3]),
                          (n * old[4:] + stats[4:]) / (n + 1)]
        self._seen[index], self._counts[index] = stats, n + 1

    # ---- per step ---------------------------------------------------------------------
    def begin_step(self, record: bool = True, may_defer: bool = False) -> None:
        """Note the coming step: every statistic only when ``record``, else
        (JAX, eager steps) only the outputs' NaN/Inf counts, which on JAX reach
        the host only when some are not zero. ``may_defer``: on JAX, a
        recorded step on a smaller batch than the recorded step was compiled
        for (an epoch's last) may run unrecorded, setting ``deferred``, so
        that no step is compiled for it (see `deeplocalize.probes.jax_step`)."""
        self._seen, self._order, self._counts = {}, [], {}
        self._record, self._light = bool(record), []
        self.may_defer, self.deferred = bool(record and may_defer), False
        self._first_bad = None
        self.weight_stats = self.label_moments = None
        self._pending = []  # nothing of an earlier trace is handed over
        self.active = True
        self._want = "all" if record else "nonfinite"  # JAX: which compiled step the train function runs

    def end_epoch(self) -> None:
        """JAX: wait for the steps compiling in the background (`deeplocalize.probes.jax_ahead.CompileAhead`).

        Example:
            >>> capture.end_epoch()   # at an epoch's end: no compilation is left running
        """
        if self.ahead is not None:
            self.ahead.wait()

    def settle(self) -> None:
        """JAX: read what the last step returned: a recorded step's statistics,
        or the NaN/Inf flag of one not recorded, replayed recorded when it is
        set (see `deeplocalize.probes.jax_step`)."""
        pending, self.unsettled = self.unsettled, None
        if pending is not None:
            pending()

    def end_step(self) -> tuple[dict, list]:
        """``({layer index: values of FORWARD_STATS}, layer indices in call order)``
        of the step(s) since `begin_step`."""
        self.settle()
        if self._jax and self._host_calls:
            import jax

            jax.effects_barrier()  # the host callbacks of the step have all run
        self.active = False
        if self._light:
            self._read_light()
        if self._first_bad is not None:
            return self._first_bad, self._order
        return self._seen, self._order

    def _read_light(self) -> None:
        """The NaN/Inf counts of a step not recorded (the other statistics stay
        NaN): one sum per output, copied to the host at once, and counted only
        for the outputs whose sum is not finite (a NaN or Inf in it, or an
        overflow)."""
        light, self._light = self._light, []
        ops = ops_for(light[0][1])
        sums = np.asarray(ops.convert_to_numpy(ops.stack([ops.sum(ops.cast(t, "float32")) for _, t in light])))
        counts = np.zeros((len(light), 2))
        for k in np.flatnonzero(~np.isfinite(sums)):
            t = light[k][1]
            counts[k] = ops.convert_to_numpy(ops.stack([ops.sum(ops.cast(ops.isnan(t), "float32")),
                                                         ops.sum(ops.cast(ops.isinf(t), "float32"))]))
        for (index, _), (nan, inf) in zip(light, counts):
            old = self._seen.get(index)
            if old is None:
                self._order.append(index)
                old = np.full(len(FORWARD_STATS), np.nan)
                old[:2] = 0.0
            old[:2] += (nan, inf)
            self._seen[index] = old


def _is_float(t) -> bool:
    dtype = str(getattr(t, "dtype", ""))
    return "float" in dtype and hasattr(t, "shape")
