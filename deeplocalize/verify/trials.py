"""Training the unchanged copy and each candidate on the sample, same seeds, and judging them.

Each model structure is built and traced once: a candidate that keeps the
model's layers, loss and optimizer (a learning rate, the data, the number
of steps) trains the compiled as-is copy, and every later seed reuses its
compiled copy; each run starts from the variables of a fresh seeded clone
(weights and random-seed states) with the optimizer's state as new. Steps
run ``steps_per_execution`` at a time where the backend allows it. The
unchanged copy trains its second seed only when a candidate beat it in the
first (most candidates do not, and stop after one seed).
Everything runs inside `deeplocalize.probes.random_state.preserved_random_state`
(see engine), so the user's Python, NumPy, TensorFlow and Keras random
streams are as they were.

Example:
    >>> runner = TrialRunner(model, sample, steps=300, seeds=(0, 1), margins=margins)
    >>> as_is = runner.run(None)
    >>> trial = runner.run(fix)
    >>> trial.verdict
    'proven'
"""

from __future__ import annotations

import math
import time

import numpy as np

from deeplocalize.verify.clone import NotApplicable, clone_compiled, model_setting
from deeplocalize.verify.verdict import Trial, beats

CURVE_POINTS = 100  # loss values kept per seed for the plots
MIN_STEPS = 20  # no trial is cut shorter than this to fit the time budget


class OutOfTime(Exception):
    """The time budget ran out in the middle of a trial."""


