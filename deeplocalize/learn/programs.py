"""Healthy base programs for the mutation corpus, as declarative specs.

A `Program` is plain data: where its data comes from, how the data is
preprocessed, the layer list, loss, optimizer and fit settings. Mutation
operators (`deeplocalize.learn.mutations`) rewrite a copy of the spec, and
`materialize` turns any spec into a compiled Keras model plus arrays. Every
data source exists without network: scikit-learn's bundled data sets,
generated data, and the 10,000 MNIST test digits in ``benchmark/data``.

Example:
    >>> prog = get_program("digits_mlp")
    >>> run = materialize(prog, seed=0)
    >>> run["model"].fit(run["x"], run["y"], **run["fit"])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from deeplocalize.learn.datasets import MNIST_DIR, _preprocess, load_mnist_t10k, raw_data  # noqa: F401


@dataclass
class Program:
    """One healthy training program, as data.

    ``task`` is ``"multiclass"``, ``"binary"`` or ``"regression"``.
    ``layers`` holds ``(class_name, kwargs)`` pairs of ``keras.layers``; every
    layer has a ``name``. ``preprocess`` names the input scaling
    (``"standardize"``, ``"divide255"``, ``"minmax"`` or ``None``);
    ``label_ops``/``data_ops`` are transforms added by mutations.

    Example:
        >>> p = Program(id="toy", task="binary", dataset="moons",
        ...             layers=[("Dense", {"units": 1, "activation": "sigmoid", "name": "out"})],
        ...             loss="binary_crossentropy")
    """

    id: str
    task: str
    dataset: str
    layers: list
    loss: str
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    optimizer_kwargs: dict = field(default_factory=dict)
    epochs: int = 5
    batch_size: int = 32
    preprocess: str | None = "standardize"
    target_scale: str | None = None  # "standardize" for regression targets
    label_encoding: str = "sparse"  # sparse | onehot | binary | continuous
    input_shape: tuple | None = None  # reshape x to this (without batch dim)
    n_samples: int | None = None
    data_ops: list = field(default_factory=list)
    label_ops: list = field(default_factory=list)
    metrics: list | None = None

    def copy(self) -> "Program":
        """A deep copy, for mutation.

        Example:
            >>> q = get_program("iris_mlp").copy(); q.epochs = 1
        """
        return copy.deepcopy(self)

    def weighted_layers(self) -> list[str]:
        """Names of the layers that have weights (Dense, Conv, RNN), in order.

        Example:
            >>> get_program("iris_mlp").weighted_layers()
            ['dense_1', 'dense_2', 'output']
        """
        return [kw["name"] for cls, kw in self.layers if cls in _WEIGHTED]

    @property
    def output_layer(self) -> str:
        """Name of the last layer."""
        return self.layers[-1][1]["name"]


_WEIGHTED = {"Dense", "Conv2D", "Conv1D", "SimpleRNN", "LSTM", "GRU"}


def prepare_data(prog: Program, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Preprocessed train/test arrays of ``prog`` and its number of classes.

    Returns ``(x_train, y_train, x_test, y_test, n_classes)``; labels are in
    the program's ``label_encoding`` after its ``label_ops``. The test split
    (20 %) is clean (no label mutation) and only serves to score a run.

    Example:
        >>> xtr, ytr, xte, yte, k = prepare_data(get_program("iris_mlp"))
    """
    x, y = raw_data(prog.dataset, seed=0, n_samples=prog.n_samples)  # the data never varies with seed
    n_classes = int(y.max()) + 1 if prog.task != "regression" else 0
    x = _preprocess(x, prog.preprocess)
    y = y.astype(np.float64)
    if prog.target_scale == "standardize":
        y = (y - y.mean()) / y.std()
    rng = np.random.default_rng(1000 + seed)
    for op, arg in prog.data_ops:
        if op == "scale":
            x = x * arg
        elif op == "shift":
            x = x + arg
        else:
            raise KeyError(f"Unknown data op {op!r}.")
    if prog.input_shape is not None:
        x = x.reshape((len(x),) + tuple(prog.input_shape))
    n_test = len(x) // 5
    x_test, y_test = x[:n_test], y[:n_test]
    x_train, y_train = x[n_test:], y[n_test:].copy()
    for op, arg in prog.label_ops:
        y_train = _label_op(y_train, op, arg, n_classes, prog.task, rng)
    y_train, y_test = _encode(y_train, prog, n_classes), _encode(y_test, prog, n_classes, clean=True)
    return (x_train.astype(np.float32), y_train.astype(np.float32),
            x_test.astype(np.float32), y_test.astype(np.float32), n_classes)


