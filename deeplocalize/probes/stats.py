"""In-graph statistics: the reductions the instrumented step records.

Per layer: min, max, NaN/Inf counts, norms, fractions of zero, dead and
saturated units, and mean |update| / |weight|, computed on samples where
the full tensors would cost too much (see `sampling`).

Built to be cheap to trace, since tracing is paid on every fresh ``fit``:
one recording branch serves sampled and non-finite steps alike (what only a
non-finite step needs, its NaN/Inf counts, sits in one nested branch), the
reductions that compare units or sum weights are made once over all layers,
and constants are shared (`graph.const`).

Example:
    >>> bad = probes._sentinel(loss, probes._weight_gradient_samples(w_grads))
"""

from __future__ import annotations

import math

import numpy as np

from deeplocalize.probes.graph import continued_in_place, _branch, const
from deeplocalize.probes.ring import _BASE_COLUMNS, MAX_COLUMNS
from deeplocalize.probes.sampling import (FORWARD_SAMPLE, UNIT_SAMPLE, _dense_values, _sample_stride,
                                          _samples)
from deeplocalize.trace import LAYER_STATS, STAT_INDEX

_COUNTS = ("act_nan", "act_inf", "grad_nan", "grad_inf", "w_nan", "w_inf", "gw_nan", "gw_inf")


