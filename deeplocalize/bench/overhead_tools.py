"""The settings the overhead study times beside a plain fit: our callback, Keras's and
TensorFlow's own instruments, a DeepDiagnosis-style per-batch probe, and the peers.

Each `Setting` makes the callbacks for one timed fit (``make(model, x, y,
batch_size)``) and may switch something on around it (``enter`` / ``leave``).
``own_model``: the setting needs its own copy of the model, traced under it
(``tf.debugging.enable_check_numerics`` instruments the train function when it
is traced, so the plain fits keep an uninstrumented one).

Example:
    >>> s = SETTINGS["tensorboard"]
    >>> cbs = s.make(model, x, y, 32)   # [TensorBoard(log_dir=<temp>, histogram_freq=1)]
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Setting:
    name: str
    label: str
    make: Callable  # (model, x, y, batch_size) -> list of callbacks
    enter: Callable | None = None
    leave: Callable | None = None
    own_model: bool = False
    needs: str | None = None  # a module it cannot run without; the setting is skipped when missing

    def missing(self) -> str | None:
        """Why the setting cannot run here, or None."""
        if self.needs is None:
            return None
        import importlib.util

        return None if importlib.util.find_spec(self.needs) else f"{self.needs} is not installed"


def _deeplocalize(model, x, y, batch_size):
    from deeplocalize import DeepLocalizeCallback

    return [DeepLocalizeCallback(verbose=0, halt="never")]


_TEMP_DIRS: list[str] = []


def _tensorboard(model, x, y, batch_size):
    import keras

    d = tempfile.mkdtemp(prefix="dl-overhead-tb-")
    _TEMP_DIRS.append(d)
    return [keras.callbacks.TensorBoard(log_dir=d, histogram_freq=1)]


def cleanup() -> None:
    """Remove the TensorBoard log folders made so far."""
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)


def _check_numerics_on():
    import tensorflow as tf

    tf.debugging.enable_check_numerics()


def _check_numerics_off():
    import tensorflow as tf

    tf.debugging.disable_check_numerics()


def _batch_hook(model, x, y, batch_size):
    """A callback whose per-batch hook does nothing: the floor any per-batch
    callback pays (with one, Keras hands every batch's logs to the host)."""
    import keras

    class BatchHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    return [BatchHook()]


def _per_batch_probe(model, x, y, batch_size):
    """After every batch, a separate eager forward pass through every layer and
    a backward pass for every weight, on that batch's slice of the training data
    (how the original DeepLocalize/DeepDiagnosis callbacks probe a run)."""
    import keras
    import numpy as np

    from deeplocalize.bench.peers import _probe

    class PerBatchProbe(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.cache: dict = {}
            self.means: list = []

        def on_train_batch_end(self, batch, logs=None):
            xb, yb = x[batch * batch_size:(batch + 1) * batch_size], y[batch * batch_size:(batch + 1) * batch_size]
            outs = _probe.layer_outputs(self.model, xb, self.cache) or []
            grads = _probe.weight_gradients(self.model, xb, yb) or []
            self.means = [float(np.mean(o)) for _, o in outs] + [float(np.mean(g)) for _, g in grads]

    return [PerBatchProbe()]


def _peer(module_name):
    def make(model, x, y, batch_size):
        import importlib

        import keras

        from deeplocalize.bench.tools import Context
        from deeplocalize.bench.watch import ProxyWatch

        module = importlib.import_module(f"deeplocalize.bench.peers.{module_name}")
        ctx = Context(keras, "healthy", 0, program={"model": model, "x": x, "y": y, "fit": {"batch_size": batch_size}})
        # through a stand-in model: a verdict ends the tool's checks, not the timed fit
        return [ProxyWatch(lambda keys: module.make_callbacks(ctx)).keras_callback()]
    return make


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    Setting("deeplocalize", "DeepLocalize (ours)", _deeplocalize),
    Setting("tensorboard", "TensorBoard(histogram_freq=1)", _tensorboard, needs="tensorboard"),
    Setting("check_numerics", "tf.debugging.enable_check_numerics()", lambda *a: [],
            enter=_check_numerics_on, leave=_check_numerics_off, own_model=True),
    Setting("per_batch_probe", "per-batch forward+backward probe (DeepDiagnosis-style)", _per_batch_probe),
    Setting("batch_hook", "a callback with an empty per-batch hook (the floor)", _batch_hook),
    Setting("umlaut", "UMLAUT (re-implemented)", _peer("umlaut")),
    Setting("autotrainer", "AUTOTRAINER (re-implemented)", _peer("autotrainer")),
    Setting("deepdiagnosis", "DeepDiagnosis (re-implemented)", _peer("deepdiagnosis")),
]}