class TrialRunner:
    """Trains copies of ``model`` on a split of the sample and judges them against the as-is copy.

    Example:
        >>> runner = TrialRunner(model, sample, steps=300, seeds=(0, 1), margins=m)
        >>> runner.run(None).verdict
        'baseline'
    """

    def __init__(self, model, sample, *, steps: int, seeds=(0, 1), margins: dict, holdout: float = 0.2,
                 fit_kwargs: dict | None = None, seed_seconds: float | None = None):
        self.model, self.steps, self.seeds, self.margins = model, int(steps), tuple(seeds), margins
        # the as-is copy's first seed trains fewer steps (not under MIN_STEPS) when the full
        # trial would take longer than this: on an expensive model every trial is that short
        self.seed_seconds = seed_seconds
        x, y, sw = sample.arrays()
        n = _length(x)
        rng = np.random.RandomState(12345)  # its own generator: the global one is the user's
        perm = rng.permutation(n)
        n_hold = int(round(n * holdout)) if n >= 50 else 0
        hold, train = perm[:n_hold], perm[n_hold:]
        if n_hold == 0:
            hold = train
        self.train = _take((x, y, sw), train)
        self.hold = _take((x, y, sw), hold)
        self.batch_size = max(1, min(int(sample.batch_size or 32), len(train)))
        self.fit_kwargs = dict(fit_kwargs or {"batch_size": self.batch_size})
        self.setting = model_setting(model, y)
        self.score_name = "accuracy" if self.setting.labels in ("sparse", "onehot", "binary", "plusminus",
                                                               "multilabel") else "r2"
        # the floor a win on the loss must clear; none on a sample too small to hold any back,
        # where one example moves the accuracy by several points
        self.chance = chance_score(self.hold[1], self.setting.labels, self.score_name) if n_hold else None
        self.as_is: Trial | None = None
        self._as_is_state: dict = {}
        self.deadline: float | None = None  # time.perf_counter() value after which trials stop
        self.steps_per_execution = steps_per_execution(self.steps)

    def run(self, fix, wide: bool = False) -> Trial:
        """Train ``fix`` and judge it; ``fix=None`` trains the unchanged copy with
        the first seed (its other seeds are trained when a candidate needs them)."""
        start = time.perf_counter()
        as_is_before = self.as_is.seconds if fix is not None and self.as_is is not None else 0.0
        if fix is None:
            trial = Trial(fix="as_is", change="the model as it is", verdict="baseline")
            self.as_is, self._as_is_state = trial, {}
        else:
            trial = Trial(fix=fix.name, root_cause=fix.root_cause, layer=fix.layer, change=fix.change,
                          suggestion=fix.suggestion)
        steps = int(self.steps * (fix.steps_factor if fix else 1.0))
        trial.steps = steps
        try:
            if fix is None:
                self._train_seed(None, trial, 0, self._as_is_state)
            else:
                self._run_seeds(fix, trial, wide)
        except NotApplicable as exc:
            trial.verdict, trial.note = "not applicable", str(exc)
        except OutOfTime:
            trial.verdict, trial.note, trial.seeds = "not tried", "not tried: the time budget ran out during it", []
        except Exception as exc:  # a candidate that cannot train is a result, not a crash
            trial.verdict = "failed"
            trial.note = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        as_is_during = self.as_is.seconds - as_is_before if fix is not None else 0.0  # its lazy seeds
        trial.seconds = round(trial.seconds + time.perf_counter() - start - as_is_during, 3)
        return trial

    def as_is_seed(self, k: int) -> dict:
        """The unchanged copy's result with seed number ``k``, trained the first time it is needed."""
        while len(self.as_is.seeds) <= k:
            start = time.perf_counter()
            try:
                self._train_seed(None, self.as_is, len(self.as_is.seeds), self._as_is_state)
            finally:
                self.as_is.seconds = round(self.as_is.seconds + time.perf_counter() - start, 3)
        return self.as_is.seeds[k]

    def _train_seed(self, fix, trial, k, state) -> dict:
        """Train one seed of ``fix`` (None: the copy as it is) and append its result to ``trial``.
        ``state`` keeps the traced copy for the next seed (fresh seeded weights, optimizer state as new)."""
        seed = self.seeds[k]
        shared = fix is None or self._keeps_model(fix)
        model = self._prepared(None if shared else fix, seed, self._as_is_state if shared else state)
        if shared and fix is not None and fix.lr_factor is not None:
            model.optimizer.learning_rate = self.setting.lr * fix.lr_factor
        x, y, sw = self.train
        hx, hy, _ = self.hold
        if fix is not None:
            x, y, _ = fix.transform(x, y, self.fit_kwargs)
            hx, hy, _ = fix.transform(hx, hy, self.fit_kwargs)
        batch = max(1, self.batch_size // fix.batch_divisor) if fix is not None else self.batch_size
        cap = self.seed_seconds if fix is None and k == 0 else None
        result = {"seed": seed, **_fit(model, x, y, sw, trial.steps, batch, seed, self.deadline,
                                       model.steps_per_execution, cap)}
        taken = result.pop("steps_run")
        if taken < trial.steps:  # capped: every trial trains as many steps
            trial.steps = self.steps = taken
        try:
            result["score"] = _score(model, hx, hy, model_setting(model, hy), self.score_name)
        except Exception:  # outputs this scoring does not understand: the loss alone decides
            result["score"] = math.nan
        trial.seeds.append(result)
        return result

    def _keeps_model(self, fix) -> bool:
        """Whether ``fix`` trains the as-is copy (a learning-rate change needs a plain rate to scale)."""
        return fix.keeps_model and (fix.lr_factor is None or self.setting.lr is not None)

    def _prepared(self, fix, seed, state):
        """The compiled copy of ``fix`` (None: the model as it is) in ``state``,
        set to a fresh seeded clone's variables and a new optimizer's state."""
        spe = self.steps_per_execution
        if "model" not in state:
            fresh = fix.build(self.model, seed, spe) if fix else clone_compiled(self.model, seed=seed,
                                                                                steps_per_execution=spe)
            fresh.optimizer.build(fresh.trainable_variables)
            state.update(model=fresh, optimizer=[_numpy(v) for v in fresh.optimizer.variables],
                         init={seed: [_numpy(v) for v in fresh.variables]})
        elif seed not in state["init"]:
            fresh = fix.build(self.model, seed) if fix else clone_compiled(self.model, seed=seed)
            state["init"][seed] = [_numpy(v) for v in fresh.variables]
        model = state["model"]
        for v, value in zip(model.variables, state["init"][seed]):
            v.assign(value)
        for v, value in zip(model.optimizer.variables, state["optimizer"]):
            v.assign(value)
        return model

    def _run_seeds(self, fix, trial, wide):
        margins = self.margins["wide" if wide else "clear"]
        state, gains, ratios = {}, [], []
        for k in range(len(self.seeds)):
            result = self._train_seed(fix, trial, k, state)
            ok, gain, ratio = beats(result, self.as_is_seed(k), fix.objective, margins, self.chance)
            gains.append(gain)
            ratios.append(ratio)
            if not ok:  # one seed that does not beat the copy settles it
                break
        trial.improvement = {"score_gain": round(min(gains), 4), "loss_ratio": round(max(ratios), 4)}
        # the loop stops at the first seed that does not beat the copy: proven when the last one did too
        trial.verdict = "proven" if ok and len(gains) == len(self.seeds) else "not better"


def steps_per_execution(steps: int) -> int:
    """Steps per call of the compiled train function in a trial: a divisor of
    ``steps`` that leaves at least 30 points on the loss curve (1 on PyTorch,
    which runs one step per call).

    Example:
        >>> steps_per_execution(300), steps_per_execution(250), steps_per_execution(36)
        (10, 5, 1)
    """
    import keras

    if keras.backend.backend() == "torch":
        return 1
    return next((d for d in (10, 5, 4, 2) if steps % d == 0 and steps // d >= 30), 1)


def _numpy(variable) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable.value))


def _length(x) -> int:
    import keras

    return int(np.asarray(keras.tree.flatten(x)[0]).shape[0])


def _take(data, index):
    import keras

    return tuple(None if part is None else keras.tree.map_structure(lambda a: np.asarray(a)[index], part)
                 for part in data)


class _LossCurve:
    """The loss of each call of the train function (one step, or the mean of
    ``steps_per_execution`` steps), recovered from Keras's running mean (equal
    batch sizes). ``batch`` is the index of the call's last step."""

    def __init__(self):
        self.losses, self.steps, self._prev = [], 0, 0.0

    def on_batch(self, batch, logs):
        mean = float((logs or {}).get("loss", math.nan))
        done = batch + 1
        span = done - self.steps
        self.losses.append((done * mean - self.steps * self._prev) / span if self.steps else mean)
        self.steps, self._prev = done, mean


def _batches(parts, n: int, batch_size: int, seed: int):
    """The trial's batches: the examples shuffled with ``seed``, reshuffled every
    pass, full batches only, forever (``tf.data`` on TensorFlow, numpy elsewhere)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(parts).shuffle(n, seed=seed).repeat().batch(batch_size,
                                                                                             drop_remainder=True)

    def numpy_batches():
        rng = np.random.RandomState(seed)  # its own generator: the global one is the user's
        while True:
            order = rng.permutation(n)
            for i in range(0, n - batch_size + 1, batch_size):
                index = order[i:i + batch_size]
                yield keras.tree.map_structure(lambda a: np.asarray(a)[index], parts)

    return numpy_batches()


def _fit(model, x, y, sw, steps, batch_size, seed, deadline=None, per_call: int = 1,
         cap_seconds: float | None = None) -> dict:
    """Train ``model`` for ``steps`` steps (``per_call`` steps per call of its
    train function, a divisor of ``steps``) and summarize its loss curve.
    With ``cap_seconds``, stop at the step where the run (its first call,
    the tracing, left out) would pass that many seconds, but not before
    `MIN_STEPS`; ``steps_run`` says where it stopped."""
    import keras

    parts = (x,) if y is None else ((x, y) if sw is None else (x, y, sw))
    ds = _batches(parts, _length(x), batch_size, seed)
    curve = _LossCurve()
    check_every = max(1, 10 // per_call)
    clock: list = []  # (time, steps) at the end of the first call
    capped = []

    def on_batch(batch, logs):
        curve.on_batch(batch, logs)
        now = time.perf_counter()
        if cap_seconds is not None:
            if not clock:
                clock.append((now, curve.steps))
            elif curve.steps >= MIN_STEPS and curve.steps > clock[0][1]:
                per_step = (now - clock[0][0]) / (curve.steps - clock[0][1])
                if (curve.steps + per_call) * per_step > cap_seconds and curve.steps < steps:
                    model.stop_training = True
                    capped.append(curve.steps)
        if deadline is not None and len(curve.losses) % check_every == 0 and now > deadline:
            model.stop_training = True

    cb = keras.callbacks.LambdaCallback(on_train_batch_end=on_batch)
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[cb], shuffle=False)
    if curve.steps < steps and not (capped and curve.steps == capped[0]):
        raise OutOfTime()
    losses = np.asarray(curve.losses, dtype="float64")
    k = max(1, len(losses) // 10)
    start, end = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    finite = np.all(np.isfinite(losses[-k:])) and math.isfinite(start)
    rel = end / start if finite and start > 0 else (0.0 if finite and start == 0 else math.inf)
    stride = max(1, len(losses) // CURVE_POINTS)
    return {"loss": [round(float(v), 6) for v in losses[::stride]], "curve_stride": stride * per_call,
            "start_loss": start, "end_loss": end, "rel_loss": rel, "steps_run": curve.steps}


def chance_score(y, labels: str, score_name: str) -> float | None:
    """What predicting one constant scores on the held-back labels ``y``: the
    majority class's share (per output for multilabel), 0 for R²; None when
    the labels cannot be read this way.

    Example:
        >>> chance_score(np.array([0, 0, 0, 1]), "sparse", "accuracy")
        0.75
    """
    if score_name == "r2":
        return 0.0
    try:
        y = np.asarray(y)
        if labels == "multilabel":
            share = np.mean(y.reshape(-1, y.shape[-1]) > 0.5, axis=0)
            return float(np.mean(np.maximum(share, 1 - share)))
        if labels == "onehot" or (y.ndim >= 2 and y.shape[-1] > 1):
            classes = y.reshape(-1, y.shape[-1]).argmax(-1)
        else:
            classes = (np.sign(y) if labels == "plusminus" else np.round(y)).reshape(-1)
        _, counts = np.unique(classes, return_counts=True)
        return float(counts.max() / counts.sum()) if counts.size else None
    except Exception:  # labels this reading does not understand: no floor
        return None


def _predict(model, x, batch: int = 256) -> np.ndarray:
    import keras

    n = _length(x)
    outs = []
    for i in range(0, n, batch):
        part = keras.tree.map_structure(lambda a: a[i:i + batch], x)
        out = model(part, training=False)
        outs.append(np.asarray(keras.ops.convert_to_numpy(keras.tree.flatten(out)[0])))
    return np.concatenate(outs).astype("float64")


def _score(model, x, y, setting, score_name) -> float:
    """Held-back accuracy (classification) or R² (regression, clipped to [-1, 1]); the worst value when
    the predictions are not finite."""
    pred = _predict(model, x)
    y = np.asarray(y)
    if score_name == "r2":
        y = y.reshape(pred.shape).astype("float64") if y.size == pred.size else y.astype("float64")
        if not np.all(np.isfinite(pred)):
            return -1.0
        var = float(np.var(y))
        r2 = 1.0 - float(np.mean((pred - y) ** 2)) / var if var > 0 else 0.0
        return float(np.clip(r2, -1.0, 1.0))
    if not np.all(np.isfinite(pred)):
        return 0.0
    # The last axis holds the classes (or the one unit of a binary output); the axes
    # before it are positions (sequences, pixels), each scored on its own.
    if pred.ndim == 1:
        pred = pred[:, None]
    if pred.shape[-1] > 1:
        if setting.labels == "multilabel":
            return float(np.mean((pred > 0.5) == (y.reshape(pred.shape) > 0.5)))
        guess = pred.argmax(-1)
        truth = y.argmax(-1) if y.shape == pred.shape else y.reshape(guess.shape)
        return float(np.mean(guess == truth))
    pred, truth = pred[..., 0].reshape(-1), y.reshape(-1)
    if truth.size != pred.size:
        raise ValueError(f"cannot score {pred.size} predictions against {truth.size} labels")
    act = setting.output_activation or "linear"
    threshold = 0.5 if act in ("sigmoid", "softmax") or not setting.logits else 0.0
    if setting.labels == "plusminus":
        return float(np.mean(np.sign(pred) == np.sign(truth)))
    if setting.labels == "sparse":
        return float(np.mean(np.round(pred) == truth))
    return float(np.mean((pred > threshold) == (truth > 0.5)))
