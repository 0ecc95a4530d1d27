"""AUTOTRAINER (Zhang, Zhai, Ma, Shen, ICSE 2021) re-implemented as a Keras 3 callback.

Its monitor (shiningrain/AUTOTRAINER ``utils/monitor.py``) with the defaults
of its reproduction scripts: every ``checkgap`` = 3 epochs it reads the weight
gradients on the first ``batch_size`` training samples, the weights and the
loss/accuracy history, and decides:

- gradient features: **vanishing** when ‖g first kernel‖ / ‖g last kernel‖ <
  beta_1 = 1e-3 and ‖g first kernel‖ < beta_2 = 1e-4; **exploding** when the
  ratio > beta_3 = 70; **dying ReLU** when >= gamma = 70 % of all gradient
  entries are exactly zero; NaN in a gradient or a weight;
- loss features: **NaN loss** (NaN/Inf, or a training or validation loss
  >= 1e3) and **abnormal loss** (a negative one) at any check; from
  ``judgment_point`` = 30 % of the planned epochs (less ``checkgap``) on:
  **unstable** (local max − local min of the training accuracy >= zeta = 0.03
  in at least eta = 20 % of the epochs), **not converging** (best training and
  best validation accuracy < Theta = 0.6), **slow convergence** (the largest
  one-epoch gain of both accuracies < delta = 0.01);
- the output layer, for a loss given by name: **improper loss** unless one
  output with a ``binary`` loss or several with a ``categorical`` one; else
  ``activation_output`` when a binary loss has no sigmoid or a categorical one
  no softmax;
- layer outputs on the first batch (read when the loss is NaN or abnormal, the
  accuracy converges slowly, or past 50 % of the epochs): ``activation_output``
  when a sample's summed |output| > omega_2 + 0.1 = 1.1, else **abnormal data**
  when the mean |output| of a layer before the last >= omega_1 = 10.

Issues, in the order ``judge_issue`` appends them (only when the layer
outputs were read; otherwise only a NaN loss with a NaN weight or gradient ->
``explode``): abnormal data -> ``data``; NaN or abnormal loss -> ``loss``
(negative) or ``explode`` (NaN weight/gradient); not converging or slow ->
``activation`` (activation_output), ``relu``, ``explode``, ``vanish``, or
``not_converge`` (both, and no abnormal data); unstable -> ``activation`` or
``unstable``; improper loss -> ``loss``. The first issue is the verdict (the
original keeps an unordered set and repairs them in its own priority).

Interpretations (also in benchmark/README.md):

1. The check runs at the end of epochs 3, 6, 9, ... (1-based) and of the last
   planned epoch; the NaN-loss check runs every epoch (a NaN loss ends training
   before the next check). The original's exact epoch arithmetic depends on its
   training loop, which we do not use.
2. The gradients come from one inference-mode pass of the compiled loss (no
   update applied). "First" and "last" kernel are the first and last trainable
   weights with two or more dimensions, in the model's order (the original
   pairs kernel/bias by position, which breaks for BatchNorm and bias-free layers).
3. Without validation data the training series stands in for the validation
   one; without an accuracy metric the accuracy rules are skipped (the
   original needs both).
4. Theta = 0.6 (reproduce.py; the demos use 0.7). The overfitting rule and
   the large-weight feature are computed by the original but not used in its
   decision; they are left out. A regression program compiled with a loss
   *name* such as ``"mse"`` gets ``improper_loss`` (the rule knows only
   binary and categorical losses): that is the published rule, kept as is.
5. AUTOTRAINER names a problem, then repairs it. Our root cause is the
   category of the first repair it would try: vanish, explode, relu ->
   ``activation`` (SELU first); unstable, not_converge -> ``optimizer``;
   activation -> ``activation``; loss -> ``loss_function``; data ->
   ``data_preprocessing``. It names no layer.

Example:
    >>> gradient_features([np.ones((4, 4)), np.full((4, 1), 1e-6)])["explode_gradient"]
    True
    >>> judge({"not_converge": True, "sc_accuracy": True, "died_relu": True}, outputs_read=True)
    ['relu']
"""

from __future__ import annotations

import numpy as np

from deeplocalize.bench.peers import _probe, first_verdict

PARAMS = {"beta_1": 1e-3, "beta_2": 1e-4, "beta_3": 70.0, "gamma": 0.7, "zeta": 0.03, "eta": 0.2,
          "delta": 0.01, "Theta": 0.6, "omega_1": 10.0, "omega_2": 1.0}
