import numpy as np
import pytest

from deeplocalize.neurons.spectra import count, hit_spectra


def test_count_by_hand():
    active = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0], [1, 0, 0]], bool)
    failed = np.array([True, True, False, False])
    c = count(active, failed)
    assert c["af"].tolist() == [2, 1, 1]
    assert c["nf"].tolist() == [0, 1, 1]
    assert c["as"].tolist() == [1, 1, 0]
    assert c["ns"].tolist() == [1, 1, 2]


def _set_model(keras, act):
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation=act),
                          keras.layers.Dense(2, activation="softmax")])
    m.layers[0].set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    # output: class 0 if first input larger
    m.layers[1].set_weights([np.array([[1, -1], [-1, 1]], np.float32), np.zeros(2, np.float32)])
    return m


def test_activation_rule_per_activation(keras):
    x = np.array([[0.3, -0.2], [-0.4, 0.1], [0.2, 0.6]], np.float32)
    y = np.array([0, 0, 1])  # second input is misclassified
    relu = hit_spectra(_set_model(keras, "relu"), x, y)
    assert relu.query("neuron == 0")[["as", "af"]].values.tolist() == [[2, 0]]
    assert relu.query("neuron == 1")[["as", "af"]].values.tolist() == [[1, 1]]
    sig = hit_spectra(_set_model(keras, "sigmoid"), x, y)  # threshold 0.5 <=> pre-activation > 0
    assert sig[["as", "af", "ns", "nf"]].values.tolist() == relu[["as", "af", "ns", "nf"]].values.tolist()
    assert hit_spectra(_set_model(keras, "sigmoid"), x, y, threshold=0.0)["as"].tolist() == [2, 2]


def test_per_class_blocks_add_up_and_conv_channels(conv_model, xy_conv):
    x, y = xy_conv
    overall = hit_spectra(conv_model, x, y)
    per = hit_spectra(conv_model, x, y, per_class=True)
    assert len(overall) == 4 + 3 + 5  # conv channels, conv channels, dense units
    summed = per.groupby(["site", "neuron"])[["as", "ns", "af", "nf"]].sum().reset_index()
    assert summed[["as", "ns", "af", "nf"]].values.tolist() == overall[["as", "ns", "af", "nf"]].values.tolist()
    assert (overall[["as", "ns", "af", "nf"]].sum(1) == len(x)).all()


def test_label_count_mismatch(dense_model, xy_dense):
    x, y = xy_dense
    with pytest.raises(ValueError, match="labels"):
        hit_spectra(dense_model, x, y[:-1])


def test_mean_rule_counts_values_above_each_neurons_mean(dense_model, xy_dense):
    from deeplocalize.neurons.spectra import activity

    x = xy_dense[0]
    active, values, _ = activity(dense_model, x, threshold="mean")
    assert (active == (values > values.mean(0))).all()
    assert 0 < active.mean() < 1
    import pytest

    with pytest.raises(ValueError, match="'mean'"):
        activity(dense_model, x, threshold="median")
