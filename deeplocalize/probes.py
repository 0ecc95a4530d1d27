"""In-graph probes: per-layer statistics computed inside the compiled train step.

This is the only module that touches Keras/TensorFlow internals. `Probes`
replaces the model's ``train_step`` with an instrumented copy of Keras's own
step: one forward pass, one backward pass, one optimizer update, exactly as
Keras does it, plus a few reductions per layer (min, max, NaN counts, norms).
The reductions are written into a small ``tf.Variable`` ring that the
callback reads a batch of steps at a time; the full tensors never leave
the graph.

Two tiers keep the cost low:
- every step, the loss and a strided sample of each weight gradient: every
  NaN or Inf reaches one of them on the step it appears (see
  `Probes._sentinel`);
- on recorded steps (the first ``dense_steps``, then every ``every``-th, and
  any step whose sentinel is non-finite) the full statistics of
  `LAYER_STATS`, in branches that TensorFlow runs only when taken (see
  `_branch`).

How values are captured: each probed layer's ``call`` is wrapped (on the
instance) so that, while the instrumented step is being traced, its output
tensor is noted; the model's tensors themselves are left as they are. The
step then asks its one gradient tape for the gradients of the loss with
respect to the weights and to those outputs together: Keras's backward pass
computes the latter anyway on its way down to the weights, so the backward
values cost no second pass and no extra op. Outside that trace (eval,
predict) the wrapper is a plain pass-through and adds nothing to the graph.
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from deeplocalize.trace import LAYER_STATS, STAT_INDEX, LayerInfo

_LAYER_ACTIVATION = {  # layers that are an activation by themselves
    "ReLU": "relu",
    "Softmax": "softmax",
    "LeakyReLU": "leaky_relu",
    "PReLU": "leaky_relu",
    "ELU": "elu",
}
_SKIP_CLASSES = {"InputLayer"}

# Global per-step columns written by the graph, besides the per-input ones.
_BASE_COLUMNS = ("step", "nonfinite", "loss", "lr", "batch_size")
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
MAX_COLUMNS = 96  # per-step columns kept: the base ones, then 4 per input and 6 per target
RING_ROWS = 32  # recorded steps the graph holds until the callback reads them, a batch at a time
RATIO_SAMPLE = 4096  # weights and their gradients are sampled at a stride of size // this: under twice this many elements each
FORWARD_SAMPLE = 16384  # forward statistics of larger outputs use the batch's first examples, about this many values
UNIT_SAMPLE = 256  # ...and enough examples that every unit (channel) is judged dead or alive on at least this many values
GRADIENT_SAMPLE = 128  # values kept per example of a large layer's output gradient (see _gradient_sample)
GRADIENT_FULL_MAX = 16384  # ...large: more values per example than this; smaller gradients are kept whole


def activation_name(layer) -> str | None:
    """The activation a layer applies last, as a lowercase name, or None.

    Example:
        >>> activation_name(keras.layers.Dense(3, activation="sigmoid"))
        'sigmoid'
    """
    cls = type(layer).__name__
    if cls in _LAYER_ACTIVATION:
        return _LAYER_ACTIVATION[cls]
    fn = getattr(layer, "activation", None)
    if fn is None:
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    name = name.lower()
    return "linear" if name in ("linear", "identity") else name


def _initializer_name(layer) -> str | None:
    init = getattr(layer, "kernel_initializer", None)
    if init is None:
        return None
    return type(init).__name__


def probed_layers(model) -> list:
    """The layers that get probes: the model's own layers, minus input layers."""
    return [layer for layer in model.layers if type(layer).__name__ not in _SKIP_CLASSES]


