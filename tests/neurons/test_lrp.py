import numpy as np
import pytest

from deeplocalize.neurons.lrp import UnsupportedLayerError, lrp


def _zero_bias(model, positive=False):
    import keras

    m = keras.models.clone_model(model)
    m.set_weights([np.zeros_like(w) if w.ndim == 1 else (np.abs(w) if positive else w)
                   for w in model.get_weights()])
    return m


@pytest.mark.parametrize("which", ["dense_model", "conv_model"])
def test_epsilon_rule_conserves_relevance(request, which):
    model = _zero_bias(request.getfixturevalue(which))
    x = request.getfixturevalue("xy_dense" if which == "dense_model" else "xy_conv")[0][:10]
    rel = lrp(model, x, rule="epsilon", eps=1e-9, start="predicted")
    totals = rel.input.reshape(len(x), -1).sum(1)
    np.testing.assert_allclose(totals, rel.output_total, rtol=1e-3, atol=1e-5)
    for layer_rel in rel.neurons:  # every hidden layer carries the same total
        np.testing.assert_allclose(layer_rel.sum(1), rel.output_total, rtol=1e-3, atol=1e-5)
    assert np.abs(rel.output_total).min() > 0


@pytest.mark.parametrize("which", ["dense_model", "conv_model"])
def test_zplus_rule_conserves_on_positive_net(request, which):
    model = _zero_bias(request.getfixturevalue(which), positive=True)
    x = request.getfixturevalue("xy_dense" if which == "dense_model" else "xy_conv")[0][:10]
    rel = lrp(model, x, rule="zplus", eps=1e-9, start="softmax")
    np.testing.assert_allclose(rel.output_total, 1.0, rtol=1e-5)  # softmax start sums to 1
    np.testing.assert_allclose(rel.input.reshape(len(x), -1).sum(1), 1.0, rtol=1e-3)
    assert (rel.input >= 0).all()  # z+ relevance of non-negative inputs is non-negative


def test_epsilon_with_bias_loses_relevance(dense_model, xy_dense):
    # sanity: the conservation test can fail when biases absorb relevance
    import keras

    m = keras.models.clone_model(dense_model)
    m.set_weights([w + 0.5 if w.ndim == 1 else w for w in dense_model.get_weights()])
    rel = lrp(m, xy_dense[0][:10], rule="epsilon", start="predicted")
    assert not np.allclose(rel.input.sum(1), rel.output_total, rtol=1e-3)


def test_unsupported_layer_is_named(keras):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                          keras.layers.BatchNormalization(name="my_bn"), keras.layers.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="my_bn.*BatchNormalization"):
        lrp(m, np.ones((2, 4), np.float32))


def test_bad_rule(dense_model, xy_dense):
    with pytest.raises(ValueError, match="epsilon, zplus"):
        lrp(dense_model, xy_dense[0][:2], rule="alpha-beta")
