"""Graph-building helpers: unlowered conditionals (branches of the compiled step
that cost nothing when not taken) and constants made once per graph.

The conditionals reach into TensorFlow's internal ``cond_v2`` module
(falling back to the public ops where it is missing).

Example:
    >>> _branch(step < 0, keep_fault, lambda: tf.constant(0.0))
    >>> tf.reduce_max(a, axis=const(tf, [0, 1, 2], tf.int32))
"""

from __future__ import annotations

import weakref

_CONSTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # graph -> {(value, dtype): constant}


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


_CHAINS = ({"Add", "AddV2", "AddN"}, {"Mul"})
_PASS_THROUGH = {"Identity", "IdentityN"}


def continued_in_place(t) -> bool:
    """Whether reading graph tensor ``t`` could change how the step rounds:
    ``t`` is a sum (or product) with a broadcast operand that a consumer
    continues, e.g. a BatchNormalization's ``x * scale + shift`` followed by
    a residual ``Add``, or a gradient product scaled by the learning rate.
    TensorFlow's graph optimizer reorders such chains (operands of one shape
    first, the broadcast one last) only where each link has a single
    consumer, so a probe reading a link would make the user's own step
    round differently.

    Example:
        >>> continued_in_place(bn_output)   # BatchNormalization -> Add
        True
    """
    kind = getattr(getattr(t, "op", None), "type", None)
    chain = next((c for c in _CHAINS if kind in c), None)
    if chain is None or not hasattr(t, "consumers"):
        return False
    broadcast = _broadcasts(t.op)
    seen, todo = set(), list(t.consumers())
    while todo:
        op = todo.pop()
        if op.type in chain and (broadcast or _broadcasts(op)):
            return True
        if op.type in _PASS_THROUGH and op.name not in seen:
            seen.add(op.name)
            todo += [c for out in op.outputs for c in out.consumers()]
    return False


def _broadcasts(op) -> bool:
    """Whether ``op``'s operands differ in shape (or may: one is unknown)."""
    shapes = []
    for t in op.inputs:
        try:
            shapes.append(tuple(t.shape.as_list()))
        except ValueError:  # unknown rank
            return True
    return len(set(shapes)) > 1


def const(tf, value, dtype):
    """``tf.constant(value, dtype)``, made once per graph being built.

    Every Python number or axis list handed to an op becomes a constant op of
    its own, and building ops is most of the cost of tracing the step: the
    same value is shared instead (the graph is the one being traced, or a
    branch of it; each keeps its own).
    """
    graph = tf.compat.v1.get_default_graph()
    cache = _CONSTS.setdefault(graph, {})
    key = (repr(value), dtype)
    if key not in cache:
        cache[key] = tf.constant(value, dtype)
    return cache[key]