CHECKGAP, JUDGMENT_POINT, OUTPUTS_POINT, NAN_LOSS = 3, 0.3, 0.5, 1e3
CAUSES = {"vanish": "activation", "explode": "activation", "relu": "activation", "unstable": "optimizer",
          "not_converge": "optimizer", "activation": "activation", "loss": "loss_function",
          "data": "data_preprocessing"}


# ---- the rules, on plain values -----------------------------------------------------------------
def gradient_features(kernel_grads: list, all_grads: list | None = None, p: dict = PARAMS) -> dict:
    """Vanishing / exploding / dying-ReLU / NaN features of one gradient read."""
    all_grads = kernel_grads if all_grads is None else all_grads
    f = {"nan_gradient": any(not np.isfinite(g).all() for g in all_grads), "vanish_gradient": False,
         "explode_gradient": False, "died_relu": False}
    if f["nan_gradient"] or not kernel_grads:
        return f
    first, last = float(np.linalg.norm(kernel_grads[0])), float(np.linalg.norm(kernel_grads[-1]))
    ratio = first / last if last > 0 else (np.inf if first > 0 else 1.0)
    f["vanish_gradient"] = ratio < p["beta_1"] and first < p["beta_2"]
    f["explode_gradient"] = ratio > p["beta_3"]
    total = sum(g.size for g in all_grads)
    f["died_relu"] = total > 0 and sum(int(np.sum(g == 0)) for g in all_grads) / total >= p["gamma"]
    return f


def _oscillates(acc: list, threshold: float, rate: float) -> bool:
    maxima = [acc[i] for i in range(1, len(acc) - 1) if acc[i] >= acc[i - 1] and acc[i] >= acc[i + 1]]
    minima = [acc[i] for i in range(1, len(acc) - 1) if acc[i] <= acc[i - 1] and acc[i] <= acc[i + 1]]
    swings = sum(maxima[i] - minima[i] >= threshold for i in range(min(len(maxima), len(minima))))
    return swings >= rate * len(acc)


def _max_gain(values: list) -> float:
    return max([0.0] + [values[i + 1] - values[i] for i in range(len(values) - 1)])


def loss_features(history: dict, total_epochs: int, p: dict = PARAMS) -> dict:
    """Loss and accuracy features of the history so far (lists per key)."""
    loss = history.get("loss") or []
    val_loss = history.get("val_loss") or loss
    acc = history.get("acc") or history.get("accuracy") or []
    val_acc = history.get("val_acc") or history.get("val_accuracy") or acc
    f = {"nan_loss": False, "abnormal_loss": False, "unstable_loss": False, "not_converge": False,
         "sc_accuracy": False}
    if not loss:
        return f
    values = list(loss) + list(val_loss)
    if any(v is None or not np.isfinite(v) for v in values) or max(values) >= NAN_LOSS:
        f["nan_loss"] = True
        return f
    f["abnormal_loss"] = min(values) < 0
    if len(loss) >= JUDGMENT_POINT * total_epochs - CHECKGAP and acc:
        f["unstable_loss"] = _oscillates(list(acc), p["zeta"], p["eta"])
        f["not_converge"] = max(val_acc) < p["Theta"] and max(acc) < p["Theta"]
        f["sc_accuracy"] = _max_gain(list(val_acc)) < p["delta"] and _max_gain(list(acc)) < p["delta"]
    return f


def output_features(loss, n_outputs: int, out_activation: str | None) -> dict:
    """Improper loss for the output width (a loss given by name only), or an
    output activation that does not fit the loss."""
    f = {"improper_loss": False, "activation_output": False}
    if not isinstance(loss, str):
        return f
    if n_outputs == 1 and "binary" in loss or n_outputs > 1 and "categorical" in loss:
        if out_activation != "sigmoid" and "binary" in loss:
            f["activation_output"] = True
        elif out_activation != "softmax" and "categorical" in loss:
            f["activation_output"] = True
        elif out_activation != "linear" and "mean" in loss:
            f["activation_output"] = True
    else:
        f["improper_loss"] = True
    return f


