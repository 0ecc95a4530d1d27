"""The reference models of DeepFault and NP-SBFL, rebuilt in Keras 3 and trained on local data.

* ``mlp5x30``: DeepFault's ``mnist_test_model_5_30_leaky_relu`` (five hidden Dense(30) layers,
  each followed by a LeakyReLU layer), the "five hidden layers" MNIST MLP of both papers;
* ``lenet1`` / ``lenet4`` / ``lenet5``: DeepFault's shipped LeNets (5x5 ``same`` convolutions
  with 4/12, 6/16, 6/16 channels, 2x2 max pooling, then Dense 84 (LeNet-4) or 120-84 (LeNet-5));
* ``cifar-style``: a stand-in for NP-SBFL's CIFAR-10 CNNs (conv blocks, then three Dense
  layers), trained on MNIST, because CIFAR-10 cannot be downloaded here.

All train on the first 8,000 of the 10,000 MNIST digits in ``benchmark/data/mnist-t10k``
(the references train on MNIST's 60,000 training digits) and are analysed on all 10,000.

Example:
    >>> model, x, y, seconds = build("lenet1", epochs=1)   # doctest: +SKIP
"""

from __future__ import annotations

import time

from .data import load_mnist

MODELS = ("mlp5x30", "lenet1", "lenet4", "lenet5", "cifar-style")
EPOCHS = {"mlp5x30": 10, "lenet1": 5, "lenet4": 5, "lenet5": 5, "cifar-style": 5}
N_TRAIN = 8000


def layers_for(name: str) -> list:
    """The Keras layers of a reference model (input included, softmax output last).

    Example:
        >>> len(layers_for("mlp5x30"))   # doctest: +SKIP
        13
    """
    import keras

    L = keras.layers
    if name == "mlp5x30":
        body = [keras.Input((784,))]
        for _ in range(5):
            body += [L.Dense(30), L.LeakyReLU()]
        return body + [L.Dense(10, activation="softmax")]
    convs = {"lenet1": (4, 12), "lenet4": (6, 16), "lenet5": (6, 16), "cifar-style": (16, 32)}
    dense = {"lenet1": (), "lenet4": (84,), "lenet5": (120, 84), "cifar-style": (64, 32)}
    if name not in convs:
        raise ValueError(f"Unknown model '{name}'; choose one of {', '.join(MODELS)}.")
    body = [keras.Input((28, 28, 1))]
    for filters in convs[name]:
        body += [L.Conv2D(filters, 5 if name != "cifar-style" else 3, padding="same", activation="relu"),
                 L.MaxPooling2D()]
    if name == "cifar-style":
        body += [L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D()]
    body.append(L.Flatten())
    body += [L.Dense(u, activation="relu") for u in dense[name]]
    return body + [L.Dense(10, activation="softmax")]


def build(name: str, epochs: int | None = None, seed: int = 0, n_inputs: int | None = None):
    """Train one reference model; returns (model, x, y, seconds spent training).

    ``x`` is shaped for the model (flat for the MLP), in [0, 1]; ``y`` integer labels.
    ``n_inputs`` keeps only the first digits (training on the first 80% of them).

    Example:
        >>> model, x, y, secs = build("mlp5x30", epochs=1)   # doctest: +SKIP
    """
    import keras

    keras.utils.set_random_seed(seed)
    x, y = load_mnist(n_inputs)
    n_train = N_TRAIN if n_inputs is None else int(0.8 * len(x))
    if name == "mlp5x30":
        x = x.reshape(len(x), -1)
    model = keras.Sequential(layers_for(name))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    t0 = time.perf_counter()
    model.fit(x[:n_train], y[:n_train], epochs=epochs or EPOCHS[name], batch_size=64, verbose=0)
    return model, x, y, time.perf_counter() - t0
