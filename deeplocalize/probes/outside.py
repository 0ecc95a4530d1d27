"""Watching a run from outside its train step, on any backend.

Where the in-step probes cannot go (the JAX and PyTorch backends, a model
with its own ``train_step``, ``run_eagerly=True``, a ``tf.distribute``
strategy, a step that failed to instrument) the callback reads what can be
read between steps, with ``keras.ops`` and numpy only, and the user's step
runs exactly as written:

- on recorded steps (the same schedule as the probes), each probed layer's
  trainable weights as the step found them: their norm, NaN/Inf counts,
  and the size of the step's update relative to them (the weights are read
  after the step before, and after the step);
- every step, the loss Keras logs: a NaN or Inf is caught on the step it
  appears;
- the first batch's input and label statistics, and on JAX and PyTorch the
  labels' on recorded steps (`BatchTap`, taken as the train function
  receives the batch), for the checks of data;
- where the backend lets them be seen as the step runs, each layer's
  forward values (`ForwardCapture`) and, on JAX and PyTorch, its weight
  gradients and the gradient at its output (`BackwardCapture`): a NaN or
  Inf born in a layer, forward or backward, is named on its step.

Rows have the probes' layout (`LAYER_STATS`); what cannot be seen from
outside (`NOT_WATCHED`) stays NaN and the diagnosis says so.

Example:
    >>> watcher = OutsideObserver(model, reason="the JAX backend")
    >>> watcher.install(); watcher.observe(0, 0, {"loss": 2.3})
    >>> layer_row, columns = watcher.read()[0]
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from deeplocalize.probes.backward import OUTPUT_GRAD_STATS, WEIGHT_GRAD_STATS
from deeplocalize.probes.forward import FORWARD_STATS
from deeplocalize.probes.stats import _sample_stride
from deeplocalize.probes.held import held_values, learning_rate
from deeplocalize.probes.layer_infos import layer_infos
from deeplocalize.probes.step import activation_name, probed_layers
from deeplocalize.trace import LAYER_STATS, STAT_INDEX

NOT_WATCHED = ("forward values (activations)", "gradients at the layers' outputs", "weight gradients")
WATCHED = "weights, update ratios, logged loss and metrics"
_FORWARD = [STAT_INDEX[n] for n in FORWARD_STATS]
_OUTPUT_GRAD = [STAT_INDEX[n] for n in OUTPUT_GRAD_STATS]
_WEIGHT_GRAD = [STAT_INDEX[n] for n in WEIGHT_GRAD_STATS]
_COUNTS = [STAT_INDEX[n] for n in LAYER_STATS if n.endswith(("_nan", "_inf"))]
_WEIGHTS = [STAT_INDEX[n] for n in ("w_norm", "w_nan", "w_inf", "update_ratio")]


class OutsideObserver:
    """Reads weights and logs between steps; the same interface as `Probes`.

    ``model_now`` returns the model (on JAX, mid-epoch, the values Keras
    holds apart from its variables are read where they are, see
    `deeplocalize.probes.held.held_values`). ``per_step_loss``: Keras's own step logs the mean loss
    since the epoch began, from which each step's loss is recovered; a
    user's step may log anything, so there the logged value is kept as is.
    ``forward`` (a `ForwardCapture`, optional) adds the layers' forward
    values where the backend lets them be seen, and its ``backward`` (a
    `BackwardCapture`, optional) their gradients. ``coverage`` says what
    is watched; it is kept up to date (the trace's meta holds this dict):
    gradients the step never passed by, or whose capture failed, are
    moved to ``not_watched``.

    Example:
        >>> OutsideObserver(model, reason="run_eagerly=True").is_sampled(0)
        True
    """

    fell_back = False
    trace_error = None

    def __init__(self, model, reason: str, *, model_now=None, per_step_loss: bool = True, forward=None,
                 every: int = 10, dense_steps: int = 30):
        self.model = model
        self.reason = reason
        self._model_now = model_now or (lambda: model)
        self.per_step_loss = bool(per_step_loss)
        self._owner_cache = None
        self.layers = probed_layers(model)
        self.activations = [activation_name(layer) for layer in self.layers]
        self.exec_order: list[int] | None = None
        self.forward = forward
        self.set_sampling(every, dense_steps)
        self.backward = getattr(forward, "backward", None)
        seen = [forward is not None] + [self.backward is not None] * 2
        self.coverage = {"observer": "outside", "why": reason,
                         "watched": ", ".join([w for w, s in zip(("forward values",) + NOT_WATCHED[1:], seen) if s]
                                              + [WATCHED]),
                         "not_watched": [w for w, s in zip(NOT_WATCHED, seen) if not s]}
        self.columns = ["step", "nonfinite", "loss", "lr"]
        self._rows: list = []
        self._fault = None
        self._fault_seen = False
        self._before: tuple[int, list] | None = None  # (step, weights as that step finds them)
        self._last_mean: tuple[int, float] | None = None  # (batch, logged mean loss) in this epoch
        self._last_step = -1
        self._first_batch = None  # an OutsideCapture filling a BatchTap, while batches are wanted
        self._first_batch_due = False
        self._steps_seen = 0  # steps whose gradients were read
        self._carry = False  # a recorded step deferred to the next (see begin_batch)

    # ---- the Probes interface ------------------------------------------------
    def layer_infos(self):
        """Static facts about each probed layer, in the order of ``self.layers``."""
        return layer_infos(self.model, self.layers, self.activations)

    def set_sampling(self, every: int, dense_steps: int) -> None:
        """Record the first ``dense_steps`` steps, then every ``every``-th."""
        self.every, self.dense_steps = max(1, int(every)), max(0, int(dense_steps))
        if self.forward is not None:
            self.forward.precompile = self.every > 1

    def is_sampled(self, step: int) -> bool:
        return step < self.dense_steps or step % self.every == 0

    def _any_sampled(self, first: int, span: int) -> bool:
        """Whether one of the ``span`` steps from ``first`` on is recorded."""
        return any(self.is_sampled(s) for s in range(first, first + span))

    def install(self, first_step: int = 0) -> None:
        """Read the weights step ``first_step`` starts from (nothing of the model changes)."""
        self._last_step, self._carry = first_step - 1, False
        self._before = (first_step, self._read(self._model_now()))
        if self.forward is not None:
            self.forward.replay_faults = True
            self.forward.install(self.model)
        self._first_batch_due = True  # tapped at the next batch's start, outside any other wrapper

    def uninstall(self) -> None:
        self._before = None
        self._untap()
        if self.forward is not None:
            self.forward.end_epoch()  # nothing compiles on in the background after training
            self.forward.uninstall()

    def _tap_first_batch(self) -> None:
        from deeplocalize.probes.batch_stats import tap

        self._first_batch = tap(self.model)

    def _untap(self) -> None:
        tap, self._first_batch = self._first_batch, None
        if tap is not None:
            tap.switch_off()

    def _batch_columns(self) -> dict:
        """The columns of the batch last tapped, once (TensorFlow's train function reads
        batches ahead while tapped: there the tap comes off after the first), and the
        labels' moments a JAX step returned (`jax_step._label_moments`)."""
        tap, moments = self._first_batch, getattr(self.forward, "label_moments", None)
        columns = tap.sample.take() if tap is not None else {}
        if columns and tap._backend == "tensorflow":
            self._untap()
        for k, (mean, sq, width) in enumerate(() if moments is None else moments):
            columns = {f"y{k}_mean": float(mean), f"y{k}_sq": float(sq), f"y{k}_width": float(width), **columns}
        return columns

    def read(self) -> list:
        """The rows recorded since the last read, oldest first."""
        rows, self._rows = self._rows, []
        return rows

    def fault_kept(self) -> bool:
        return self._fault is not None

    def read_fault(self):
        fault, self._fault = self._fault, None
        return fault

    def clear_fault(self) -> None:
        self._fault = None

    # ---- watching ---------------------------------------------------------------
    def new_epoch(self) -> None:
        self._last_mean = None
        self._owner_cache = None  # the model's trainable weights are looked up again (once per epoch)

    def end_epoch(self) -> None:
        """At the epoch's end, finish the forward capture's background work.
        Example: ``observer.end_epoch()``, from the callback's ``on_epoch_end``."""
        if self.forward is not None:
            self.forward.end_epoch()

    def begin_batch(self) -> None:
        """Before the train function runs (the forward values are noted from here)."""
        span = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        first = self._last_step + 1
        record = self._carry or self._any_sampled(first, span)
        if self.forward is not None:
            self.forward.begin_step(record=record,
                                    may_defer=span == 1 and first >= self.dense_steps and self.every > 1)
        if self.backward is not None:
            self.backward.begin_step(record=record)
        in_step = self.forward is not None and self.forward._jax and not self.forward._host_calls  # see _batch_columns
        if record and self._first_batch is not None and not in_step:
            self._first_batch.sample.want = True
        if self._first_batch_due:
            self._first_batch_due = False
            self._tap_first_batch()

    def observe(self, step: int, batch: int, logs: dict) -> None:
        """After training step ``step`` (batch ``batch`` of its epoch, as
        Keras numbers it) with the logs Keras passed the callbacks."""
        loss = self._step_loss(batch, logs.get("loss"))
        if self._quiet(step, loss):
            return
        forward, order = self.forward.end_step() if self.forward is not None else ({}, [])
        grads, weight_grads = self._gradients()
        if order and self.exec_order is None:
            self.exec_order = list(order)
        counts = [v[:2] for v in forward.values()] + [v[1:] for v in grads.values()]
        counts += [] if weight_grads is None else [weight_grads[:, 1:].ravel()]
        bad = (loss is not None and not math.isfinite(loss)) or bool(counts and np.concatenate(
            [np.ravel(c) for c in counts]).sum() > 0)
        bad = bad and not self._fault_seen
        # With several steps per execution a call covers ``span`` steps.
        span, self._last_step = max(1, step - self._last_step), step
        sampled, next_sampled = self._any_sampled(step - span + 1, span), self._any_sampled(step + 1, span)
        # a recorded step run unrecorded (see ForwardCapture.begin_step): the next one is recorded
        deferred = self.forward is not None and self.forward.deferred and not bad
        sampled, self._carry = (sampled or self._carry) and not deferred, deferred
        next_sampled = next_sampled or deferred
        # a JAX step that returns its statistics also returns its weights' (see jax_step._weight_stats)
        delivered = self.forward.weight_stats if self.forward is not None else None
        returns_weights = self.forward is not None and self.forward._jax and not self.forward._host_calls
        if not (sampled or bad or (next_sampled and not returns_weights)):
            self._before = None
            return
        model = self._model_now()
        if delivered is not None and len(delivered) != len(self._owners(model)):
            delivered = None  # the trainable weights changed since the step was compiled
        before = now = None
        if delivered is None:
            now = self._read(model)
            before = self._before[1] if self._before is not None and self._before[0] == step - span + 1 else None
        if sampled or bad:
            columns = {"step": float(step), "nonfinite": float(bad), "loss": np.nan if loss is None else loss,
                       "lr": learning_rate(model)}
            columns.update(self._batch_columns())
            row = self._layer_row(before, now) if delivered is None else self._stats_row(delivered, model)
            for i, values in forward.items():
                row[i, _FORWARD] = values
            for i, values in grads.items():
                row[i, _OUTPUT_GRAD] = values
            if weight_grads is not None:
                row[:, _WEIGHT_GRAD] = weight_grads
            if bad:
                self._fault_seen = True
                self._fault = (row, columns)
                if self.forward is not None:  # later faults are not kept: no step need be replayed for them
                    self.forward.replay_faults = False
            else:
                self._rows.append((row, columns))
        self._before = (step + 1, now) if next_sampled else None

    def _quiet(self, step: int, loss) -> bool:
        """Whether step ``step`` was a JAX step compiled without statistics
        (see `deeplocalize.probes.jax_step`) whose NaN/Inf flag, now read, is
        not set, with a finite loss and nothing to record: then only the step
        count moves on (a few microseconds, where the full path takes 30)."""
        forward = self.forward
        if (forward is None or not forward._jax or forward._host_calls or forward._want != "nonfinite"
                or self._carry or step != self._last_step + 1 or self.is_sampled(step)
                or (loss is not None and not math.isfinite(loss))):
            return False
        forward.settle()  # a set flag replays the step recorded: its statistics arrive here
        if forward._seen or forward.weight_stats is not None:
            return False
        forward.active = False
        if self.backward is not None:
            self.backward.active = False
        self._last_step, self._before = step, None
        return True

    def _gradients(self) -> tuple[dict, np.ndarray | None]:
        """The step's gradient statistics (see `BackwardCapture.end_step`).
        What did not arrive on the first step is said not watched; a failed
        capture is warned about once and watched no more."""
        backward = self.backward
        if backward is None:
            return {}, None
        grads, weight_grads = backward.end_step()
        failed = backward.error
        unseen = [(what, why) for what, why, seen in (
            (NOT_WATCHED[1], "the step did not differentiate through the layers' outputs", backward.seen["outputs"]),
            (NOT_WATCHED[2], "the step did not pass them to the optimizer's apply", backward.seen["weights"]))
            if failed is not None or not (seen or self._steps_seen)]
        self._steps_seen += 1
        if failed is not None:
            warnings.warn(f"deeplocalize: noting the gradients failed ({type(failed).__name__}: {failed}); "
                          "training continues unaffected, watched without them from here on. Please report it "
                          "at the deeplocalize issue tracker.", RuntimeWarning, stacklevel=4)
            unseen = [(what, f"their capture failed: {type(failed).__name__}") for what, _ in unseen]
            backward.uninstall()
            self.backward, grads, weight_grads = None, {}, None
        for what, why in unseen:
            if any(w.startswith(what) for w in self.coverage["not_watched"]):
                continue
            self.coverage["watched"] = self.coverage["watched"].replace(what + ", ", "")
            self.coverage["not_watched"].append(f"{what} ({why})")
        return grads, weight_grads

    def _step_loss(self, batch: int, logged) -> float | None:
        """This step's loss: from the logged mean since the epoch began (over
        ``batch + 1`` steps), or the logged value as it is."""
        if logged is None:
            return None
        logged = float(logged)
        if not self.per_step_loss:
            return logged
        last, self._last_mean = self._last_mean, (batch, logged)
        if last is None or last[0] >= batch:  # the epoch's first logs: the mean so far is the chunk's
            return logged
        return _chunk_mean(batch, logged, *last)

    # ---- reading weights ------------------------------------------------------------
    def _read(self, model) -> list:
        """Per probed layer, a list of ``(sample, stride)`` of its trainable
        weights: whole below twice RATIO_SAMPLE values, strided above (as the
        probes do). Each weight is copied to the host once, with no op."""
        import keras

        held = held_values(model)
        trainable = {id(v) for v in model.trainable_weights}
        seen: set[int] = set()
        out = []
        for layer in self.layers:
            parts = []
            for v in layer.weights:
                if id(v) not in trainable or id(v) in seen:
                    continue
                seen.add(id(v))
                stride = _sample_stride(v.shape) if len(v.shape) else 1
                value = held.get(id(v)) if held else None
                flat = np.asarray(keras.ops.convert_to_numpy(v.value if value is None else value)).reshape(-1)
                parts.append((flat[::stride].astype(np.float64), stride))
            out.append(parts)
        return out

    def _owners(self, model) -> np.ndarray:
        """The probed layer (its index, or -1) of each of ``model.trainable_weights``,
        as `_read` pairs them; kept for the epoch, with the ``(layers, weights)``
        0/1 matrix that sums their statistics per layer."""
        cache = self._owner_cache
        if cache is None:
            trainable = {id(v): k for k, v in enumerate(model.trainable_weights)}
            owners = np.full(len(trainable), -1)
            for i, layer in enumerate(self.layers):
                for v in layer.weights:
                    if id(v) in trainable and owners[trainable[id(v)]] < 0:
                        owners[trainable[id(v)]] = i
            per_layer = (owners[None, :] == np.arange(len(self.layers))[:, None]).astype(np.float64)
            cache = self._owner_cache = (owners, per_layer, per_layer.any(axis=1))
        return cache[0]

    def _stats_row(self, stats: np.ndarray, model) -> np.ndarray:
        """`_layer_row` from each weight's ``[sum of squares, NaN, Inf, sum of
        squared updates]`` (a JAX step returned them)."""
        self._owners(model)
        _, per_layer, has = self._owner_cache
        sums = per_layer @ np.asarray(stats, dtype=np.float64)
        norm = np.where(has, np.sqrt(sums[:, 0]), np.nan)
        row = self._layer_row(None, None)
        row[:, _WEIGHTS] = np.column_stack([norm, sums[:, 1], sums[:, 2], np.sqrt(sums[:, 3]) / (norm + 1e-12)])
        return row

    def _layer_row(self, before, now) -> np.ndarray:
        row = np.full((len(self.layers), len(LAYER_STATS)), np.nan)
        row[:, _COUNTS] = 0.0
        if before is None:
            return row
        for i, (old, new) in enumerate(zip(before, now)):
            if not old:
                continue
            finite = [np.where(np.isfinite(w), w, 0.0) for w, _ in old]
            norm = math.sqrt(sum(k * float(np.sum(w * w)) for w, (_, k) in zip(finite, old)))
            row[i, STAT_INDEX["w_norm"]] = norm
            row[i, STAT_INDEX["w_nan"]] = sum(k * int(np.isnan(w).sum()) for w, k in old)
            row[i, STAT_INDEX["w_inf"]] = sum(k * int(np.isinf(w).sum()) for w, k in old)
            if len(new) == len(old):
                moved = sum(k * float(np.sum((b - a) ** 2)) for (a, k), (b, _) in zip(old, new))
                row[i, STAT_INDEX["update_ratio"]] = math.sqrt(moved) / (norm + 1e-12)
        return row


def _chunk_mean(batch: int, mean: float, last_batch: int, last_mean: float) -> float:
    """The mean of the steps after ``last_batch`` up to ``batch``, from the
    running means at both (equal batches assumed)."""
    return ((batch + 1) * mean - (last_batch + 1) * last_mean) / (batch - last_batch)
