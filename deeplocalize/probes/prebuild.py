"""Variables made before the instrumented step is first traced, so it is traced once."""

from __future__ import annotations


def build_state(model, iterator) -> bool:
    """Make the variables the step would otherwise make while it is first
    traced (the optimizer's slots, the compiled metrics' totals), from the
    shapes of the data alone, as Keras itself does under a distribution
    strategy. A ``tf.function`` whose first trace creates variables is traced
    a second time; with them made beforehand, the instrumented step is traced
    once. Nothing is computed: the variables start as Keras would start them.
    When it cannot be done the step is simply traced twice, as Keras's own.

    Example:
        >>> build_state(model, iterator)   # before the first call of the train function
        True
    """
    try:
        spec = getattr(iterator, "element_spec", None)
        if spec is None or getattr(model, "_distribute_strategy", None) is not None:
            return True  # Keras builds them itself under a strategy
        if not all(layer.built for layer in model._flatten_layers()):
            return True  # built on the first trace: its weights drawn where Keras would draw them
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=spec)
    except Exception:
        pass
    return True