def _label_op(y, op, arg, n_classes, task, rng):
    if op == "noise":  # replace a share of the labels by random ones
        flip = rng.random(len(y)) < arg
        if task == "regression":
            y = y.copy()
            y[flip] = rng.permutation(y)[flip]
        else:
            y = y.copy()
            y[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
        return y
    if op == "shuffle":  # labels no longer belong to their inputs
        return rng.permutation(y)
    if op == "pm1" and task == "binary":  # {0,1} written as {-1,1}
        return y * 2.0 - 1.0
    if op == "offset":  # class ids 1..K instead of 0..K-1 (binary: {1,2})
        return y + arg
    if op == "scale":  # targets on the wrong scale
        return y * arg
    raise KeyError(f"Unknown label op {op!r} for task {task!r}.")


def _encode(y, prog, n_classes, clean=False):
    if prog.label_encoding == "onehot":
        yi = np.clip(np.round(y).astype(int), 0, n_classes - 1) if clean else np.round(y).astype(int)
        if not clean and (yi.min() < 0 or yi.max() >= n_classes):  # wrongly encoded: keep scaled ids
            return np.eye(n_classes)[np.clip(yi, 0, n_classes - 1)] * np.where(yi >= n_classes, 2.0, 1.0)[:, None]
        return np.eye(n_classes)[yi]
    return y.reshape(-1, 1) if prog.task in ("binary", "regression") and y.ndim == 1 else y


# ---- building ---------------------------------------------------------------------------
def build_model(prog: Program, input_shape: tuple, seed: int = 0):
    """A compiled Keras model for ``prog`` (seeded).

    Example:
        >>> model = build_model(get_program("iris_mlp"), (4,))
    """
    import keras

    keras.utils.set_random_seed(seed)
    layer_objs = [keras.Input(shape=tuple(input_shape), name="input")]
    for cls, kwargs in prog.layers:
        layer_objs.append(getattr(keras.layers, cls)(**_resolve(kwargs)))
    model = keras.Sequential(layer_objs, name=prog.id)
    opt_cls = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
               "adagrad": keras.optimizers.Adagrad, "adadelta": keras.optimizers.Adadelta,
               "nadam": keras.optimizers.Nadam, "adamax": keras.optimizers.Adamax}[prog.optimizer]
    opt = opt_cls(learning_rate=prog.learning_rate, **prog.optimizer_kwargs)
    metrics = prog.metrics
    if metrics is None:
        metrics = ["accuracy"] if prog.task != "regression" else ["mae"]
    model.compile(loss=prog.loss, optimizer=opt, metrics=metrics)
    return model


def _resolve(kwargs: dict) -> dict:
    """Initializer specs written as ``("constant", 0.5)`` become Keras objects."""
    import keras

    out = dict(kwargs)
    for key in ("kernel_initializer", "recurrent_initializer"):
        spec = out.get(key)
        if isinstance(spec, (tuple, list)):
            kind, value = spec
            if kind == "constant":
                out[key] = keras.initializers.Constant(value)
            elif kind == "normal":
                out[key] = keras.initializers.RandomNormal(stddev=value)
            else:
                raise KeyError(f"Unknown initializer spec {spec!r}.")
    return out


def materialize(prog: Program, seed: int = 0) -> dict:
    """Data, compiled model and fit kwargs of ``prog``.

    Returns ``{"model", "x", "y", "x_test", "y_test", "n_classes", "fit"}``.

    Example:
        >>> run = materialize(get_program("wine_mlp"), seed=1)
        >>> run["model"].fit(run["x"], run["y"], **run["fit"])
    """
    x, y, x_test, y_test, n_classes = prepare_data(prog, seed)
    model = build_model(prog, x.shape[1:], seed=seed)
    fit = {"epochs": int(prog.epochs), "batch_size": int(prog.batch_size), "verbose": 0, "shuffle": True}
    return {"model": model, "x": x, "y": y, "x_test": x_test, "y_test": y_test,
            "n_classes": n_classes, "fit": fit}


