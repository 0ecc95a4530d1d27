"""UMLAUT (Schoop, Huang, Hartmann, CHI 2021) re-implemented as a Keras 3 callback.

Its heuristics, as published in BerkeleyHCI/umlaut (``umlaut/heuristics.py``):

- before training: **missing softmax** (the last layer is not a ``Softmax``
  layer and the loss is not ``from_logits``), **missing activations** (a
  non-last layer whose ``activation`` is linear, unless it feeds a final
  layer named ``softmax``), **last layer nonlinear** (the last layer before a
  ``Softmax`` layer, or the last layer when there is none, has an activation
  other than linear), **Dropout rate > 0.5**;
- after each epoch: **input shape** not N,H,W,C (a 4-D input with H != W),
  **input not normalized** (min < -1 or max > 1), **input not floating
  point**, **NaN loss with NaN in the input**, **learning rate** > 0.01 or
  < 1e-7, **overfitting** (the validation loss rose while the training loss
  did not), **over-confident validation** (from epoch 3 on: validation
  accuracy > 0.95 or above the training accuracy).

Interpretations (also in benchmark/README.md):

1. UMLAUT never stops training; it lists errors. Its verdict here is its first
   error (step 0 for a pre-training one, else the end of the epoch), and the
   callback asks Keras to stop there, as the other tools do.
2. The input checks read the batch UMLAUT captures by wrapping ``model.call``
   (the last batch of the epoch). We do not wrap the user's model: the checks
   read the last ``batch_size`` samples of ``x`` as given to ``fit``, which is
   the last batch when the data is not shuffled.
3. The published code calls ``any(np.isnan(x))`` on the input; we read it as
   "any NaN in the input".
4. "Last layer nonlinear" and "Dropout > 0.5" are described for UMLAUT's
   latest version but were not in the heuristics file we read; they follow the
   description (research notes, peers.md).
5. Checks that need a logged value (validation loss, accuracy) are skipped
   when it is not logged; the original raised ``KeyError`` instead.
6. Vocabulary: softmax/activation/last-layer errors -> ``activation`` (the
   missing-activation error names its layer, the last-layer one the last
   layer); Dropout -> ``architecture`` at the Dropout layer; input errors ->
   ``data_preprocessing`` (component ``data``); learning rate ->
   ``learning_rate`` (``optimizer``); overfitting -> ``architecture``;
   over-confident validation -> not named.

Example:
    >>> cb = make_callbacks(ctx)[0]
    >>> model.fit(x, y, epochs=3, callbacks=[cb])
    >>> cb.verdict["error"], cb.verdict["root_cause"]
    ('missing_softmax', 'activation')
"""

from __future__ import annotations

import numpy as np

from deeplocalize.bench.peers import _probe, first_verdict

LR_HIGH, LR_LOW = 0.01, 1e-7
DROPOUT_MAX = 0.5
VAL_ACC_HIGH, VAL_ACC_FROM_EPOCH = 0.95, 3

# error -> (root cause, layer or component); None: named per error below
CAUSES = {
    "missing_softmax": ("activation", None), "missing_activation": ("activation", None),
    "last_layer_nonlinear": ("activation", None), "high_dropout": ("architecture", None),
    "input_wrong_shape": ("data_preprocessing", "data"), "input_not_normalized": ("data_preprocessing", "data"),
    "input_not_floating": ("data_preprocessing", "data"), "nan_in_input": ("data_preprocessing", "data"),
    "lr_high": ("learning_rate", "optimizer"), "lr_low": ("learning_rate", "optimizer"),
    "overfitting": ("architecture", None), "overconfident_validation": (None, None),
}


# ---- the rules, on plain values -----------------------------------------------------------------
def pretrain_errors(layers: list[tuple[str, str, str | None, float | None]], loss_from_logits: bool) -> list:
    """``layers``: ``(name, type, activation, dropout rate)`` per layer, in order.
    Returns ``[(error, layer name or None), ...]`` in UMLAUT's order."""
    errors = []
    if not layers:
        return errors
    last_is_softmax = layers[-1][1] == "Softmax"
    if not last_is_softmax and not loss_from_logits:
        errors.append(("missing_softmax", None))
    for i, (name, _kind, act, _rate) in enumerate(layers[:-1]):
        if act == "linear":
            if i == len(layers) - 2 and layers[-1][0] == "softmax":
                continue
            errors.append(("missing_activation", name))
    pre = layers[-2] if last_is_softmax and len(layers) > 1 else layers[-1]
    if pre[2] not in (None, "linear"):
        errors.append(("last_layer_nonlinear", pre[0]))
    for name, kind, _act, rate in layers:
        if kind == "Dropout" and rate is not None and rate > DROPOUT_MAX:
            errors.append(("high_dropout", name))
    return errors


