"""In-graph statistics and samplers: the reductions the instrumented step records.

Per layer: min, max, NaN/Inf counts, norms, fractions of zero, dead and
saturated units, and mean |update| / |weight|, computed on samples where
the full tensors would cost too much (see the constants below). 

Example:
    >>> stride = _sample_stride([512, 300])   # a 153,600-value kernel
    >>> stride, 512 * 300 // stride < 2 * RATIO_SAMPLE
    (37, True)
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize.probes.graph import _switch
from deeplocalize.probes.ring import _BASE_COLUMNS, MAX_COLUMNS
from deeplocalize.trace import LAYER_STATS, STAT_INDEX

RATIO_SAMPLE = 4096  # weights and their gradients are sampled at a stride of size // this: under twice this many elements each
FORWARD_SAMPLE = 16384  # forward statistics of larger outputs use the batch's first examples, about this many values
UNIT_SAMPLE = 256  # ...and enough examples that every unit (channel) is judged dead or alive on at least this many values
GRADIENT_SAMPLE = 128  # values kept per example of a large layer's output gradient (see _gradient_sample)
GRADIENT_FULL_MAX = 16384  # ...large: more values per example than this; smaller gradients are kept whole

class Statistics:
    """The step's reductions, written as methods of `Probes` (mixed into it).

    Example:
        >>> bad = probes._sentinel(loss, probes._weight_gradient_samples(w_grads))
    """

    def _weight_gradient_samples(self, w_grads):
        """``(values, stride)`` per weight gradient (None where there is
        none): every ``stride``-th value, under twice `RATIO_SAMPLE` of them,
        meeting every column (see `_sample_stride`); an Embedding's sparse
        gradient whole.

        The sentinel sums these every step, and recorded steps take their
        gradient norms and NaN/Inf counts from them too: so the recording
        branch holds a few thousand values per weight instead of every full
        gradient until the end of the step (holding those cost the wide
        timed model 3.5% of every step, the smaller ones about 1%).
        """
        tf = self._tf
        out = []
        for g in w_grads:
            if g is None:
                out.append(None)
                continue
            values = _dense_values(tf, g)
            stride = _sample_stride(values.shape) if values.shape.is_fully_defined() else 1
            out.append((_samples(tf, [values], [stride])[0], stride))
        return out

    def _sentinel(self, loss, g_samples):
        """Is anything non-finite this step? Checked every step, cheaply.

        A NaN or Inf in the input, the weights or any layer's output reaches
        the loss. One born in the backward pass fills whole columns of the
        weight gradients below it (a kernel's gradient is its input times
        the gradient arriving at its output), so a strided sample of each
        gradient that meets every column (`_weight_gradient_samples`)
        catches it on the step it appears; the full statistics of that step,
        recorded because of it, then say where it started. A lone
        non-finite element the sample misses reaches its weight, and the
        loss, one step later.
        """
        tf = self._tf
        parts = [tf.reshape(tf.cast(loss, tf.float32), [1])] + [v for v, _ in filter(None, g_samples)]
        return tf.logical_not(tf.math.is_finite(tf.reduce_sum(tf.concat(parts, 0))))

    # ---- reductions ---------------------------------------------------------
    def _write_stats(self, step, x, y, loss, order, acts, a_grads, weights, g_samples, before, exact=True):
        tf = self._tf
        f32 = tf.float32
        n_layers, n_stats = len(self.layers), len(LAYER_STATS)
        nan = math.nan
        rows = [[nan] * n_stats for _ in range(n_layers)]  # a Python float: not computed on this step
        for name in ("act_nan", "act_inf", "grad_nan", "grad_inf", "w_nan", "w_inf", "gw_nan", "gw_inf"):
            for r in rows:
                r[STAT_INDEX[name]] = 0.0

        for i, act, grad in zip(order, acts, a_grads):
            self._forward_stats(rows[i], tf.cast(act, f32), self.activations[i], exact)
            if grad is not None:  # a strided sample, and its stride
                g, stride = grad
                rows[i][STAT_INDEX["grad_norm"]] = tf.sqrt(2.0 * stride * tf.nn.l2_loss(g))
                if exact:
                    rows[i][STAT_INDEX["grad_nan"]] = _count(tf, tf.math.is_nan(g)) * stride
                    rows[i][STAT_INDEX["grad_inf"]] = _count(tf, tf.math.is_inf(g)) * stride

        vectors: dict = {}  # statistics computed for all layers at once
        self._weight_stats(rows, vectors, weights, g_samples, before, exact)

        first = next((t for t in _flatten(x) if t is not None), None)
        columns = [tf.cast(step, f32), 1.0 if exact else 0.0, tf.cast(loss, f32), self._current_lr(),
                   tf.cast(tf.shape(first)[0], f32) if first is not None else nan]
        names = list(_BASE_COLUMNS)
        for k, t in enumerate(_flatten(x)):
            if t is None or not t.dtype.is_floating and not t.dtype.is_integer:
                continue
            t = tf.cast(t, f32)
            names += [f"x{k}_min", f"x{k}_max", f"x{k}_mean", f"x{k}_std"]
            columns += [tf.reduce_min(t), tf.reduce_max(t), tf.reduce_mean(t), tf.math.reduce_std(t)]
        for k, t in enumerate(_flatten(y) if y is not None else []):
            if t is None or not (t.dtype.is_floating or t.dtype.is_integer or t.dtype.is_bool):
                continue
            t = tf.cast(t, f32)
            names += [f"y{k}_min", f"y{k}_max", f"y{k}_mean", f"y{k}_int_frac", f"y{k}_rowsum", f"y{k}_width"]
            wide = bool(t.shape.rank and t.shape.rank >= 2)
            columns += [
                tf.reduce_min(t),
                tf.reduce_max(t),
                tf.reduce_mean(t),
                tf.reduce_mean(tf.cast(tf.equal(t, tf.round(t)), f32)),
                tf.reduce_mean(tf.reduce_sum(t, axis=-1)) if wide else nan,
                tf.cast(tf.shape(t)[-1], f32) if wide else 1.0,
            ]
        names, columns = names[:MAX_COLUMNS], columns[:MAX_COLUMNS]
        self.columns = names
        columns += [0.0] * (MAX_COLUMNS - len(columns))
        return self._assemble(rows, vectors, columns)

    def _assemble(self, rows, vectors, columns):
        """One buffer row: the layer block (layer-major), then the columns.

        Values known when tracing (Python floats: NaN for a statistic not
        computed, zero counts) are a constant; the computed ones are placed
        into it with one scatter, a few ops in all however many layers.
        """
        tf = self._tf
        n_stats = len(LAYER_STATS)
        base = np.zeros(len(rows) * n_stats + len(columns), np.float32)
        scalars, at = [], []
        cells = [(i * n_stats + j, value) for i, r in enumerate(rows) for j, value in enumerate(r)
                 if LAYER_STATS[j] not in vectors]
        cells += [(len(rows) * n_stats + c, value) for c, value in enumerate(columns)]
        for position, value in cells:
            if isinstance(value, (int, float)):
                base[position] = value
            else:
                scalars.append(_scalar(tf, value))
                at.append(position)
        parts = [tf.stack(scalars)] if scalars else []
        for name, vector in vectors.items():
            parts.append(vector)
            at += [i * n_stats + STAT_INDEX[name] for i in range(len(rows))]
        if not parts:
            return tf.constant(base)
        return tf.tensor_scatter_nd_update(tf.constant(base), tf.constant(np.array(at, np.int32)[:, None]),
                                           tf.concat(parts, 0) if len(parts) > 1 else parts[0])

    def _forward_stats(self, row, a, activation, exact=True):
        """Statistics of one layer's output ``a``.

        On a recorded step they use the batch's first examples: about
        `FORWARD_SAMPLE` values, and enough examples that each unit (the
        last axis: a Dense unit, a conv channel) has `UNIT_SAMPLE` values to
        be judged dead on. That is the whole batch for a Dense layer, and a
        few images for a conv layer, where each channel has a value at every
        position. On a non-finite step (``exact``) every value counts.
        """
        tf = self._tf
        f32 = tf.float32
        rank = a.shape.rank or 0
        per_example = math.prod(a.shape[1:]) if rank >= 2 and a.shape[1:].is_fully_defined() else None
        if not exact and per_example:
            units = int(a.shape[-1])
            a = a[: max(2, -(-max(FORWARD_SAMPLE, UNIT_SAMPLE * units) // per_example))]
        if rank >= 2:
            axes = list(range(rank - 1))
            unit_max, unit_min = tf.reduce_max(a, axis=axes), tf.reduce_min(a, axis=axes)
            unit_dead = tf.logical_and(tf.equal(unit_max, 0.0), tf.equal(unit_min, 0.0))
            row[STAT_INDEX["act_dead_frac"]] = tf.reduce_mean(tf.cast(unit_dead, f32))
            row[STAT_INDEX["act_min"]] = tf.reduce_min(unit_min)
            row[STAT_INDEX["act_max"]] = tf.reduce_max(unit_max)
        else:
            row[STAT_INDEX["act_min"]] = tf.reduce_min(a)
            row[STAT_INDEX["act_max"]] = tf.reduce_max(a)
        safe = tf.where(tf.math.is_finite(a), a, tf.zeros_like(a)) if exact else a
        magnitude = tf.abs(safe)
        row[STAT_INDEX["act_mean"]] = tf.reduce_mean(safe)
        row[STAT_INDEX["act_mean_abs"]] = tf.reduce_mean(magnitude)
        # sign(|a|) is 1 for every value but exact zeros: the same count as
        # a == 0, without the boolean mask and its cast (two of the costliest
        # passes over a conv layer's output).
        zero_frac = 1.0 - tf.reduce_mean(tf.sign(magnitude))
        if exact:
            nonfinite = [_count(tf, tf.math.is_nan(a)), _count(tf, tf.math.is_inf(a))]
            row[STAT_INDEX["act_nan"]], row[STAT_INDEX["act_inf"]] = nonfinite
            zero_frac -= tf.add_n(nonfinite) / tf.cast(tf.size(a), f32)  # zeroed in ``safe``, but not zeros
        row[STAT_INDEX["act_zero_frac"]] = zero_frac
        eps = self.saturation_eps
        if activation in ("sigmoid", "hard_sigmoid"):
            sat = tf.logical_or(a < eps, a > 1.0 - eps)
        elif activation in ("tanh", "softsign", "hard_tanh"):
            sat = tf.abs(a) > 1.0 - eps
        elif activation == "softmax" and rank >= 2:
            sat = tf.reduce_max(a, axis=-1) > 1.0 - eps
        else:
            sat = None
        if sat is not None:
            row[STAT_INDEX["act_sat_frac"]] = tf.reduce_mean(tf.cast(sat, f32))

    def _weights_before(self, weights, take, exact):
        """What the statistics need from the weights before the update, read
        only when ``take``: a strided sample of under twice `RATIO_SAMPLE`
        elements of each weight (concatenated into one vector, split again on
        recorded steps) and, when ``exact``, their NaN and Inf counts (an
        ``(n_weights, 2)`` tensor; zeros otherwise). Zeros and a ``taken``
        flag of 0 when not taken."""
        tf = self._tf
        f32 = tf.float32
        strides = [_sample_stride(v.shape) for v in weights]
        sizes = [len(range(0, max(1, math.prod(int(d) for d in v.shape)), k)) for v, k in zip(weights, strides)]

        def read(counted):
            ws = [tf.cast(v, f32) for v in weights]
            if counted:
                nonfinite = tf.stack([tf.stack([_count(tf, tf.math.is_nan(w)), _count(tf, tf.math.is_inf(w))])
                                      for w in ws])
            else:
                nonfinite = tf.zeros([len(ws), 2], f32)
            return nonfinite, tf.constant(1.0), tf.concat(_samples(tf, ws, strides), 0)

        def skip():  # few outputs: this branch runs on most steps
            return tf.zeros([len(weights), 2], f32), tf.constant(0.0), tf.zeros([sum(sizes)], f32)

        if not weights:
            return None
        kind = tf.where(exact, 2, tf.where(take, 1, 0))
        nonfinite, taken, samples = _switch(kind, [skip, lambda: read(False), lambda: read(True)])
        return {"nonfinite": nonfinite, "samples": samples, "taken": taken, "strides": strides, "sizes": sizes}

    def _weight_stats(self, rows, vectors, weights, g_samples, before, exact=True):
        """Norms and NaN counts of the weights the forward pass used, their
        gradients, and the size of this step's update relative to them.

        All of them come from strided samples (`_weights_before`,
        `_weight_gradient_samples`), exact for weights of up to `RATIO_SAMPLE`
        elements: a full pass over every weight and gradient, or a copy of
        it, would cost more than the rest of the statistics. Norms are
        summed per layer at once (``vectors``: one value per layer); NaN/Inf
        counts are the sample's, times its stride.
        """
        tf = self._tf
        f32 = tf.float32
        n = len(self.layers)
        owner = [self._var_owner.get(id(v), n) for v in weights]  # n: a weight no probed layer owns
        if before is None or not weights:
            return
        nan = tf.constant(math.nan, f32)
        has_weights = tf.constant([i in owner for i in range(n)])
        layer_of = tf.constant(owner, tf.int32)
        strides = tf.constant(before["strides"], f32)

        def per_layer(per_weight):  # sum over each layer's weights; NaN for layers without any
            total = tf.math.unsorted_segment_sum(per_weight, layer_of, n + 1)[:n]
            return tf.where(has_weights, tf.sqrt(total), nan)

        def squares(tensors):  # sum of squares of each tensor, one fused op each
            return 2.0 * tf.stack([tf.nn.l2_loss(t) for t in tensors])

        old = tf.split(before["samples"], before["sizes"])
        w_norm = tf.where(before["taken"] > 0.5, per_layer(squares(old) * strides), nan)
        vectors["w_norm"] = w_norm
        g_sq = squares([g[0] if g is not None else tf.zeros([]) for g in g_samples])
        g_sq *= tf.constant([float(g[1]) if g is not None else 1.0 for g in g_samples])
        has_grad = [False] * n
        for k, i in enumerate(owner):
            if i < n and g_samples[k] is not None:
                has_grad[i] = True
        vectors["gw_norm"] = tf.where(tf.constant(has_grad), per_layer(g_sq), nan)
        if self.update_ratio:
            new = _samples(tf, [tf.cast(v, f32) for v in weights], before["strides"])
            moved = squares([b - a for a, b in zip(old, new)]) * strides
            vectors["update_ratio"] = per_layer(moved) / (w_norm + 1e-12)
        if exact:
            per_layer_ks: dict[int, list] = {}
            for k, i in enumerate(owner):
                if i < n:
                    per_layer_ks.setdefault(i, []).append(k)
            for i, ks in per_layer_ks.items():
                rows[i][STAT_INDEX["w_nan"]] = tf.add_n([before["nonfinite"][k, 0] for k in ks])
                rows[i][STAT_INDEX["w_inf"]] = tf.add_n([before["nonfinite"][k, 1] for k in ks])
                gs = [g_samples[k] for k in ks if g_samples[k] is not None]
                if gs:
                    rows[i][STAT_INDEX["gw_nan"]] = tf.add_n([_count(tf, tf.math.is_nan(g)) * k for g, k in gs])
                    rows[i][STAT_INDEX["gw_inf"]] = tf.add_n([_count(tf, tf.math.is_inf(g)) * k for g, k in gs])

    def _current_lr(self):
        tf = self._tf
        opt = self.model.optimizer
        try:
            return tf.cast(opt.learning_rate, tf.float32)
        except Exception:
            return tf.constant(math.nan, tf.float32)


def _flatten(structure):
    import keras

    return keras.tree.flatten(structure) if structure is not None else []


def _count(tf, mask):
    return tf.reduce_sum(tf.cast(mask, tf.float32))


def _dense_values(tf, grad):
    """A gradient's values as float32 (an Embedding's sparse gradient: its rows)."""
    if isinstance(grad, tf.IndexedSlices):
        grad = grad.values
    return tf.cast(grad, tf.float32)


def _sample_stride(shape) -> int:
    """Stride of the weight sample: under twice `RATIO_SAMPLE` elements, and
    coprime with the last dimension so the sample spans every unit's column."""
    dims = [int(d) for d in shape]
    size = max(1, math.prod(dims))
    return _coprime_stride(max(1, size // RATIO_SAMPLE), dims[-1] if dims else 1)


def _coprime_stride(stride: int, last: int) -> int:
    """The smallest stride >= ``stride`` that is coprime with ``last`` (the
    last dimension), so a strided sample of the flattened tensor meets every
    index of that dimension; 1 stays 1."""
    while stride > 1 and math.gcd(stride, last) != 1:
        stride += 1
    return stride


def _gradient_sample(tf, grad):
    """``(values, stride)``: a layer's output gradient as float32, whole
    (stride 1) unless one example of it has more than `GRADIENT_FULL_MAX`
    values; then every ``stride``-th value, with the stride chosen so that
    the sample meets every example (about `GRADIENT_SAMPLE` values each)
    and, over the examples, every unit.

    Why a sample: the recording branch takes every value it uses as an input,
    which keeps it in memory until the end of the step, recorded or not.
    The full output gradients of a 64x64 conv net kept that long cost about
    4% of every step; a strided copy does not (small gradients are cheaper
    kept than copied). A NaN or Inf born in the backward pass fills the
    whole example it belongs to in the gradients below its layer, so the
    sample finds it; counts are the sample's, times the stride.
    """
    if isinstance(grad, tf.IndexedSlices):
        grad = grad.values
    per_example = grad.shape[1:]
    if not (grad.shape.rank and grad.shape.rank >= 2 and per_example.is_fully_defined()
            and math.prod(per_example) > GRADIENT_FULL_MAX):
        return tf.cast(grad, tf.float32), 1
    stride = _coprime_stride(math.prod(per_example) // GRADIENT_SAMPLE, int(per_example[-1]))
    return tf.cast(tf.reshape(grad, [-1])[::stride], tf.float32), stride


def _samples(tf, tensors, strides):
    """A strided sample of each tensor, flattened (see `_sample_stride`)."""
    return [tf.reshape(t, [-1])[::k] for t, k in zip(tensors, strides)]


def _scalar(tf, value):
    """``value`` as a float32 scalar, adding no op when it already is one."""
    value = tf.cast(value, tf.float32)
    return value if value.shape.rank == 0 else tf.reshape(value, [])
