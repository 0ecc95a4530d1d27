"""GitHub DDOS-ML-Detection: 5-class network-flow classifier with an oversized 22-64-128-64 stack."""

import keras
import numpy as np
from keras import layers

CASE = {"id": "DDOS-ML-Detection", "source": "github:DDOS-ML-Detection",
        "title": "DDoS flows: 22-64-128-64 dropout stack on raw ARFF features"}

N_FEATURES = 27  # the ARFF has 28 attributes; the last one is the class


def _flows(rng, n):
    """Seeded stand-in for final-dataset.arff (encode_nominal): raw, unscaled numeric columns
    (ids and counters up to ~1e6, rates, sizes, times) and 5 imbalanced classes
    (Normal, UDP-Flood, Smurf, SIDDOS, HTTP-FLOOD), with class signal in rate/size/type columns."""
    labels = rng.choice(5, size=n, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    x = np.empty((n, N_FEATURES))
    x[:, 0:2] = rng.integers(0, 30, size=(n, 2))                 # SRC_ADD, DES_ADD
    x[:, 2] = rng.integers(0, 2_000_000, size=n)                  # PKT_ID
    x[:, 3:5] = rng.integers(0, 30, size=(n, 2))                  # FROM_NODE, TO_NODE
    x[:, 5] = np.where(labels == 0, rng.integers(0, 5, n), labels + rng.integers(0, 2, n))  # PKT_TYPE
    x[:, 6] = rng.normal(500 + 300 * labels, 80)                  # PKT_SIZE
    x[:, 7] = rng.integers(0, 5, size=n)                          # FLAGS
    x[:, 8] = rng.integers(0, 200, size=n)                        # FID
    x[:, 9] = rng.integers(0, 300_000, size=n)                    # SEQ_NUMBER
    x[:, 10:12] = rng.integers(0, 50_000, size=(n, 2))            # NUMBER_OF_PKT / BYTE
    x[:, 12:14] = rng.integers(0, 30, size=(n, 2))                # NODE_NAME_FROM / TO
    x[:, 14:17] = rng.integers(0, 20_000, size=(n, 3))            # PKT_IN / OUT / R
    x[:, 17] = rng.exponential(0.05, size=n)                      # PKT_DELAY_NODE
    x[:, 18] = rng.normal(300 + 200 * labels, 60)                 # PKT_RATE
    x[:, 19] = x[:, 18] * x[:, 6] / 1000                          # BYTE_RATE
    x[:, 20] = rng.normal(400 + 150 * labels, 50)                 # PKT_AVG_SIZE
    x[:, 21] = rng.uniform(0, 1, size=n)                          # UTILIZATION
    x[:, 22] = rng.exponential(0.1, size=n)                       # PKT_DELAY
    x[:, 23:27] = rng.uniform(0, 50, size=(n, 4))                 # send/receive times
    return x.astype("float32"), labels


def build(variant: str, seed: int = 0) -> dict:
    keras.utils.set_random_seed(seed)
    x, labels = _flows(np.random.default_rng(seed), 6000)
    # the original's label "binarisation" loop only touches indices 0..4; labels stay 0..4
    y = keras.utils.to_categorical(labels, 5)
    split = int(0.9 * len(x))
    uniform = keras.initializers.RandomUniform(-0.05, 0.05)  # Keras 2 'uniform'
    if variant == "buggy":
        sizes = [22, 64, 128, 64]
    elif variant == "fixed":
        sizes = [30, 10, 10]
    else:
        raise ValueError(variant)
    stack = [keras.Input(shape=(N_FEATURES,))]
    for i, units in enumerate(sizes, start=1):
        stack.append(layers.Dense(units, activation="relu", name=f"dense_{i}",
                                  kernel_initializer=uniform if i == 1 else "glorot_uniform"))
        stack.append(layers.Dropout(0.4, name=f"dropout_{i}"))
    stack.append(layers.Dense(5, activation="softmax", name="dense_out"))
    model = keras.Sequential(stack, name="ddos_" + variant)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return {"model": model, "x": x[:split], "y": y[:split],
            "fit": {"epochs": 2, "batch_size": 32, "validation_data": (x[split:], y[split:])}}