class Probes:
    """Instruments a compiled Keras model so every train step records statistics.

    Example:
        >>> probes = Probes(model, saturation_eps=0.01)
        >>> probes.install()          # replaces model.train_step, rebuilds train_function
        >>> model.train_function(iterator)  # one step: statistics land in probes.buffer
        >>> layer_row, columns = probes.read()[-1]
        >>> probes.uninstall()        # back to the model's own train step
    """

    def __init__(self, model, *, saturation_eps: float = 0.01, update_ratio: bool = True,
                 every: int = 10, dense_steps: int = 30):
        import tensorflow as tf

        self.model = model
        self.saturation_eps = float(saturation_eps)
        self.update_ratio = bool(update_ratio)
        self.every = int(every)
        self.dense_steps = int(dense_steps)
        self._counter = None
        self.layers = probed_layers(model)
        self.activations = [activation_name(layer) for layer in self.layers]
        self._recording: dict | None = None
        self._logits: dict = {}
        self._graph = None
        self._orig_calls: dict[int, object] = {}
        self._installed = False
        self._train_function = None
        self._orig_train_function = None
        self.trace_error: BaseException | None = None
        self.fell_back = False
        self.fault_waiting = False
        self.exec_order: list[int] | None = None
        self.columns: list[str] = list(_BASE_COLUMNS)
        self._tf = tf
        n_layer = len(self.layers) * len(LAYER_STATS)
        self._n_layer = n_layer
        self.buffer = None
        self._var_owner = self._map_variables()
        self.capture = None  # a deeplocalize.verify SampleCapture when verification is on

    # ---- set-up ------------------------------------------------------------
    def _map_variables(self) -> dict[int, int]:
        owner = {}
        for i, layer in enumerate(self.layers):
            for v in layer.weights:
                owner.setdefault(id(v), i)
        return owner

    def layer_infos(self) -> list[LayerInfo]:
        """Static facts about each probed layer, in the order of ``self.layers``."""
        infos = []
        outputs = {id(t) for t in _flatten(getattr(self.model, "outputs", None) or [])}
        for i, layer in enumerate(self.layers):
            try:
                shape = list(layer.output.shape) if hasattr(layer, "output") else None
            except Exception:  # subclassed models have no symbolic outputs
                shape = None
            try:
                is_output = any(id(t) in outputs for t in _flatten(layer.output))
            except Exception:
                is_output = False
            infos.append(
                LayerInfo(
                    name=layer.name,
                    class_name=type(layer).__name__,
                    index=i,
                    activation=self.activations[i],
                    output_shape=[None if d is None else int(d) for d in shape] if shape else None,
                    n_params=int(sum(math.prod(v.shape) for v in layer.weights)),
                    trainable=bool(layer.trainable),
                    kernel_initializer=_initializer_name(layer),
                    is_output=is_output,
                )
            )
        if infos and not any(info.is_output for info in infos):
            infos[-1].is_output = True
        return infos

    @classmethod
    def for_model(cls, model, **settings) -> "Probes":
        """The model's probes, reused across ``fit`` calls when settings match.

        Reuse keeps the traced train step, so a second ``fit`` does not pay
        for tracing again (Keras caches its own train function the same way).
        """
        cached = _CACHE.get(model)
        if cached is not None and cached.settings == settings and cached.trace_error is None:
            return cached
        probes = cls(model, **settings)
        _CACHE[model] = probes
        return probes

    @property
    def settings(self) -> dict:
        return {"saturation_eps": self.saturation_eps, "update_ratio": self.update_ratio}

    def set_sampling(self, every: int, dense_steps: int) -> None:
        """Record full statistics on the first ``dense_steps`` steps, then every
        ``every``-th. Held in variables, so changing it never retraces."""
        self.every, self.dense_steps = max(1, int(every)), max(0, int(dense_steps))
        self._create_buffers()
        self._every_var.assign(self.every)
        self._dense_var.assign(self.dense_steps)

    def install(self) -> None:
        """Wrap the layers' ``call`` and swap in the instrumented train step."""
        if self._installed:
            return
        for i, layer in enumerate(self.layers):
            self._orig_calls[i] = layer.__dict__.get("call")
            layer.call = self._wrap_call(layer, i, layer.call)
        self._orig_train_function = self.model.train_function
        self._create_buffers()
        self._counter.assign(0)
        self._fault_step.assign(-1.0)
        empty = np.zeros(self.buffer.shape, np.float32)
        empty[:, self._n_layer] = -1.0  # the step column: nothing recorded yet
        self.buffer.assign(empty)
        self._rows.assign(0)
        self.model.train_step = self._train_step
        if self._train_function is None:
            self.model.make_train_function(force=True)
            self._train_function = self._guard(self.model.train_function)
        self.model.train_function = self._train_function
        self._installed = True

    def _guard(self, instrumented):
        """The instrumented train function, falling back to the model's own
        when it fails to run: tracing errors are caught in `_train_step`, but
        some only show when the graph is compiled on the first call (an op
        XLA cannot compile). The step is then retried without the probes, so
        a user's own error still surfaces, from their own train function."""
        probes = self

        def train_function(iterator):
            if probes.fell_back:
                return probes._orig_train_function(iterator)
            try:
                return instrumented(iterator)
            except Exception as exc:
                probes.trace_error, probes.fell_back = exc, True
                original = probes._orig_train_function
                probes.uninstall()
                return original(iterator)

        return train_function

    def uninstall(self) -> None:
        """Restore the layers, the model's own train step and its train function."""
        if not self._installed:
            return
        for i, layer in enumerate(self.layers):
            orig = self._orig_calls.get(i)
            if orig is None:
                layer.__dict__.pop("call", None)
            else:
                layer.call = orig
        self.model.__dict__.pop("train_step", None)
        self.model.train_function = self._orig_train_function
        if self.fell_back:
            self._train_function = None
        self._installed = False

    def _wrap_call(self, layer, index, call):
        probes = self

        @functools.wraps(call)
        def call_and_record(*args, **kwargs):
            outputs = call(*args, **kwargs)
            rec = probes._recording
            if rec is None or index in rec:
                return outputs
            first = next((t for t in _flatten(outputs) if _is_float_tensor(t)), None)
            graph = getattr(first, "graph", None)
            if graph is not None and probes._graph is not None and graph is not probes._graph:
                return outputs  # a shape-inference call in a scratch graph, not the real forward pass
            if first is not None:
                rec[index] = first  # recorded, not replaced: the model computes exactly what it did
                probes._logits[index] = getattr(first, "_keras_logits", None)
            return outputs

        return call_and_record

    # ---- the instrumented step --------------------------------------------
    def _train_step(self, data):
        """Keras's TensorFlow train step, plus statistics. Falls back to the
        model's own step if instrumentation cannot be traced."""
        try:
            return self._instrumented_step(data)
        except Exception as exc:  # trace-time failure: train as if we were absent
            self.trace_error = exc
            self.fell_back = True
            self._recording = None
            return type(self.model).train_step(self.model, data)

    def _instrumented_step(self, data):
        tf = self._tf
        from keras.src.trainers.data_adapters import data_adapter_utils

        model = self.model
        x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
        if self.capture is not None:  # verification's copy of the first batches (one cond per step)
            self.capture.in_step(data, jit=bool(getattr(model, "jit_compile", False)))
        self._recording, self._logits = {}, {}
        self._graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        with tf.GradientTape() as tape:
            try:
                if model._call_has_training_arg:
                    y_pred = model(x, training=True)
                else:
                    y_pred = model(x)
            finally:
                captured = self._recording
                self._recording = None
            compute_loss = getattr(model, "_compute_loss", None) or model.compute_loss
            loss = compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            unscaled_loss = _unscale_for_distribution(loss)
            model._loss_tracker.update_state(
                unscaled_loss,
                sample_weight=tf.shape(next(i for i in _flatten(x) if i is not None))[0],
            )
            if model.optimizer is not None:
                loss = model.optimizer.scale_loss(loss)

        self._var_owner = self._map_variables()  # subclassed models build on first call
        order = list(captured)  # dicts keep insertion order: execution order
        self.exec_order = order
        weights = list(model.trainable_weights)
        step = self._step_counter()
        sampled = tf.logical_or(step < self._dense_var, tf.equal(step % self._every_var, 0))
        # The step's own update runs unconditionally and as soon as its
        # gradient is ready, as in Keras. What the statistics need from the
        # weights before it is read first, and only on steps that may be
        # recorded: sampled ones, and ones whose loss is already non-finite
        # (then the counts of non-finite weights are exact). A fault that
        # first shows in the backward pass has finite weights before it.
        loss_bad = tf.logical_not(tf.math.is_finite(tf.cast(unscaled_loss, tf.float32)))
        before = self._weights_before(weights, tf.logical_or(sampled, loss_bad), loss_bad)
        acts = [captured[i] for i in order]
        grads = self._gradients(tape, loss, weights, acts, [self._logits.get(i) for i in order])
        w_grads, a_grads = grads[:len(weights)], grads[len(weights):]
        if weights:
            model.optimizer.apply_gradients(zip(w_grads, weights))

        g_samples = self._weight_gradient_samples(w_grads)
        bad = self._sentinel(unscaled_loss, g_samples)

        def record_step(exact):
            # NaN/Inf counts and masking cost several passes over every tensor;
            # they are only needed on a step whose sentinel is non-finite.
            values = self._write_stats(step, x, y, unscaled_loss, order, acts, a_grads, weights, g_samples, before,
                                       exact=exact)
            rows = self._rows.read_value()
            written = self.buffer.scatter_nd_update([[rows % RING_ROWS]], values[None])  # XLA-compatible
            with tf.control_dependencies([written]):
                self._rows.assign(rows + 1)
            if exact:
                def keep_fault():  # the first non-finite step's statistics, kept until read
                    kept = [self.fault_buffer.assign(values), self._fault_step.assign(tf.cast(step, tf.float32))]
                    with tf.control_dependencies(kept):
                        return self._notify_fault()

                _branch(self._fault_step < 0, keep_fault, lambda: tf.constant(0.0))
            return tf.constant(1.0)

        # One function call whether the step is skipped, sampled or exact.
        kind = tf.where(bad, 2, tf.where(sampled, 1, 0))
        _switch(kind, [lambda: tf.constant(0.0), lambda: record_step(False), lambda: record_step(True)])
        self._counter.assign_add(1)
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _gradients(self, tape, loss, weights, acts, logits):
        """The weight gradients, then a sample of the gradient arriving at
        each layer's output (see `_gradient_sample`), from one tape call.

        Keras's backward pass computes the gradients at the layers' outputs
        anyway on its way down to the weights, so asking for them adds no op.
        A sigmoid or softmax output whose cross-entropy Keras takes from its
        logits gets no gradient at its probabilities; its logits' gradient
        stands in for it.
        """
        tf = self._tf
        extra = [k for k, z in enumerate(logits) if z is not None]
        sources = weights + acts + [logits[k] for k in extra]
        grads = tape.gradient(loss, sources, unconnected_gradients=tf.UnconnectedGradients.NONE)
        n = len(weights)
        at_outputs = grads[n:n + len(acts)]
        for k, g in zip(extra, grads[n + len(acts):]):
            if at_outputs[k] is None:
                at_outputs[k] = g
        return grads[:n] + [None if g is None else _gradient_sample(tf, g) for g in at_outputs]

    def _notify_fault(self):
        """Tell the callback, from inside the step, that a fault was kept: it
        then reads it at this batch's end instead of waiting for the next
        batch of recorded steps. A Python call, so only where the step is not
        compiled with XLA (there the callback reads a flag variable instead)."""
        tf = self._tf
        if getattr(self.model, "jit_compile", False):
            return tf.constant(0.0)

        def notify():
            self.fault_waiting = True
            return np.float32(0.0)

        return tf.numpy_function(notify, [], tf.float32, stateful=True)

    def _step_counter(self):
        return self._counter.read_value()

    def _create_buffers(self):
        """Variables are made once, outside any tf.function (Keras traces the
        train step more than once for some models)."""
        tf = self._tf
        if self._counter is None:
            self._counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="deeplocalize_step")
            self._every_var = tf.Variable(self.every, dtype=tf.int64, trainable=False, name="deeplocalize_every")
            self._dense_var = tf.Variable(self.dense_steps, dtype=tf.int64, trainable=False, name="deeplocalize_dense")
            width = self._n_layer + MAX_COLUMNS
            self.buffer = tf.Variable(tf.zeros([RING_ROWS, width], tf.float32), trainable=False,
                                      name="deeplocalize_probe")
            self._rows = tf.Variable(0, dtype=tf.int64, trainable=False, name="deeplocalize_rows")
            self.fault_buffer = tf.Variable(tf.zeros([width], tf.float32), trainable=False, name="deeplocalize_fault")
            self._fault_step = tf.Variable(-1.0, trainable=False, name="deeplocalize_fault_step")

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

    # ---- reading -----------------------------------------------------------
    def is_sampled(self, step: int) -> bool:
        """Whether the graph records full statistics on ``step`` (besides
        non-finite steps), so the callback reads only when there is news."""
        return step < self.dense_steps or step % self.every == 0

    def fault_kept(self) -> bool:
        """Whether the graph kept a non-finite step that was not read yet
        (free, but under XLA a read of one variable)."""
        if self.fault_waiting:
            return True
        return bool(getattr(self.model, "jit_compile", False)) and float(self._fault_step.numpy()) >= 0

    def read_fault(self):
        """The statistics of the first step with a NaN/Inf, or None."""
        self.fault_waiting = False
        step = float(self._fault_step.numpy())
        if step < 0:
            return None
        return self._unpack(self.fault_buffer.numpy(), step)

    def clear_fault(self) -> None:
        """Forget the kept step (the sentinel's sum overflowed on huge but
        finite values), so that the next non-finite step is kept instead."""
        self._fault_step.assign(-1.0)

    def _unpack(self, values, step=None):
        values = values.astype(float)
        n = self._n_layer
        layer_row = values[:n].reshape(len(self.layers), len(LAYER_STATS))
        columns = dict(zip(self.columns, values[n: n + len(self.columns)].tolist()))
        if step is not None:
            columns["step"] = float(step)
        return layer_row, columns

    def read(self) -> list:
        """The recorded steps the graph holds, oldest first: a list of
        ``(layer_row, columns)``.

        The graph keeps the last `RING_ROWS` recorded steps, so the callback
        reads them a batch at a time. ``layer_row`` has shape
        ``(n_layers, len(LAYER_STATS))`` in the order of ``self.layers``;
        ``columns["step"]`` says which step it was (not every step is
        recorded, see ``every``), and ``columns["nonfinite"]`` is 1 when the
        step's sentinel saw a NaN or Inf (then its counts are exact).
        """
        values = self.buffer.numpy()
        steps = values[:, self._n_layer]
        return [self._unpack(values[r]) for r in np.argsort(steps, kind="stable") if steps[r] >= 0]


