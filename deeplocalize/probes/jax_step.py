"""JAX: the train function a forward capture installs in place of Keras's own.

A compiled JAX step that may call the host (``jax.debug.callback``) loses
JAX's fast dispatch and pays about half a millisecond per callback, more than
a small model's whole step. So the step is compiled without any, in two
kinds (``record``, a static argument):

- a **recorded** step returns what the layers' wrappers noted as extra
  outputs of the compiled step (each layer's forward statistics from the
  forward rule of an identity with a custom VJP, the output gradients' from
  its backward rule, the weight gradients' from the optimizer's apply) and
  each trainable weight's norm, NaN/Inf counts and update size (from the
  strided samples the probes take), all packed in one vector that is copied
  to the host after it (no copy of whole weights, one transfer);
- an **unrecorded** step, compiled without those reductions, only says
  whether its loss or updated weights hold a NaN or Inf, read when the
  callbacks run (`ForwardCapture.settle`); when they do, the same step is
  replayed as a recorded one on the same batch, from the weights it began
  with (the step writes the model's new variables into the buffers of those
  an earlier step began with, so the ones it began with stay whole until
  the flag is read; the replay starts from them and a copy of the
  optimizer's variables as the step left them), to name the layer, and the
  replay's result is dropped: training goes on with the unrecorded step's.

Each kind compiles once per batch shape. The first step of each kind and
shape also traces the other kind for it (the unrecorded one only when
steps not recorded are to come: ``capture.precompile``) and compiles it in
a background thread (`jax_ahead.CompileAhead`), waited for before the next
step of a kind or at the end of the epoch: like Keras's own step for a
smaller last batch, it is paid for in the first epoch, mostly while other
steps run, instead of stalling a later one.

Where that cannot be done (no ``jit``, a ``keras.distribution``, a step that
does not trace with it), the steps call the host from inside: every statistic
on a recorded step, and on the others only NaN/Inf counts that are not zero.

Example:
    >>> model.train_function = train_function(capture, model)   # see ForwardCapture.install
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from deeplocalize.probes.jax_ahead import CompileAhead
from deeplocalize.probes.sampling import _sample_stride


def train_function(capture, model):
    """The train function that runs the step ``capture`` asked for in ``begin_step``.

    Example:
        >>> capture.begin_step(record=False); model.train_function(state, iterator)  # the unrecorded step
    """
    called = {mode: _calling_host(capture, model, mode) for mode in ("all", "nonfinite")}
    direct = _direct(capture, model)

    def run(state, iterator):
        if direct["ok"]:
            capture._calls_host(False)
            try:
                return direct["recorded" if capture._want == "all" else "unrecorded"](state, iterator)
            except _TraceFailed as failed:  # our outputs do not trace in this step: from here on, the callbacks
                direct["ok"] = False
                warnings.warn(f"deeplocalize: the JAX step could not return the layers' statistics "
                              f"({failed.__cause__!r}); they are sent from inside the step instead, which "
                              "is slower. Training is unaffected.", RuntimeWarning, stacklevel=2)
                iterator = _Prepend(failed.data, iterator)
        capture._calls_host(True)
        return called[capture._want](state, iterator)

    return run


class _TraceFailed(Exception):
    def __init__(self, data):
        super().__init__()
        self.data = data


class _Prepend:
    """An iterator that yields ``first`` before the rest of ``rest``."""

    def __init__(self, first, rest):
        self.first, self.rest = [first], rest

    def __iter__(self):
        return self

    def __next__(self):
        return self.first.pop() if self.first else next(self.rest)


def _calling_host(capture, model, mode):
    """Keras's train function with the step traced in ``mode`` (``"all"`` or
    ``"nonfinite"``: host callbacks). Each mode gets a train step function of
    its own: JAX would share one trace between two ``jit``s of the same function."""
    own, step = model.__dict__.get("train_step"), model.train_step

    def train_step(*args, **kwargs):
        _set_mode(capture, mode)
        return step(*args, **kwargs)

    model.train_step = train_step
    try:
        model.make_train_function(force=True)
    finally:
        if own is None:
            del model.__dict__["train_step"]
        else:
            model.train_step = own
    return model.train_function


def _direct(capture, model) -> dict:
    """``{"ok", "recorded", "unrecorded"}``: the train functions of the steps
    compiled without host callbacks (see the module's docstring); ``ok`` is
    False where they cannot be made."""
    import jax
    import keras

    if not model.jit_compile or getattr(model, "run_eagerly", False) or keras.distribution.distribution():
        return {"ok": False}
    step, spe = model.train_step, max(1, int(getattr(model, "steps_per_execution", 1) or 1))
    jnp = jax.numpy

    strides = [_sample_stride(v.shape) if len(v.shape) else 1 for v in model.trainable_variables]

    def watched_step(kept, spare, donated, data, record):
        del spare  # donated: XLA writes the updated model variables into its buffers (see below)
        _set_mode(capture, "out", record)
        before = state = (*kept, *donated)
        capture.outbox, backward = [], capture.backward
        if backward is not None:
            backward.outbox = None
        logs, state = step(state, data)
        noted, capture.outbox = capture.outbox, []
        back = None if backward is None else backward.outbox
        # the flag: the logs, and the strided sample of each updated weight the probes take (it meets
        # every unit's column: a NaN from the backward pass fills columns); summing whole weights
        # was a pass over all of them each step (the wide model's 1.1M, unrecorded steps: 1.08 -> 1.06x wall)
        floats = [x for x in jax.tree_util.tree_leaves(logs) if jnp.issubdtype(x.dtype, jnp.floating)]
        floats += [w.reshape(-1)[::k] for w, k in zip(state[0], strides) if jnp.issubdtype(w.dtype, jnp.floating)]
        total = sum((jnp.sum(x.astype("float32")) for x in floats), jnp.float32(0))
        if not record:  # the wrappers' zeros are not returned (nor kept by XLA)
            return (logs, ~jnp.isfinite(total)), state
        capture.layout = ([i for i, _ in noted], None if back is None else back[:2])
        forward = jnp.stack([s for _, s in noted]) if noted else None
        weights = _weight_stats(before[0], state[0], strides)
        payload = (forward, None if back is None else back[2:], weights, _label_moments(data))
        leaves, capture.packing = _layout(payload)
        packed = jnp.concatenate([x.reshape(-1).astype("float32") for x in leaves])
        return (logs, packed, ~jnp.isfinite(total)), state

    # ``record`` is static: an unrecorded step compiles to Keras's own step plus the NaN check (a
    # traced ``record`` under ``lax.cond`` compiled once, but changed XLA's fusions, and with them
    # the last bits of the user's weights). The optimizer's and the metrics' variables are donated
    # (updated in place, as Keras's own step does). The model's variables are not: the step writes
    # their new values into the buffers of ``spare`` (donated), the variables an earlier step began
    # with, so that those the step began with stay whole for a replay until its NaN/Inf flag is
    # read. A copy made in the step cost a pass over every weight and a fresh buffer each step
    # (the benchmark's wide model: wall 1.32 -> 1.04 times a plain fit's without it); not donating
    # the model's variables at all, a fresh buffer for each (the MLP's 70 us step: 60 us more).
    compiled = jax.jit(watched_step, static_argnums=4, donate_argnums=(1, 2), keep_unused=True)
    ahead, traced, spares = CompileAhead(), set(), []
    capture.ahead = ahead

    def lower(state, data, record):  # traced here, compiled by `CompileAhead` in the background
        kept = tuple(state[:2])
        return compiled.lower(kept, kept, tuple(state[2:]), data, record)

    def call(state, data, record):
        """The step's outputs, and the model's variables it began with (intact)."""
        kept, donated = tuple(state[:2]), tuple(state[2:])
        spare = spares.pop() if spares else None
        if spare is None or [len(x) for x in spare] != [len(x) for x in kept]:
            spare = jax.tree_util.tree_map(jnp.zeros_like, kept)  # once per install (and after a replay)
        if record in traced:
            return compiled(kept, spare, donated, data, record), kept
        try:  # the first call of each kind traces: a failure there is ours
            out = compiled(kept, spare, donated, data, record)
        except Exception as exc:
            raise _TraceFailed(data) from exc
        traced.add(record)
        return out, kept

    # What a step returns is read once the callbacks run, after Keras has waited for the step's
    # logs: waiting for it here would keep Keras's own work from overlapping the step.
    def recorded(state, data):
        if capture.may_defer and ahead.smaller(shape := ahead.shape(data)) and (True, shape) not in ahead.known:
            capture.deferred = True  # an epoch's smaller last batch: the next step is recorded instead
            return unrecorded(state, data)
        capture.settle()  # an earlier step of this call
        ahead.wait(True)
        ((logs, packed, _), new), began = call(state, data, True)
        capture.unsettled = lambda: (_deliver(capture, packed), spares.append(began))
        ahead.ran(True, data, (lambda: lower(new, data, False)) if capture.precompile else None)
        return logs, new

    def replay(state, data):
        state = (*state[:2], *jax.tree_util.tree_map(jnp.copy, state[2:]))  # the copies are donated, not Keras's
        ahead.wait(True)
        ((_, packed, _), _), _ = call(state, data, True)
        _deliver(capture, packed)

    def unrecorded(state, data):
        capture.settle()
        ahead.wait(False)
        ((logs, bad), new), began = call(state, data, False)
        # a NaN/Inf (rare; a large but finite sum only costs a replay) replays the step recorded,
        # from the weights it began with (the optimizer's own state as it left it); then, or
        # when the flag is clear, those weights' buffers take the next step's
        capture.unsettled = lambda: (replay((*began, *new[2:]), data) if capture.replay_faults and _true(bad)
                                     else None, spares.append(began))
        ahead.ran(False, data, lambda: lower(new, data, True))
        return logs, new

    return {"ok": True, "recorded": _steps(recorded, spe), "unrecorded": _steps(unrecorded, spe)}


def _steps(one, spe: int):
    """A train function running ``one(state, data)`` for up to ``spe`` batches, as Keras's own does."""

    def run(state, iterator):
        logs, state = one(state, next(iterator))
        try:
            for _ in range(spe - 1):
                logs, state = one(state, next(iterator))
        except StopIteration:
            pass
        return logs, state

    return run


def _true(flag) -> bool:
    """A JAX boolean scalar on the host (``bool(flag)`` takes 14 us, ``np.asarray`` under 1)."""
    return bool(np.asarray(flag))


def _deliver(capture, packed) -> None:
    """Hand a recorded step's outputs (one vector, copied to the host once)
    to the captures."""
    forward, back, weights, labels = _unpack(np.asarray(packed), capture.packing)  # (jax.device_get: 14 us more)
    indices, back_layout = capture.layout
    # several steps in one call: the weights' statistics of the first (the row's norms are the span's start)
    if capture.weight_stats is None:
        capture.weight_stats, capture.label_moments = weights, labels
    if forward is not None:
        capture._receive_all(indices, forward)
    if back is not None and capture.backward is not None:
        capture.backward._on_host(*back_layout, back[0], *back[1])


def _weight_stats(before, after, strides):
    """Per trainable weight, from the strided sample the probes take
    (`deeplocalize.probes.sampling._sample_stride`): ``[sum of squares of its
    finite values, NaN count, Inf count, sum of squares of the update]``,
    each times the stride, as one float32 ``(weights, 4)`` array."""
    import jax

    jnp = jax.numpy
    rows = []
    for old, new, k in zip(before, after, strides):
        old, new = (v.reshape(-1)[::k].astype("float32") for v in (old, new))
        terms = (jnp.where(jnp.isfinite(old), old * old, 0.0), jnp.isnan(old).astype("float32"),
                 jnp.isinf(old).astype("float32"), jnp.square(new - old))
        sums = jax.lax.reduce(terms, (jnp.float32(0),) * 4, lambda x, y: tuple(a + b for a, b in zip(x, y)), (0,))
        rows.append(jnp.stack(sums) * float(k))  # one reduction (one kernel) per weight
    return jnp.stack(rows) if rows else jnp.zeros((0, 4), "float32")


def _label_moments(data):
    """Per label array of the batch (numeric, as `batch_stats.batch_columns`
    numbers them): ``[mean, mean square, width]``, the ``y{k}_mean/sq/width``
    columns, as one float32 ``(labels, 3)`` array (NaN rows for the others);
    None without labels."""
    import jax
    import keras

    jnp = jax.numpy
    _, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    rows = []
    for t in jax.tree_util.tree_leaves(y):
        if not (jnp.issubdtype(t.dtype, jnp.number) or t.dtype == jnp.bool_) or not t.size:
            rows.append(jnp.full((3,), jnp.nan, "float32"))
            continue
        t = t.astype("float32")
        rows.append(jnp.stack([jnp.mean(t), jnp.mean(t * t), jnp.float32(t.shape[-1] if t.ndim >= 2 else 1)]))
    return jnp.stack(rows) if rows else None


def _layout(payload):
    """The array leaves of ``payload`` and what puts them back together on
    the host: ``(tree structure, shapes, dtypes)``."""
    import jax

    leaves, tree = jax.tree_util.tree_flatten(payload)
    return leaves, (tree, [tuple(x.shape) for x in leaves], [np.dtype(x.dtype) for x in leaves])


def _unpack(flat: np.ndarray, packing):
    """``payload`` back from the float32 vector `_layout`'s leaves were packed into."""
    import jax

    tree, shapes, dtypes = packing
    leaves, at = [], 0
    for shape, dtype in zip(shapes, dtypes):
        size = math.prod(shape)
        leaves.append(flat[at:at + size].reshape(shape).astype(dtype, copy=False))
        at += size
    return jax.tree_util.tree_unflatten(tree, leaves)


def _set_mode(capture, mode: str, record=True) -> None:
    """While a step is traced: how the captures note (``mode``) and, in mode
    ``"out"``, whether they compute the statistics (``record``)."""
    capture.mode, capture.record = mode, record
    if capture.backward is not None:
        capture.backward.mode, capture.backward.record = mode, record


def gated(record: bool, compute, shape):
    """``compute()`` on a recorded step, else zeros of ``shape`` (float32):
    the step not recorded is compiled without the reductions.

    Example:
        >>> stats = gated(capture.record, lambda: _reduce(x, "relu", 0.01), (9,))
    """
    import jax

    return compute() if record else jax.numpy.zeros(shape, "float32")


def call_host(mode: str, send, counts) -> None:
    """JAX, inside a step being traced: ``send()`` (it makes the host
    callback) on a recorded step (``mode == "all"``); on the others only when
    one of ``counts`` (NaN/Inf counts) is not zero.

    Example:
        >>> call_host(capture.mode, send, [ops.cast(~ops.isfinite(t), "int32") for t in outputs])
    """
    if mode == "all":
        send()
        return
    import jax

    bad = sum(jax.numpy.sum(c) for c in counts)
    jax.lax.cond(bad > 0, send, lambda: None)
