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
import weakref

import numpy as np

from deeplocalize.probes.ring import _BASE_COLUMNS, RING_ROWS, RingBuffer
from deeplocalize.probes.graph import _branch, continued_in_place
from deeplocalize.probes.layer_infos import layer_infos
from deeplocalize.probes.prebuild import build_state
from deeplocalize.probes.sampling import _gradient_sample
from deeplocalize.probes.stats import Statistics, _flatten
from deeplocalize.trace import LAYER_STATS, LayerInfo
from deeplocalize.vocab import UNPROBED_CLASSES, keras_activation_name

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def activation_name(layer) -> str | None:
    """The activation a layer applies last, as a lowercase name, or None.

    Example:
        >>> activation_name(keras.layers.Dense(3, activation="sigmoid"))
        'sigmoid'
    """
    return keras_activation_name(layer)


def probed_layers(model) -> list:
    """The layers that get probes: the model's own layers, minus input layers."""
    return [layer for layer in model.layers if type(layer).__name__ not in UNPROBED_CLASSES]

class Probes(RingBuffer, Statistics):
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
        self._built = False  # model, metric and optimizer variables made before the first trace
        self.capture = None  # a deeplocalize.verify SampleCapture when verification is on
        self.fault_waiting = False
        self.exec_order: list[int] | None = None
        self.unread: set[int] = set()  # layers whose outputs are left unread (see continued_in_place)
        self.coverage = {"observer": "in_graph", "watched": "every layer's forward values, gradients and weights",
                         "not_watched": [], "why": None}
        self.columns: list[str] = list(_BASE_COLUMNS)
        self._tf = tf
        n_layer = len(self.layers) * len(LAYER_STATS)
        self._n_layer = n_layer
        self.buffer = None
        self._var_owner = self._map_variables()

    # ---- set-up ------------------------------------------------------------
    def _map_variables(self) -> dict[int, int]:
        owner = {}
        for i, layer in enumerate(self.layers):
            for v in layer.weights:
                owner.setdefault(id(v), i)
        return owner

    def layer_infos(self) -> list[LayerInfo]:
        """Static facts about each probed layer, in the order of ``self.layers``."""
        return layer_infos(self.model, self.layers, self.activations)

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
            if not probes._built:
                probes._built = build_state(probes.model, iterator)
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
        taking = None  # verification's copy of the first batches: (on, take), run in the recording branch
        if self.capture is not None:
            taking = self.capture.in_step(data, jit=bool(getattr(model, "jit_compile", False)))
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
        read = [i for i in order if not continued_in_place(captured[i])]
        self._note_unread([i for i in order if i not in read])
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

        def record_step():
            # One branch for sampled and non-finite steps: NaN/Inf counts and
            # masking, needed only on a step whose sentinel is non-finite,
            # sit in a branch of their own inside it (see `_write_stats`).
            values = self._write_stats(step, x, y, unscaled_loss, read, [captured[i] for i in read],
                                       list(zip(order, a_grads)), weights, g_samples, before, exact=bad)
            rows = self._rows.read_value()
            written = self.buffer.scatter_nd_update([[rows % RING_ROWS]], values[None])  # XLA-compatible

            def keep_fault():  # the first non-finite step's statistics, kept until read
                kept = [self.fault_buffer.assign(values), self._fault_step.assign(tf.cast(step, tf.float32))]
                with tf.control_dependencies(kept):
                    return self._notify_fault()

            with tf.control_dependencies([written]):
                self._rows.assign(rows + 1)
                _branch(tf.logical_and(bad, self._fault_step < 0), keep_fault, lambda: tf.constant(0.0))
            return tf.constant(1.0)

        recorded = tf.logical_or(bad, sampled)
        if taking is None:
            _branch(recorded, record_step, lambda: tf.constant(0.0))
        else:  # one conditional per step for both: each costs the executor, taken or not
            on, take = taking

            def record_or_take():
                _branch(on, take, lambda: tf.constant(0, tf.int64))
                return _branch(recorded, record_step, lambda: tf.constant(0.0))

            _branch(tf.logical_or(recorded, on), record_or_take, lambda: tf.constant(0.0))
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
        return grads[:n] + [None if g is None or continued_in_place(g) else _gradient_sample(tf, g) for g in at_outputs]

    def _note_unread(self, unread: list[int]) -> None:
        """Say in the coverage which layers' outputs are left unread (see `continued_in_place`)."""
        self.unread = set(unread)
        names = ", ".join(f"'{self.layers[i].name}'" for i in unread)
        kept = [w for w in self.coverage["not_watched"] if not w.startswith("output values of ")]
        self.coverage["not_watched"] = kept + ([
            f"output values of {names} (a sum that the next layer continues: reading it would change how "
            "TensorFlow rounds that sum, so the run would no longer train exactly as without the callback)"]
            if unread else [])

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

def _unscale_for_distribution(loss):
    try:
        from keras.src.losses.loss import unscale_loss_for_distribution
    except ImportError:  # older Keras 3 releases have no distribution scaling
        return loss
    return unscale_loss_for_distribution(loss)


def _is_float_tensor(t) -> bool:
    dtype = getattr(t, "dtype", None)
    return dtype is not None and bool(getattr(dtype, "is_floating", False))