def epoch_errors(epoch: int, inputs: list, loss, lr, history: dict, logs: dict) -> list:
    """UMLAUT's end-of-epoch errors, in its order. ``inputs``: the input arrays
    of the captured batch; ``history``: the previous epochs' logs (lists)."""
    errors = []
    for x in inputs:
        if x.ndim == 4 and x.shape[1] != x.shape[2]:
            errors.append(("input_wrong_shape", None))
            break
    for x in inputs:
        if x.size and np.issubdtype(x.dtype, np.number) and (np.min(x) < -1 or np.max(x) > 1):
            errors.append(("input_not_normalized", None))
            break
    for x in inputs:
        if not np.issubdtype(x.dtype, np.floating):
            errors.append(("input_not_floating", None))
            break
    if loss is not None and np.isnan(loss):
        if any(np.issubdtype(x.dtype, np.floating) and np.isnan(x).any() for x in inputs):
            errors.append(("nan_in_input", None))
    if lr is not None and (lr > LR_HIGH or lr < LR_LOW):
        errors.append(("lr_high" if lr > LR_HIGH else "lr_low", None))
    if history.get("loss") and history.get("val_loss") and "val_loss" in logs and "loss" in logs:
        d_loss = logs["loss"] - history["loss"][-1]
        d_val = logs["val_loss"] - history["val_loss"][-1]
        if d_val > 0 and d_loss <= 0:
            errors.append(("overfitting", None))
    if epoch >= VAL_ACC_FROM_EPOCH:
        tk = "acc" if logs.get("acc") else "accuracy"
        vk = "val_acc" if logs.get("val_acc") else "val_accuracy"
        if tk in logs and vk in logs and (logs[vk] > VAL_ACC_HIGH or logs[vk] > logs[tk]):
            errors.append(("overconfident_validation", None))
    return errors


def verdict_of(error: str, layer: str | None) -> dict:
    cause, where = CAUSES[error]
    return {"error": error, "root_cause": cause, "faulty_layer": where or layer}


# ---- the callback --------------------------------------------------------------------------------
def make_callbacks(ctx) -> list:
    """One UMLAUT callback watching ``ctx.program``'s data."""
    import keras

    program = ctx.program or {}
    batch = int((program.get("fit") or {}).get("batch_size") or 32)

    class UmlautCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.verdict: dict | None = None
            self.errors: list = []
            self.history: dict = {}
            x = program.get("x")
            n = len(_probe.input_arrays(x)[0]) if _probe.input_arrays(x) else 0
            self.inputs = [a[max(0, n - batch):] for a in _probe.input_arrays(x)] if n else []

        def _report(self, errors, epoch, step=None):
            self.errors += [(epoch, e, layer) for e, layer in errors]
            if errors and self.verdict is None:
                self.verdict = {**verdict_of(*errors[0]), "epoch": epoch, "step": step}
                self.model.stop_training = True

        def on_train_begin(self, logs=None):
            layers = [(layer.name, type(layer).__name__, _probe.activation_name(layer),
                       getattr(layer, "rate", None) if type(layer).__name__ == "Dropout" else None)
                      for layer in _probe.model_layers(self.model)]
            self._report(pretrain_errors(layers, _probe.from_logits(self.model)), 0, step=0)

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            errors = epoch_errors(epoch, self.inputs, logs.get("loss"), _probe.learning_rate(self.model),
                                  self.history, logs)
            self._report(errors, epoch)
            for k, v in logs.items():
                self.history.setdefault(k, []).append(v)

    return [UmlautCallback()]


def read(ctx, cbs, rec, counter=None) -> None:
    """UMLAUT's first error into ``rec`` (detected, root cause, layer)."""
    cb = cbs[0] if cbs else None
    v = first_verdict(cbs, rec)
    if v is None:
        return
    rec.root_cause, rec.faulty_layer, rec.symptom = v["root_cause"], v["faulty_layer"], v["error"]
    if v.get("step") is not None:
        rec.stop_step = v["step"]
    rec.details["errors"] = [f"epoch {e}: {err}" + (f" ({layer})" if layer else "") for e, err, layer in cb.errors[:8]]
