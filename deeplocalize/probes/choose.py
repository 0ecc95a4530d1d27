"""Which observer watches a run: the in-step probes, or the outside observer.

The in-step probes replace Keras's own TensorFlow train step with an
instrumented copy of it, compiled into one graph. Where that copy would not
be the step the user runs, or cannot be compiled as written, the run is
watched from outside instead (`deeplocalize.probes.outside`), and the
reason is kept for the diagnosis.

Example:
    >>> outside_reason(model) is None          # TensorFlow, Keras's own step
    True
    >>> watcher = watcher_for(model, model_now=lambda: model)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deeplocalize.probes.step import activation_name, probed_layers

if TYPE_CHECKING:  # the outside observer and its captures load only for a run watched from outside
    from deeplocalize.probes.outside import OutsideObserver


def own_train_step(model) -> bool:
    """Whether ``model`` runs a ``train_step`` of its own (not Keras's).

    Example:
        >>> class Clipped(keras.Model):
        ...     def train_step(self, data): ...
        >>> own_train_step(Clipped())
        True
    """
    if "train_step" in vars(model):
        return True
    for cls in type(model).__mro__:
        if "train_step" in vars(cls):
            return not cls.__module__.startswith("keras.")
    return False


def outside_reason(model) -> str | None:
    """Why the in-step probes cannot watch ``model``'s training (a phrase),
    or None when they can.

    Example:
        >>> model.compile("adam", "mse", run_eagerly=True); outside_reason(model)
        'run_eagerly=True: the in-step probes need a compiled step'
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        return f"the {backend} backend: the in-step probes exist for TensorFlow so far"
    if own_train_step(model):
        return "the model runs its own train_step, kept as written"
    if getattr(model, "run_eagerly", False):
        return "run_eagerly=True: the in-step probes need a compiled step"
    strategy = getattr(model, "distribute_strategy", None)
    name = type(strategy).__name__ if strategy is not None else ""
    if strategy is not None and name not in ("_DefaultDistributionStrategy", "OneDeviceStrategy"):
        return f"tf.distribute.{name.lstrip('_')}: the in-step probes run on one device"
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return "TensorFlow is not installed"
    return None


def watcher_for(model, model_now=None, **settings):
    """The in-step `Probes` of ``model`` where they can watch it, else an
    `OutsideObserver` (with ``reason`` set).

    ``model_now`` returns the model with its current weights (see
    `OutsideObserver`); ``settings`` go to `Probes.for_model`.

    Example:
        >>> type(watcher_for(model, saturation_eps=0.01)).__name__   # KERAS_BACKEND=jax
        'OutsideObserver'
    """
    reason = outside_reason(model)
    if reason is None:
        from deeplocalize.probes.step import Probes

        return Probes.for_model(model, **settings)
    from deeplocalize.probes.backward import BackwardCapture, can_watch_gradients
    from deeplocalize.probes.forward import ForwardCapture, can_capture
    from deeplocalize.probes.outside import OutsideObserver

    forward = None
    if can_capture(model) is None:
        layers = probed_layers(model)
        forward = ForwardCapture.for_model(model, layers, [activation_name(layer) for layer in layers],
                                           saturation_eps=settings.get("saturation_eps", 0.01))
        if forward.backward is None and can_watch_gradients(model) is None:
            forward.backward = BackwardCapture(layers)  # kept with the capture: its traced step calls both
    return OutsideObserver(model, reason, model_now=model_now, per_step_loss=not own_train_step(model),
                           forward=forward)


def is_outside(watcher) -> bool:
    """Whether ``watcher`` watches from outside the step (an `OutsideObserver`)."""
    return hasattr(watcher, "observe")


def coverage_of(watcher) -> dict:
    """What ``watcher`` sees, kept in the trace's meta for the diagnosis.

    Example:
        >>> coverage_of(watcher_for(model))["observer"]
        'in_graph'
    """
    return watcher.coverage  # the watcher's own dict: it says so when it stops watching something


def take_over(probes, reason: str, sampling: tuple[int, int], first_step: int) -> OutsideObserver:
    """An `OutsideObserver` taking over from in-step ``probes`` that failed
    (they are uninstalled: the model runs its own step), from ``first_step`` on."""
    from deeplocalize.probes.outside import OutsideObserver

    probes.uninstall()
    watcher = OutsideObserver(probes.model, reason, model_now=lambda: probes.model)
    watcher.set_sampling(*sampling)
    watcher.install(first_step=first_step)
    return watcher