class Statistics:
    """The step's reductions, written as methods of `Probes` (mixed into it).

    Example:
        >>> bad = probes._sentinel(loss, probes._weight_gradient_samples(w_grads))
    """

    def _weight_gradient_samples(self, w_grads):
        """``(values, stride)`` per weight gradient (None where there is
        none): every ``stride``-th value, under twice `RATIO_SAMPLE` of them,
        meeting every column (see `_sample_stride`); an Embedding's sparse
        gradient whole. None too where reading the gradient could change
        how the step rounds (see `continued_in_place`).

        The sentinel sums these every step, and recorded steps take their
        gradient norms and NaN/Inf counts from them too: so the recording
        branch holds a few thousand values per weight instead of every full
        gradient until the end of the step.
        """
        tf = self._tf
        out = []
        for g in w_grads:
            if g is None or continued_in_place(g):
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
        weight gradients below it, so a strided sample of each gradient that
        meets every column (`_weight_gradient_samples`) catches it on the
        step it appears; the full statistics of that step, recorded because
        of it, then say where it started. A lone non-finite element the
        sample misses reaches its weight, and the loss, one step later.
        """
        tf = self._tf
        parts = [tf.reshape(tf.cast(loss, tf.float32), const(tf, [1], tf.int32))]
        parts += [v for v, _ in filter(None, g_samples)]
        return tf.logical_not(tf.math.is_finite(_reduce(tf, tf.reduce_sum, tf.concat(parts, 0))))

    # ---- reductions ---------------------------------------------------------
    def _write_stats(self, step, x, y, loss, order, acts, at_outputs, weights, g_samples, before, exact):
        """One buffer row. ``order``/``acts``: the layer outputs read; ``at_outputs``:
        ``(layer index, gradient sample or None)``. ``exact`` (a boolean tensor): the
        step is non-finite, so every value counts and the NaN/Inf counts are taken;
        otherwise they are zero (NaN, unknown, for an output not read)."""
        tf = self._tf
        f32 = tf.float32
        n_layers, n_stats = len(self.layers), len(LAYER_STATS)
        rows = [[math.nan] * n_stats for _ in range(n_layers)]  # a Python float: not computed on this step
        for name in _COUNTS:
            for i, r in enumerate(rows):
                r[STAT_INDEX[name]] = math.nan if name.startswith("act_") and i in self.unread else 0.0
        acts = [tf.cast(a, f32) for a in acts]
        grad_at = [i for i, g in at_outputs if g is not None]
        grads = [g for _, g in at_outputs if g is not None]
        vectors: dict = {}  # name -> (one value per layer of ``layers``, layers)
        sizes = {"act_nan": len(acts), "act_inf": len(acts), "corr": len(acts), "grad_nan": len(grads),
                 "grad_inf": len(grads), "gw_nan": n_layers, "gw_inf": n_layers}
        flat = self._forward_block(rows, vectors, order, acts, exact,
                                   lambda: self._nonfinite_counts(sizes, acts, grads, weights, g_samples),
                                   lambda: tf.zeros([sum(sizes.values())], f32))
        counts = dict(zip(sizes, tf.split(flat, list(sizes.values()))))
        if order:
            ones = const(tf, 1.0, f32)
            vectors["act_zero_frac"] = ((ones - vectors.pop("act_sign")[0]) - counts["corr"], order)
        if grads:
            norms = tf.stack([tf.nn.l2_loss(g) for g, _ in grads])
            vectors["grad_norm"] = (tf.sqrt(norms * const(tf, [2.0 * k for _, k in grads], f32)), grad_at)
            vectors["grad_nan"], vectors["grad_inf"] = (counts["grad_nan"], grad_at), (counts["grad_inf"], grad_at)
        if order:
            vectors["act_nan"], vectors["act_inf"] = (counts["act_nan"], order), (counts["act_inf"], order)
        self._weight_stats(vectors, weights, g_samples, before, counts)

        first = next((t for t in _flatten(x) if t is not None), None)
        columns = [tf.cast(step, f32), tf.cast(exact, f32), tf.cast(loss, f32), self._current_lr(),
                   tf.cast(tf.shape(first)[0], f32) if first is not None else math.nan]
        names = list(_BASE_COLUMNS)
        for k, t in enumerate(_flatten(x)):
            if t is None or not t.dtype.is_floating and not t.dtype.is_integer:
                continue
            t = tf.cast(t, f32)
            names += [f"x{k}_min", f"x{k}_max", f"x{k}_mean", f"x{k}_std"]
            columns += [_reduce(tf, tf.reduce_min, t), _reduce(tf, tf.reduce_max, t), _reduce(tf, tf.reduce_mean, t),
                        tf.math.reduce_std(t)]
        for k, t in enumerate(_flatten(y) if y is not None else []):
            if t is None or not (t.dtype.is_floating or t.dtype.is_integer or t.dtype.is_bool):
                continue
            t = tf.cast(t, f32)
            names += [f"y{k}_min", f"y{k}_max", f"y{k}_mean", f"y{k}_sq", f"y{k}_int_frac", f"y{k}_rowsum",
                      f"y{k}_width", f"y{k}_neg_sq"]
            wide = bool(t.shape.rank and t.shape.rank >= 2)
            columns += [
                _reduce(tf, tf.reduce_min, t),
                _reduce(tf, tf.reduce_max, t),
                _reduce(tf, tf.reduce_mean, t),
                _reduce(tf, tf.reduce_mean, t * t),
                _reduce(tf, tf.reduce_mean, tf.cast(tf.equal(t, tf.round(t)), f32)),
                tf.reduce_mean(tf.reduce_sum(t, axis=-1)) if wide else math.nan,
                tf.cast(tf.shape(t)[-1], f32) if wide else 1.0,
                _reduce(tf, tf.reduce_mean, tf.square(tf.minimum(t, 0.0))),
            ]
        names, columns = names[:MAX_COLUMNS], columns[:MAX_COLUMNS]
        self.columns = names
        columns += [0.0] * (MAX_COLUMNS - len(columns))
        return self._assemble(rows, vectors, columns)

    def _nonfinite_counts(self, sizes, acts, grads, weights, g_samples):
        """NaN and Inf counts of every layer output (all of it), output
        gradient and weight gradient (their samples, times the stride), as
        one vector laid out as ``sizes``; built inside the branch taken only
        on a non-finite step. ``corr``: the share of each output that is NaN
        or Inf, which the zero fraction leaves out."""
        tf = self._tf
        f32 = tf.float32
        n = len(self.layers)
        owner = [self._var_owner.get(id(v), n) for v in weights]

        def count(t, stride=1):
            nan, inf = _count(tf, tf.math.is_nan(t)), _count(tf, tf.math.is_inf(t))
            return (nan * stride, inf * stride) if stride != 1 else (nan, inf)

        act = [count(a) for a in acts]
        grad = [count(g, k) for g, k in grads]
        out = {"act_nan": [c[0] for c in act], "act_inf": [c[1] for c in act],
               "corr": [(na + ni) / tf.cast(tf.size(a), f32) for (na, ni), a in zip(act, acts)],
               "grad_nan": [c[0] for c in grad], "grad_inf": [c[1] for c in grad]}
        kept = [(g, i) for g, i in zip(g_samples, owner) if g is not None and i < n]
        gw = [count(*g) for g, _ in kept]
        ids = const(tf, [i for _, i in kept], tf.int32)
        for j, name in enumerate(("gw_nan", "gw_inf")):
            out[name] = tf.math.unsorted_segment_sum(tf.stack([c[j] for c in gw]), ids, n) if gw else tf.zeros([n], f32)
        parts = [out[k] if k.startswith("gw_") else tf.stack(out[k]) for k in sizes if sizes[k]]
        return tf.concat(parts, 0) if parts else tf.zeros([0], f32)

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
        placed = {(i, STAT_INDEX[name]) for name, (_, layers) in vectors.items() for i in layers}
        cells = [(i * n_stats + j, value) for i, r in enumerate(rows) for j, value in enumerate(r)
                 if (i, j) not in placed]
        cells += [(len(rows) * n_stats + c, value) for c, value in enumerate(columns)]
        for position, value in cells:
            if isinstance(value, (int, float)):
                base[position] = value
            else:
                scalars.append(_scalar(tf, value))
                at.append(position)
        parts = [tf.stack(scalars)] if scalars else []
        for name, (vector, layers) in vectors.items():
            parts.append(vector)
            at += [i * n_stats + STAT_INDEX[name] for i in layers]
        if not parts:
            return tf.constant(base)
        return tf.tensor_scatter_nd_update(tf.constant(base), tf.constant(np.array(at, np.int32)[:, None]),
                                           tf.concat(parts, 0) if len(parts) > 1 else parts[0])

    def _forward_block(self, rows, vectors, order, acts, exact, counts, no_counts):
        """Statistics of the layers' outputs; returns the NaN/Inf counts
        (``counts()`` on a non-finite step, else ``no_counts()``).

        On a recorded step they use the batch's first examples: about
        `FORWARD_SAMPLE` values, and enough examples that each unit (the
        last axis: a Dense unit, a conv channel) has `UNIT_SAMPLE` values to
        be judged dead on. That is the whole batch for a Dense layer, and a
        few images for a conv layer, where each channel has a value at every
        position. On a non-finite step (``exact``) every value counts, and
        NaN/Inf values are left out of the means: the two are one nested
        branch (each with static shapes, which XLA needs), and what follows
        from them (per-unit comparisons, all layers at once) is built once.
        """
        tf = self._tf
        f32 = tf.float32
        by_unit = [i for i, a in zip(order, acts) if (a.shape.rank or 0) >= 2 and a.shape[-1] is not None]

        def side(full):
            means, mean_abs, signs, highs, lows, sats = [], [], [], [], [], []
            for i, a in zip(order, acts):
                rank = a.shape.rank or 0
                per_example = math.prod(a.shape[1:]) if rank >= 2 and a.shape[1:].is_fully_defined() else None
                if not full and per_example:
                    a = a[: max(2, -(-max(FORWARD_SAMPLE, UNIT_SAMPLE * int(a.shape[-1])) // per_example))]
                unit = i in by_unit
                highs.append(_reduce(tf, tf.reduce_max, a, rank - 1 if unit else None))
                lows.append(_reduce(tf, tf.reduce_min, a, rank - 1 if unit else None))
                safe = tf.where(tf.math.is_finite(a), a, const(tf, 0.0, f32)) if full else a
                magnitude = tf.abs(safe)
                means.append(_reduce(tf, tf.reduce_mean, safe))
                mean_abs.append(_reduce(tf, tf.reduce_mean, magnitude))
                # sign(|a|) is 1 for every value but exact zeros: the same
                # count as a == 0, without the boolean mask and its cast.
                signs.append(_reduce(tf, tf.reduce_mean, tf.sign(magnitude)))
                sat = self._saturated(a, self.activations[i], rank)
                if sat is not None:
                    sats.append(_reduce(tf, tf.reduce_mean, tf.cast(sat, f32)))
            pieces = [tf.stack(means), tf.stack(mean_abs), tf.stack(signs)] if order else []
            pieces += [tf.reshape(t, const(tf, [-1], tf.int32)) for t in highs + lows]
            pieces += [tf.stack(sats)] if sats else []
            return pieces + [counts() if full else no_counts()]

        out = _branch(exact, lambda: side(True), lambda: side(False))
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        if not order:
            return out[-1]
        means, mean_abs, signs = out[:3]
        highs, lows = out[3:3 + len(order)], out[3 + len(order):3 + 2 * len(order)]
        vectors["act_mean"], vectors["act_mean_abs"], vectors["act_sign"] = \
            (means, order), (mean_abs, order), (signs, order)
        saturating = [i for i, a in zip(order, acts) if self._saturated(None, self.activations[i],
                                                                         a.shape.rank or 0, probe=True)]
        if saturating:
            vectors["act_sat_frac"] = (out[3 + 2 * len(order)], saturating)
        for i, high, low in zip(order, highs, lows):
            if i not in by_unit:
                rows[i][STAT_INDEX["act_min"]], rows[i][STAT_INDEX["act_max"]] = low[0], high[0]
        if by_unit:
            pick = [k for k, i in enumerate(order) if i in by_unit]
            widths = [int(acts[k].shape[-1]) for k in pick]
            ids = const(tf, [j for j, w in enumerate(widths) for _ in range(w)], tf.int32)
            highs, lows = tf.concat([highs[k] for k in pick], 0), tf.concat([lows[k] for k in pick], 0)
            zero = const(tf, 0.0, f32)
            dead = tf.cast(tf.logical_and(tf.equal(highs, zero), tf.equal(lows, zero)), f32)
            vectors["act_dead_frac"] = (tf.math.unsorted_segment_sum(dead, ids, len(pick)) /
                                        const(tf, [float(w) for w in widths], f32), by_unit)
            vectors["act_min"] = (tf.math.unsorted_segment_min(lows, ids, len(pick)), by_unit)
            vectors["act_max"] = (tf.math.unsorted_segment_max(highs, ids, len(pick)), by_unit)
        return out[-1]

    def _saturated(self, a, activation, rank, probe=False):
        """Which values of ``a`` are saturated, for a squashing activation;
        else None (``probe``: only whether there is such a test)."""
        tf = self._tf
        eps = self.saturation_eps
        if activation in ("sigmoid", "hard_sigmoid"):
            return True if probe else tf.logical_or(a < eps, a > 1.0 - eps)
        if activation in ("tanh", "softsign", "hard_tanh"):
            return True if probe else tf.abs(a) > 1.0 - eps
        if activation == "softmax" and rank >= 2:
            return True if probe else tf.reduce_max(a, axis=-1) > 1.0 - eps
        return None

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

        def read():
            ws = [tf.cast(v, f32) for v in weights]

            def counted():
                return tf.stack([tf.stack([_count(tf, tf.math.is_nan(w)), _count(tf, tf.math.is_inf(w))])
                                 for w in ws])

            nonfinite = _branch(exact, counted, lambda: tf.zeros([len(ws), 2], f32))
            return nonfinite, tf.constant(1.0), tf.concat(_samples(tf, ws, strides), 0)

        def skip():  # few outputs: this branch runs on most steps
            return tf.zeros([len(weights), 2], f32), tf.constant(0.0), tf.zeros([sum(sizes)], f32)

        if not weights:
            return None
        nonfinite, taken, samples = _branch(take, read, skip)
        return {"nonfinite": nonfinite, "samples": samples, "taken": taken, "strides": strides, "sizes": sizes}

    def _weight_stats(self, vectors, weights, g_samples, before, counts):
        """Norms and NaN counts of the weights the forward pass used, their
        gradients, and the size of this step's update relative to them.

        All of them come from strided samples (`_weights_before`,
        `_weight_gradient_samples`), exact for weights of up to `RATIO_SAMPLE`
        elements: a full pass over every weight and gradient, or a copy of
        it, would cost more than the rest of the statistics. Norms are
        summed per layer at once (one value per layer); NaN/Inf counts are
        the sample's, times its stride.
        """
        tf = self._tf
        f32 = tf.float32
        n = len(self.layers)
        owner = [self._var_owner.get(id(v), n) for v in weights]  # n: a weight no probed layer owns
        if before is None or not weights:
            return
        every = list(range(n))
        nan = const(tf, math.nan, f32)
        has_weights = const(tf, [i in owner for i in range(n)], tf.bool)
        layer_of = const(tf, owner, tf.int32)
        strides = const(tf, [float(k) for k in before["strides"]], f32)

        def layer_sum(per_weight):
            return tf.math.unsorted_segment_sum(per_weight, layer_of, n + 1)[:n]

        def per_layer(per_weight):  # root of the sum over each layer's weights; NaN for layers without any
            return tf.where(has_weights, tf.sqrt(layer_sum(per_weight)), nan)

        def squares(tensors):  # sum of squares of each tensor, one fused op each
            return const(tf, 2.0, f32) * tf.stack([tf.nn.l2_loss(t) for t in tensors])

        old = tf.split(before["samples"], before["sizes"])
        w_norm = tf.where(before["taken"] > 0.5, per_layer(squares(old) * strides), nan)
        vectors["w_norm"] = (w_norm, every)
        g_sq = squares([g[0] if g is not None else tf.zeros([]) for g in g_samples])
        g_sq *= const(tf, [float(g[1]) if g is not None else 1.0 for g in g_samples], f32)
        has_grad = [False] * n
        for k, i in enumerate(owner):
            if i < n and g_samples[k] is not None:
                has_grad[i] = True
        vectors["gw_norm"] = (tf.where(const(tf, has_grad, tf.bool), per_layer(g_sq), nan), every)
        if self.update_ratio:
            new = _samples(tf, [tf.cast(v, f32) for v in weights], before["strides"])
            moved = squares([b - a for a, b in zip(old, new)]) * strides
            vectors["update_ratio"] = (per_layer(moved) / (w_norm + 1e-12), every)
        vectors["w_nan"] = (layer_sum(before["nonfinite"][:, 0]), every)
        vectors["w_inf"] = (layer_sum(before["nonfinite"][:, 1]), every)
        if counts["gw_nan"] is not None:
            vectors["gw_nan"], vectors["gw_inf"] = (counts["gw_nan"], every), (counts["gw_inf"], every)

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


def _reduce(tf, op, t, leading=None):
    """``op`` over all axes of ``t`` (or its first ``leading`` ones), with the
    axis list a shared constant."""
    rank = t.shape.rank
    if rank is None:
        return op(t)
    return op(t, axis=const(tf, list(range(rank if leading is None else leading)), tf.int32))


def _count(tf, mask):
    return _reduce(tf, tf.reduce_sum, tf.cast(mask, tf.float32))


def _scalar(tf, value):
    """``value`` as a float32 scalar, adding no op when it already is one."""
    value = tf.cast(value, tf.float32)
    return value if value.shape.rank == 0 else tf.reshape(value, [])
