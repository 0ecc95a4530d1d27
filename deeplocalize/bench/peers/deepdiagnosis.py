"""DeepDiagnosis (Wardat, Cruz, Le, Rajan, ICSE 2022) re-implemented as a Keras 3 callback.

Its callback (DeepDiagnosis/ICSE2022 ``callback/callbacks.py``,
``mapFaluireToFix``) runs at each epoch end on the first ``batch_size``
training samples and stops at the first symptom, in this order:

1. forward, layer by layer: **out of range** (first epoch, last layer, not
   softmax: the labels' range outside the output activation's, or a relu /
   linear output with a categorical loss, or a linear output spanning more
   than 10x the labels' range); **numerical error** (mean output NaN, Inf or
   exactly 0); **dead node** (last epoch, relu/exponential layers, >= 70 % of
   outputs <= 0); every N = 5 epochs **saturated activation** (> 50 % of the
   pre-activations feeding a sigmoid/tanh beyond ±5);
2. every 5 epochs: **unchanged tensor** in a layer's mean output (last 5 equal;
   not the last layer, not Flatten);
3. **invalid loss** (NaN/Inf); every 5 epochs **loss not decreasing** (last 5
   equal); **invalid accuracy** (NaN/Inf/0); every FRQ = 20 epochs **accuracy
   not increasing** (last 20 equal);
4. backward, from the last layer: Dense kernel gradient mean NaN/Inf/0
   (**numerical error DW**), mean |gradient| < 1e-7 (**vanishing gradient**);
   kernel mean NaN/Inf/0 (**numerical error W**); every 5 epochs **unchanged**
   Dense gradient or weight means.

Each symptom goes through its decision tree (`analyse`), whose tests are Poor
Weight (a kernel's variance, ddof 1, < 1e-5 or > 10), Normalize (the training
input outside [-1, 1]) and Learning Rate (lr·‖ΔW‖/‖W‖ of a kernel outside
[1e-5, 0.1]).

Interpretations (also in benchmark/README.md):

1. The original matches layer *names* of Keras 2.2 (``dense_1``; an
   ``activation_3`` layer stands for its function). Our programs name their
   layers, so we match what the names stood for: Dense layers by type, and a
   layer's activation by its ``activation`` (or an Activation/Softmax layer's
   function). So a ``Dense(10, activation="softmax")`` output counts as
   softmax; the original would have seen ``dense_3`` and flagged every
   categorical model as out of range in its first epoch.
2. Saturation reads the pre-activation feeding a sigmoid/tanh: the previous
   layer's output for an Activation layer; for a layer with a built-in
   sigmoid/tanh, its output mapped back (|z| >= 5 exactly when the output is
   beyond sigmoid(±5) or tanh(±5)).
3. Poor Weight and Learning Rate use each layer's kernel as the paper states;
   the code passes layer *means* (a single value's variance is NaN, so Poor
   Weight never fired there, and its learning-rate ratios pair means with
   gradients by position).
4. The always-true loss test of the out-of-range analysis is kept: its fix is
   always "change the activation function to softmax".
5. "Change the activation at layer l+1" names model layer l+1 (0-based, the
   layer after the symptom's), clamped to the last layer.
6. Vocabulary: Poor Weight -> ``initialization`` at the symptom's layer;
   Normalize -> ``data_preprocessing`` (``data``); Learning Rate ->
   ``learning_rate`` (``optimizer``); change optimizer -> ``optimizer``
   (``optimizer``); change activation -> ``activation`` at that layer; change
   loss (or activation) -> ``loss_function`` (``loss``); add dropout or a
   missing activation, add/delete a layer -> ``architecture`` at the symptom's
   layer.

Example:
    >>> analyse("loss_not_decreasing", None, Facts(poor_weight=None, unnormalized=True, lr_bad=False))
    ('normalize', 'data_preprocessing', 'data')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deeplocalize.bench.peers import _probe, first_verdict

N, FRQ = 5, 20
DEAD_SHARE, SAT_SHARE, SAT_LIMIT, VANISH = 0.7, 0.5, 5.0, 1e-7
VAR_LOW, VAR_HIGH, LR_RATIO, RANGE_FACTOR = 1e-5, 10.0, 1e-3, 10.0
FIXES = {  # fix -> (root cause, component or None = a layer)
    "poor_weight": ("initialization", None), "normalize": ("data_preprocessing", "data"),
    "learning_rate": ("learning_rate", "optimizer"), "optimizer": ("optimizer", "optimizer"),
    "activation": ("activation", None), "loss": ("loss_function", "loss"),
    "softmax": ("activation", None), "dropout_or_activation": ("architecture", None),
    "layers_or_sigmoid": ("architecture", None),
}


@dataclass
class Facts:
    """The three tests of the decision tree, evaluated once per epoch."""

    poor_weight: int | None  # index of the first layer whose kernel variance is out of range
    unnormalized: bool
    lr_bad: bool


# ---- the rules, on plain values -----------------------------------------------------------------
def numerical(value) -> bool:
    v = float(value)
    return not np.isfinite(v) or v == 0.0


def unchanged(values: list) -> bool:
    """The original's ``mean == max`` over the last values: all equal."""
    vals = np.asarray([v for v in values if v is not None], dtype="float64")
    return vals.size > 0 and float(np.mean(vals)) == float(np.max(vals))