def layer_features(outputs: list, p: dict = PARAMS) -> dict:
    """From the layer outputs on the first batch: ``activation_output`` when a
    sample's summed |output| exceeds omega_2 + 0.1, else ``abnormal_output``
    when the mean |output| of a layer before the last is >= omega_1."""
    last = np.abs(np.asarray(outputs[-1], dtype="float64"))
    per_sample = last.reshape(last.shape[0], -1).sum(axis=1) if last.ndim > 1 else last
    f = {"activation_output": bool(per_sample.size and per_sample.max() > p["omega_2"] + 0.1),
         "abnormal_output": False}
    if not f["activation_output"]:
        f["abnormal_output"] = any(float(np.mean(np.abs(o))) >= p["omega_1"] for o in outputs[:-1])
    return f


def judge(f: dict, outputs_read: bool) -> list[str]:
    """The issues AUTOTRAINER reports for these features, in the order its
    ``judge_issue`` appends them (the first is our verdict)."""
    issues: list[str] = []
    if not outputs_read:
        if f.get("nan_loss") and (f.get("nan_weight") or f.get("nan_gradient")):
            issues.append("explode")
        return issues
    if f.get("abnormal_output"):
        issues.append("data")
    if f.get("nan_loss") or f.get("abnormal_loss"):
        if f.get("abnormal_loss"):
            issues.append("loss")
        elif f.get("nan_weight") or f.get("nan_gradient"):
            issues.append("explode")
    if f.get("not_converge") or f.get("sc_accuracy"):
        if f.get("activation_output"):
            issues.append("activation")
        elif f.get("died_relu"):
            issues.append("relu")
        elif f.get("explode_gradient"):
            issues.append("explode")
        elif f.get("vanish_gradient"):
            issues.append("vanish")
        elif f.get("not_converge") and f.get("sc_accuracy") and not f.get("abnormal_output"):
            issues.append("not_converge")
    if f.get("unstable_loss"):
        issues.append("activation" if f.get("activation_output") else "unstable")
    if not f.get("activation_output") and f.get("improper_loss"):
        issues.append("loss")
    return list(dict.fromkeys(issues))


# ---- the callback --------------------------------------------------------------------------------
def make_callbacks(ctx) -> list:
    """One AUTOTRAINER monitor watching ``ctx.program``'s first batch."""
    import keras

    program = ctx.program or {}
    batch = int((program.get("fit") or {}).get("batch_size") or 32)
    x, y = _probe.first_batch(program, batch)

    class AutoTrainerMonitor(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.verdict: dict | None = None
            self.history: dict = {}
            self.cache: dict = {}
            self.features: dict = {}

        def on_epoch_end(self, epoch, logs=None):
            for k, v in (logs or {}).items():
                self.history.setdefault(k, []).append(float(v) if v is not None else float("nan"))
            total = int((self.params or {}).get("epochs") or epoch + 1)
            f = loss_features(self.history, total)
            if not (f["nan_loss"] or (epoch + 1) % CHECKGAP == 0 or epoch + 1 == total):
                return
            model = self.model
            layers = _probe.model_layers(model)
            if layers:
                shape = tuple(layers[-1].output.shape)
                f.update(output_features(model.loss, int(shape[-1] or 1), _probe.activation_name(layers[-1])))
            grads = _probe.weight_gradients(model, x, y)
            if grads is not None:
                f.update(gradient_features([g for v, g in grads if _probe.is_kernel(v)], [g for _, g in grads]))
            f["nan_weight"] = any(not np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
            outs = None
            if f["nan_loss"] or f["abnormal_loss"] or f["sc_accuracy"] or epoch + 1 >= OUTPUTS_POINT * total:
                outs = _probe.layer_outputs(model, x, self.cache)
                if outs:
                    f.update(layer_features([o for _, o in outs]))
            self.features = f
            issues = judge(f, outputs_read=bool(outs))
            if issues and self.verdict is None:
                self.verdict = {"issue": issues[0], "issues": issues, "root_cause": CAUSES[issues[0]],
                                "epoch": epoch}
                model.stop_training = True

    return [AutoTrainerMonitor()]


def read(ctx, cbs, rec, counter=None) -> None:
    """AUTOTRAINER's issue into ``rec`` (detected, root cause; no layer)."""
    cb = cbs[0] if cbs else None
    v = first_verdict(cbs, rec)
    if v is None:
        return
    rec.root_cause, rec.symptom = v["root_cause"], v["issue"]
    rec.details["features"] = {k: bool(val) for k, val in cb.features.items()}
