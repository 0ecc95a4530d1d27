"""The callback never changes how the user's own step rounds.

TensorFlow's graph optimizer reorders a chain of sums whose operands differ
in shape (a BatchNormalization's ``x * scale + shift``, then a residual
``Add``) only where no one else reads a link of the chain: a probe reading
it made a ResNet train differently, by float rounding at first and by
0.005 in the weights after one epoch. Those links are left unread
(`deeplocalize.probes.graph.continued_in_place`) and the coverage says so.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from keras import layers as L  # noqa: E402
from sklearn import datasets  # noqa: E402

from deeplocalize import DeepLocalizeCallback  # noqa: E402
from deeplocalize.probes.graph import continued_in_place  # noqa: E402

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's graph optimizer")


def _residual_bn(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    h = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(inp)))
    r = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(h)))
    r = L.BatchNormalization(name="bn_before_add")(L.Conv2D(8, 3, padding="same")(r))
    h = L.ReLU()(L.Add()([h, r]))
    model = keras.Model(inp, L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(h)))
    model.compile(keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True), "sparse_categorical_crossentropy")
    return model


def test_residual_batchnorm_trains_bit_for_bit_as_without_the_callback():
    d = datasets.load_digits()
    x, y = (d.images / 16.0).astype("float32")[..., None], d.target
    runs = {}
    for arm in ("plain", "watched"):
        model = _residual_bn()
        cb = [DeepLocalizeCallback(verbose=0, verify="never", halt="never")] if arm == "watched" else []
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=cb, shuffle=False).history
        runs[arm] = (history["loss"], model.get_weights())
    assert runs["watched"][0] == runs["plain"][0]
    for a, b in zip(runs["plain"][1], runs["watched"][1]):
        np.testing.assert_array_equal(a, b)
    coverage = cb[0].diagnosis.coverage
    assert cb[0].diagnosis.status == "healthy"
    assert any("'bn_before_add'" in w for w in coverage["not_watched"]), coverage


def test_only_chains_with_a_broadcast_operand_are_left_unread():
    seen = {}
    built = [("batch_norm", L.BatchNormalization()), ("layer_norm", L.LayerNormalization()), ("dense", L.Dense(4))]
    for _, layer in built:
        layer.build((2, 4))

    @tf.function(autograph=False)
    def trace(x, other):
        for name, layer in built:
            out = layer(x, training=True)
            total = out + other  # a residual Add continuing the layer's output
            seen[name] = continued_in_place(out)
        seen["add_then_relu"] = continued_in_place(tf.nn.relu(total))
        scaled = x * tf.constant([1.0, 2.0, 3.0, 4.0])
        seen["product_scaled"] = continued_in_place(scaled)  # nothing continues it yet
        _ = scaled * 0.5  # a scalar factor continues the product: a broadcast
        seen["product_scaled_after"] = continued_in_place(scaled)
        return total

    trace(tf.ones((2, 4)), tf.ones((2, 4)))
    assert seen["batch_norm"] is True  # x * scale + shift: the shift is per unit
    assert seen["layer_norm"] is False  # its shift is per example and unit: one shape
    assert seen["dense"] is False  # BiasAdd, not a chain the optimizer reorders
    assert seen["add_then_relu"] is False
    assert seen["product_scaled"] is False and seen["product_scaled_after"] is True