def dead(output) -> bool:
    data = np.asarray(output).ravel()
    return data.size > 0 and np.mean(data <= 0.0) >= DEAD_SHARE


def saturated(pre_activation) -> bool:
    data = np.asarray(pre_activation).ravel()
    return data.size > 0 and np.mean(np.abs(data) >= SAT_LIMIT) > SAT_SHARE


def out_of_range(activation: str | None, loss_name: str, y, output) -> bool:
    """The first-epoch range test of the last layer's output."""
    y = np.asarray(y, dtype="float64").ravel()
    out = np.asarray(output, dtype="float64").ravel()
    if y.size == 0 or out.size == 0:
        return False
    categorical = loss_name in ("categorical_crossentropy", "sparse_categorical_crossentropy")
    act = activation or "linear"
    low, high = -np.inf, np.inf
    if act == "sigmoid":
        low, high = 0.0, 1.0
    elif act == "tanh":
        low, high = -1.0, 1.0
    elif act == "relu":
        if categorical:
            return True
        low = 0.0
    elif act == "elu":
        low = -1.0
    elif act == "linear":
        if categorical:
            return True
        if abs(out.max() - out.min()) > abs(y.max() - y.min()) * RANGE_FACTOR:
            return True
    return bool(y.min() < low or y.max() > high)


def poor_weight(kernels: list) -> int | None:
    for i, k in enumerate(kernels):
        if k is not None and k.size > 1:
            var = float(np.var(k.ravel(), ddof=1))
            if var < VAR_LOW or var > VAR_HIGH:
                return i
    return None


def lr_ratios(lr: float, kernels: list, grads: list) -> list[float]:
    out = []
    for w, g in zip(kernels, grads):
        if w is not None and g is not None:
            norm = float(np.linalg.norm(w.ravel()))
            out.append(lr * float(np.linalg.norm(g.ravel())) / norm if norm > 0 else np.inf)
    return out


def lr_out_of_range(ratios: list[float]) -> bool:
    return any(r > LR_RATIO * 100 or r < LR_RATIO / 100 for r in ratios)