def _branch(pred, true_fn, false_fn):
    """``tf.cond`` whose untaken branch costs nothing.

    ``tf.cond`` inside a ``tf.function`` is lowered to Switch/Merge ops, and
    the executor then walks every op of the untaken branch to mark it dead:
    with a branch of several hundred statistics that walk costs more, every
    step, than the statistics do on the steps they are taken. The unlowered
    form runs the taken branch as a function call instead. Falls back to
    ``tf.cond`` where TensorFlow lacks it.
    """
    import tensorflow as tf

    try:
        from tensorflow.python.ops.cond_v2 import fast_cond_v2
    except ImportError:
        return tf.cond(pred, true_fn, false_fn)
    out = fast_cond_v2(pred, true_fn, false_fn)
    return _single(out)


def _single(out):
    """A cond's outputs as the branch returned them: one tensor, not a list of one."""
    return out[0] if isinstance(out, (list, tuple)) and len(out) == 1 else out


def _switch(index, branch_fns):
    """``tf.switch_case``, unlowered like `_branch`: one ``Case`` op that
    runs only the chosen branch, as a function call."""
    import tensorflow as tf

    try:
        from tensorflow.python.ops.cond_v2 import indexed_case
    except ImportError:
        return tf.switch_case(index, branch_fns)
    out = indexed_case(index, branch_fns, lower_using_switch_merge=False)
    return _single(out)


def _unscale_for_distribution(loss):
    try:
        from keras.src.losses.loss import unscale_loss_for_distribution
    except ImportError:  # older Keras 3 releases have no distribution scaling
        return loss
    return unscale_loss_for_distribution(loss)


def _flatten(structure):
    import keras

    return keras.tree.flatten(structure) if structure is not None else []


def _is_float_tensor(t) -> bool:
    dtype = getattr(t, "dtype", None)
    return dtype is not None and bool(getattr(dtype, "is_floating", False))


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