def score(prog: Program, model, x_test, y_test, n_classes: int) -> float:
    """Test-set quality, normalised so that chance is 0 and perfect is 1.

    Classification: (accuracy - chance) / (1 - chance), chance = majority
    share. Regression: R^2. Non-finite predictions score -1.

    Example:
        >>> score(prog, run["model"], run["x_test"], run["y_test"], run["n_classes"])
        0.93
    """
    pred = np.asarray(model.predict(x_test, verbose=0, batch_size=512), dtype=np.float64)
    if not np.all(np.isfinite(pred)):
        return -1.0
    if prog.task == "regression":
        y = y_test.reshape(-1)
        p = pred.reshape(len(y), -1)[:, 0]
        return float(1.0 - np.mean((p - y) ** 2) / max(np.var(y), 1e-12))
    y = y_test.argmax(axis=1) if y_test.ndim == 2 and y_test.shape[1] > 1 else y_test.reshape(-1).round()
    if pred.ndim == 2 and pred.shape[1] > 1:
        p = pred.argmax(axis=1)
    else:  # one output unit: threshold in the middle of what the loss expects
        p = (pred.reshape(-1) > 0.5).astype(float)
    acc = float(np.mean(p == y))
    chance = float(np.max(np.bincount(y.astype(int), minlength=max(n_classes, 2))) / len(y))
    return (acc - chance) / max(1.0 - chance, 1e-12)


# ---- the family ----------------------------------------------------------------------------
def _dense(name, units, activation="relu", **kw):
    return ("Dense", {"units": units, "activation": activation, "name": name, **kw})


