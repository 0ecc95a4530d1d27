"""The copy a JAX step not recorded keeps of the weights it began with (for a
replay on a NaN/Inf) gives back every array bit for bit, whatever its dtype."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from deeplocalize.probes.jax_step import _flat_copy, _unflat  # noqa: E402


def test_flat_copy_round_trips_mixed_dtypes_and_shapes():
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    kept = ([jnp.asarray(rng.normal(size=(3, 4)), "float32"), jnp.asarray(rng.normal(size=(5,)), "bfloat16"),
             jnp.asarray(7.5, "float32")],
            [jnp.asarray(rng.integers(0, 2**31, size=(2,)), "uint32"), jnp.asarray(rng.normal(size=(2, 2, 2)), "float32")])
    flat = _flat_copy(kept)
    assert sorted(flat) == ["bfloat16", "float32", "uint32"]  # one array per dtype, not one per weight
    back = _unflat(flat, kept)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(kept)
    for a, b in zip(jax.tree_util.tree_leaves(kept), jax.tree_util.tree_leaves(back)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(np.asarray(a), np.asarray(b))