def analyse(symptom: str, layer: int | None, facts: Facts, n_layers: int = 1, last_linear: bool = False):
    """The decision tree: ``(fix, root cause, layer index or component)``."""
    nxt = None if layer is None else min(layer + 1, n_layers - 1)
    chain = {"poor_weight": facts.poor_weight is not None, "normalize": facts.unnormalized,
             "learning_rate": facts.lr_bad}

    def first(order, default, where=None):
        for fix in order:
            if chain[fix]:
                return fix, FIXES[fix][0], FIXES[fix][1] or (facts.poor_weight if fix == "poor_weight" else where)
        return default, FIXES[default][0], FIXES[default][1] or where

    if symptom in ("numerical_fw", "numerical_w"):
        return first(("poor_weight", "normalize", "learning_rate"), "activation", nxt)
    if symptom == "numerical_dw":
        if layer is not None and layer + 2 == n_layers:
            return "loss", *FIXES["loss"]
        return "activation", "activation", nxt
    if symptom == "unchanged_fw":
        if layer is not None and layer + 1 == n_layers:
            return "activation", "activation", layer
        return first(("poor_weight", "learning_rate"), "optimizer")
    if symptom in ("unchanged_w", "unchanged_dw"):
        return first(("poor_weight", "learning_rate"), "optimizer")
    if symptom in ("loss_not_decreasing", "accuracy_not_increasing"):
        return first(("poor_weight", "normalize", "learning_rate"), "optimizer")
    if symptom in ("invalid_loss", "invalid_accuracy"):
        if last_linear:
            return "activation", "activation", n_layers - 1
        return first(("learning_rate",), "optimizer")
    if symptom in ("dead_node", "saturated_activation"):
        return first(("normalize", "poor_weight", "learning_rate"), "dropout_or_activation", layer)
    if symptom == "vanishing_gradient":
        return first(("learning_rate",), "layers_or_sigmoid", layer)
    if symptom == "out_of_range":
        return "softmax", "activation", n_layers - 1
    raise ValueError(f"unknown DeepDiagnosis symptom {symptom!r}")


# ---- the callback --------------------------------------------------------------------------------
def _pre_activation(layers, outs, i):
    """The values feeding a sigmoid/tanh at layer i's output, and which function, or (None, None)."""
    layer, out = layers[i], outs[i]
    if i + 1 < len(layers) and type(layers[i + 1]).__name__ == "Activation":
        act = _probe.activation_name(layers[i + 1])
        if act in ("sigmoid", "tanh"):
            return out, act
    act = _probe.activation_name(layer)
    if act in ("sigmoid", "tanh") and type(layer).__name__ != "Activation":
        edge = {"sigmoid": 1.0 / (1.0 + np.exp(-SAT_LIMIT)), "tanh": np.tanh(SAT_LIMIT)}[act]
        o = np.asarray(out, dtype="float64")
        beyond = (o >= edge) | (o <= 1.0 - edge) if act == "sigmoid" else (np.abs(o) >= edge)
        return np.where(beyond, SAT_LIMIT, 0.0), act
    return None, None


class _State:
    def __init__(self):
        self.forward: dict[int, list] = {}
        self.dw: dict[int, list] = {}
        self.w: dict[int, list] = {}
        self.losses: list = []
        self.accs: list = []
        self.counter = 1


