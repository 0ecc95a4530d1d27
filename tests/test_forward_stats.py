"""The statistics of a layer output and a gradient: JAX's fused reductions
(`forward_stats._fused`, `backward._sums`) and PyTorch's few-pass ones
(`forward_stats._torch`) give the values of the plain one-statistic-at-a-time
reductions, NaN and Inf included."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from deeplocalize.probes import backward  # noqa: E402
from deeplocalize.probes.forward_stats import FORWARD_STATS, _fused, _one_by_one, _torch  # noqa: E402


def _outputs():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 10)).astype("float32")
    relu = np.maximum(a, 0)
    relu[:, [3, 7]] = 0.0  # two dead units
    broken = a.copy()
    broken[2, 3], broken[5, 1] = np.nan, np.inf
    e = np.exp(4 * a)
    return [(a, "linear"), (relu, "relu"), (1 / (1 + np.exp(-5 * a)), "sigmoid"), (np.tanh(3 * a), "tanh"),
            (e / e.sum(-1, keepdims=True), "softmax"), (broken, "relu"), (a[0], "linear"),
            (rng.normal(size=(4, 6, 5, 3)).astype("float32"), "relu"), (np.zeros((3, 1), "float32"), "linear")]


@pytest.mark.parametrize("k", range(9))
def test_fused_forward_statistics_equal_the_one_by_one_ones(k):
    x, activation = _outputs()[k]
    fused = np.asarray(jax.jit(lambda t: _fused(t, activation, 0.01))(jax.numpy.asarray(x)))
    plain = np.asarray(_one_by_one(x, activation, 0.01), dtype=np.float32)
    np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-6, equal_nan=True,
                               err_msg=str(dict(zip(FORWARD_STATS, zip(fused, plain)))))


@pytest.mark.parametrize("k", range(9))
def test_torch_forward_statistics_equal_the_one_by_one_ones(k):
    torch = pytest.importorskip("torch")
    x, activation = _outputs()[k]
    got = _torch(torch.tensor(x), activation, 0.01).numpy()
    plain = np.asarray(_one_by_one(x, activation, 0.01), dtype=np.float32)
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-6, equal_nan=True,
                               err_msg=str(dict(zip(FORWARD_STATS, zip(got, plain)))))


@pytest.mark.parametrize("stride", [1, 3])
def test_fused_gradient_sums_equal_numpy(stride):
    for x, _ in _outputs():
        got = np.asarray(jax.jit(lambda t: backward._sums(t, stride))(jax.numpy.asarray(x)))
        flat = np.asarray(x, dtype=np.float32).reshape(-1)[::stride]
        want = np.array([np.sum(np.square(flat)), np.isnan(flat).sum(), np.isinf(flat).sum()]) * stride
        np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)