def _family() -> dict[str, Program]:
    progs = [
        Program("iris_mlp", "multiclass", "iris",
                [_dense("dense_1", 16), _dense("dense_2", 16), _dense("output", 3, "softmax")],
                loss="sparse_categorical_crossentropy", learning_rate=1e-2, epochs=20, batch_size=16),
        Program("wine_mlp", "multiclass", "wine",
                [_dense("hidden", 32, "tanh"), _dense("output", 3, "softmax")],
                loss="categorical_crossentropy", label_encoding="onehot", learning_rate=5e-3,
                epochs=20, batch_size=16),
        Program("digits_mlp", "multiclass", "digits",
                [_dense("dense_1", 64), ("Dropout", {"rate": 0.1, "name": "dropout"}),
                 _dense("dense_2", 32), _dense("output", 10, "softmax")],
                loss="sparse_categorical_crossentropy", preprocess="divide255", epochs=6),
        Program("digits_cnn", "multiclass", "digits",
                [("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu", "padding": "same", "name": "conv_1"}),
                 ("MaxPooling2D", {"pool_size": 2, "name": "pool"}),
                 ("Flatten", {"name": "flatten"}),
                 _dense("dense", 32), _dense("output", 10, "softmax")],
                loss="categorical_crossentropy", label_encoding="onehot", preprocess="divide255",
                input_shape=(8, 8, 1), epochs=5),
        Program("digits_rnn", "multiclass", "digits",
                [("SimpleRNN", {"units": 32, "name": "rnn"}), _dense("output", 10, "softmax")],
                loss="sparse_categorical_crossentropy", preprocess="divide255", input_shape=(8, 8),
                learning_rate=3e-3, epochs=6),
        Program("mnist_cnn", "multiclass", "mnist",
                [("Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "activation": "relu", "name": "conv_1"}),
                 ("Conv2D", {"filters": 16, "kernel_size": 3, "strides": 2, "activation": "relu", "name": "conv_2"}),
                 ("Flatten", {"name": "flatten"}),
                 _dense("output", 10, "softmax")],
                loss="sparse_categorical_crossentropy", preprocess="divide255", input_shape=(28, 28, 1),
                n_samples=3000, epochs=3, batch_size=64),
        Program("mnist_mlp", "multiclass", "mnist",
                [("Dense", {"units": 64, "name": "dense_1"}), ("Activation", {"activation": "relu", "name": "act_1"}),
                 ("Dense", {"units": 10, "name": "dense_out"}), ("Activation", {"activation": "softmax", "name": "act_out"})],
                loss="categorical_crossentropy", label_encoding="onehot", preprocess="divide255",
                input_shape=(784,), n_samples=3000, epochs=3, batch_size=64),
        Program("circles_act", "binary", "circles",
                [("Dense", {"units": 16, "name": "dense_1"}), ("Activation", {"activation": "relu", "name": "act_1"}),
                 ("Dense", {"units": 16, "name": "dense_2"}), ("Activation", {"activation": "relu", "name": "act_2"}),
                 ("Dense", {"units": 1, "name": "dense_out"}), ("Activation", {"activation": "sigmoid", "name": "act_out"})],
                loss="binary_crossentropy", label_encoding="binary", learning_rate=1e-2, epochs=10,
                n_samples=800),
        Program("digits_act_cnn", "multiclass", "digits",
                [("Conv2D", {"filters": 8, "kernel_size": 3, "name": "conv_1"}),
                 ("Activation", {"activation": "relu", "name": "act_1"}),
                 ("Flatten", {"name": "flatten"}),
                 ("Dense", {"units": 10, "name": "dense_out"}), ("Activation", {"activation": "softmax", "name": "act_out"})],
                loss="categorical_crossentropy", label_encoding="onehot", preprocess="divide255",
                input_shape=(8, 8, 1), epochs=5, optimizer="nadam"),
        Program("cancer_mlp", "binary", "breast_cancer",
                [_dense("dense_1", 16), _dense("output", 1, "sigmoid")],
                loss="binary_crossentropy", label_encoding="binary", epochs=15, batch_size=16),
        Program("moons_mlp", "binary", "moons",
                [_dense("dense_1", 16, "tanh"), _dense("dense_2", 16, "tanh"), _dense("output", 1, "sigmoid")],
                loss="binary_crossentropy", label_encoding="binary", learning_rate=1e-2, epochs=10),
        Program("circles_mlp", "binary", "circles",
                [_dense("dense_1", 16), _dense("dense_2", 8), _dense("output", 1, "sigmoid")],
                loss="binary_crossentropy", label_encoding="binary", learning_rate=1e-2, epochs=10),
        Program("blobs_mlp", "multiclass", "blobs",
                [_dense("dense_1", 32), _dense("dense_2", 32), _dense("output", 5, "softmax")],
                loss="sparse_categorical_crossentropy", epochs=8, optimizer="rmsprop"),
        Program("sequence_rnn", "binary", "sequences",
                [("SimpleRNN", {"units": 16, "activation": "tanh", "name": "rnn"}), _dense("output", 1, "sigmoid")],
                loss="binary_crossentropy", label_encoding="binary", input_shape=(12, 1),
                learning_rate=1e-2, epochs=8),
        Program("diabetes_reg", "regression", "diabetes",
                [_dense("dense_1", 32), _dense("dense_2", 16), _dense("output", 1, "linear")],
                loss="mse", target_scale="standardize", label_encoding="continuous", epochs=20, batch_size=16,
                learning_rate=3e-3),
        Program("friedman_reg", "regression", "friedman",
                [_dense("dense_1", 64), _dense("dense_2", 32), _dense("output", 1, "linear")],
                loss="mse", target_scale="standardize", label_encoding="continuous", epochs=10,
                optimizer="sgd", learning_rate=1e-2, optimizer_kwargs={"momentum": 0.9}),
    ]
    return {p.id: p for p in progs}


PROGRAMS: dict[str, Program] = _family()


def get_program(program_id: str) -> Program:
    """A fresh copy of the base program ``program_id``.

    Example:
        >>> get_program("digits_cnn").task
        'multiclass'
    """
    if program_id not in PROGRAMS:
        raise KeyError(f"Unknown program {program_id!r}; known: {sorted(PROGRAMS)}.")
    return PROGRAMS[program_id].copy()