def check_epoch(st: _State, epoch: int, total: int, model, xb, yb, logs: dict, unnormalized: bool, cache: dict):
    """One epoch end of DeepDiagnosis: ``(symptom, layer index or None, facts)`` or None."""
    import keras

    layers = _probe.model_layers(model)
    n = len(layers)
    grads = {id(v): g for v, g in (_probe.weight_gradients(model, xb, yb) or [])}
    kernels, kgrads = [], []
    for layer in layers:
        ws = layer.weights
        kernels.append(keras.ops.convert_to_numpy(ws[0]) if ws else None)
        kgrads.append(grads.get(id(layer.trainable_weights[0])) if layer.trainable_weights else None)
    lr = _probe.learning_rate(model) or 0.0
    facts = Facts(poor_weight(kernels), unnormalized, lr_out_of_range(lr_ratios(lr, kernels, kgrads)))
    every_n = st.counter % N == 0
    outs = _probe.layer_outputs(model, xb, cache)
    if outs is not None:
        values = [o for _, o in outs]
        for i, (layer, out) in enumerate(outs):
            mean = float(np.mean(out)) if np.size(out) else 0.0
            st.forward.setdefault(i, []).append(mean)
            act = _probe.activation_name(layer)
            if i + 1 == n and act != "softmax" and epoch == 0 and yb is not None and not isinstance(yb, (list, dict)):
                if out_of_range(act, _probe.loss_name(model), yb, out):
                    return "out_of_range", i, facts
            if numerical(mean):
                return "numerical_fw", i, facts
            if act in ("relu", "exponential") and epoch == total - 1 and dead(out):
                return "dead_node", i, facts
            if every_n:
                pre, _ = _pre_activation(layers, values, i)
                if pre is not None and saturated(pre):
                    return "saturated_activation", i, facts
        if every_n:
            for i in range(n - 1):
                if type(layers[i]).__name__ != "Flatten" and unchanged(st.forward[i][-N:]):
                    return "unchanged_fw", i, facts
            st.forward = {}
    loss, acc = logs.get("loss"), logs.get("acc", logs.get("accuracy"))
    if loss is not None:
        st.losses.append(float(loss))
        if not np.isfinite(loss):
            return "invalid_loss", None, facts
        if every_n:
            if unchanged(st.losses[-N:]):
                return "loss_not_decreasing", None, facts
            st.losses = []
    if acc is not None:
        st.accs.append(float(acc))
        if not np.isfinite(acc) or acc == 0:
            return "invalid_accuracy", None, facts
        if st.counter % FRQ == 0:
            if unchanged(st.accs[-FRQ:]):
                return "accuracy_not_increasing", None, facts
            st.accs = []
    for i in reversed(range(n)):
        if type(layers[i]).__name__ == "Dense" and kgrads[i] is not None:
            if numerical(np.mean(kgrads[i])):
                return "numerical_dw", i, facts
            if float(np.mean(np.abs(kgrads[i]))) < VANISH:
                return "vanishing_gradient", i, facts
            st.dw.setdefault(i, []).append(float(np.mean(kgrads[i])))
        if kernels[i] is not None:
            st.w.setdefault(i, []).append(float(np.mean(kernels[i])))
            if numerical(np.mean(kernels[i])):
                return "numerical_w", i, facts
    if every_n:
        for i in reversed(range(n)):
            if type(layers[i]).__name__ == "Dense":
                if st.dw.get(i) and unchanged(st.dw[i][-N:]):
                    return "unchanged_dw", i, facts
                if st.w.get(i) and unchanged(st.w[i][-N:]):
                    return "unchanged_w", i, facts
        st.dw, st.w = {}, {}
    return None


def make_callbacks(ctx) -> list:
    """One DeepDiagnosis callback watching ``ctx.program``'s first batch."""
    import keras

    program = ctx.program or {}
    batch = int((program.get("fit") or {}).get("batch_size") or 32)
    xb, yb = _probe.first_batch(program, batch)
    arrays = [a for a in _probe.input_arrays(program.get("x")) if np.issubdtype(a.dtype, np.number)]
    unnormalized = any(a.size and (a.min() < -1 or a.max() > 1) for a in arrays)

    class DeepDiagnosisCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.verdict: dict | None = None
            self.state, self.cache = _State(), {}

        def on_epoch_end(self, epoch, logs=None):
            if self.verdict is not None:
                return
            total = int((self.params or {}).get("epochs") or epoch + 1)
            try:
                found = check_epoch(self.state, epoch, total, self.model, xb, yb, dict(logs or {}),
                                    unnormalized, self.cache)
            finally:
                self.state.counter += 1
            if found is None:
                return
            symptom, index, facts = found
            layers = _probe.model_layers(self.model)
            last_linear = (_probe.activation_name(layers[-1]) or "linear") == "linear" if layers else False
            fix, cause, where = analyse(symptom, index, facts, len(layers), last_linear)
            if isinstance(where, int):
                where = layers[where].name
            elif where is None and index is not None and FIXES[fix][1] is None:
                where = layers[index].name
            self.verdict = {"symptom": symptom, "layer_index": index, "fix": fix, "root_cause": cause,
                            "faulty_layer": where, "epoch": epoch}
            self.model.stop_training = True

    return [DeepDiagnosisCallback()]


def read(ctx, cbs, rec, counter=None) -> None:
    """DeepDiagnosis's symptom, fix and layer into ``rec``."""
    v = first_verdict(cbs, rec)
    if v is None:
        return
    rec.root_cause, rec.faulty_layer, rec.symptom = v["root_cause"], v["faulty_layer"], v["symptom"]
    rec.details["fix"] = v["fix"]
