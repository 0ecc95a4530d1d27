"""The recorded statistics of a training run: plain numpy, no Keras objects.

A `Trace` is what the probes write and what every check, the diagnosis, the
report and the learned diagnoser read. It can be saved to one `.npz` file and
loaded on a machine without TensorFlow.

Layout
------
- ``layers``: one `LayerInfo` per probed layer, in forward execution order.
- ``layer_stats``: float array ``(n_steps, n_layers, len(LAYER_STATS))``.
  A statistic that does not apply to a layer (the weight norm of a Dropout
  layer, the saturation of a ReLU) is NaN; the ``*_nan``/``*_inf`` counts of a
  layer without that tensor are 0.
- ``steps``: a dict of per-step columns (``step``, ``epoch``, ``batch``,
  ``loss``, ``lr``, the logged metrics, and input/target statistics named
  ``x{i}_min``, ``y{i}_max`` ...), each a float array of length ``n_steps``.
- ``epochs``: a list of the epoch-end logs (with ``val_*`` keys when
  validation data is given).
- ``meta``: facts about the compiled model (loss, optimizer, learning rate,
  input and output shapes) used by the pre-flight checks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

LAYER_STATS = (
    # forward values: the layer's output on the training batch
    "act_min",
    "act_max",
    "act_mean",
    "act_mean_abs",
    "act_nan",
    "act_inf",
    "act_zero_frac",  # share of exactly-zero elements
    "act_dead_frac",  # share of units that are zero for the whole batch
    "act_sat_frac",  # share saturated (sigmoid/tanh/softmax; NaN for others)
    # backward values: gradient of the loss w.r.t. the layer's output (for a
    # sigmoid/softmax output whose cross-entropy Keras takes from its logits:
    # w.r.t. those logits, the only gradient there is)
    "grad_norm",
    "grad_nan",
    "grad_inf",
    # weights as the step found them (before its update), and their gradients
    "w_norm",
    "w_nan",
    "w_inf",
    "gw_norm",
    "gw_nan",
    "gw_inf",
    "update_ratio",  # |w_after - w_before| / |w_before|
)
STAT_INDEX = {name: i for i, name in enumerate(LAYER_STATS)}


@dataclass
class LayerInfo:
    """Static facts about one probed layer.

    Example:
        >>> LayerInfo(name="dense", class_name="Dense", index=0, activation="relu")
        LayerInfo(name='dense', class_name='Dense', index=0, activation='relu', ...)
    """

    name: str
    class_name: str
    index: int
    activation: str | None = None
    output_shape: list | None = None
    n_params: int = 0
    trainable: bool = True
    kernel_initializer: str | None = None
    is_output: bool = False

    def __repr__(self) -> str:  # short, so tracebacks stay readable
        return (
            f"LayerInfo(name={self.name!r}, class_name={self.class_name!r}, "
            f"index={self.index}, activation={self.activation!r}, ...)"
        )


@dataclass
class Trace:
    """Per-step, per-layer statistics of one training run.

    Example:
        >>> cb = DeepLocalizeCallback()
        >>> model.fit(x, y, callbacks=[cb])
        >>> cb.trace.to_frame().query("layer == 'dense_1'")[["step", "grad_norm"]]
        >>> cb.trace.save("run.npz"); Trace.load("run.npz").n_steps
    """

    layers: list[LayerInfo] = field(default_factory=list)
    layer_stats: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 0, len(LAYER_STATS)))
    )
    steps: dict[str, np.ndarray] = field(default_factory=dict)
    epochs: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    # ---- shape -----------------------------------------------------------
    @property
    def n_steps(self) -> int:
        """Number of recorded training steps."""
        return int(self.layer_stats.shape[0])

    @property
    def layer_names(self) -> list[str]:
        """Layer names in forward execution order."""
        return [layer.name for layer in self.layers]

    def layer_index(self, name: str) -> int:
        """Position of layer ``name`` in `layers`; a clear error if absent."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(
            f"No layer named {name!r} in this trace; layers are {self.layer_names}."
        )

    def row_of(self, step: int) -> int:
        """The trace row recorded at or just before global training ``step``."""
        steps = self.column("step")
        if self.n_steps == 0:
            raise IndexError("The trace is empty.")
        if np.all(np.isnan(steps)):
            return int(min(max(step, 0), self.n_steps - 1))
        return int(max(np.searchsorted(steps, step, side="right") - 1, 0))

    def stat(self, name: str) -> np.ndarray:
        """One statistic for every step and layer, shape ``(n_steps, n_layers)``.

        Example:
            >>> trace.stat("act_dead_frac")[:, trace.layer_index("dense")]
        """
        if name not in STAT_INDEX:
            raise KeyError(f"Unknown layer statistic {name!r}; choose from {LAYER_STATS}.")
        return self.layer_stats[:, :, STAT_INDEX[name]]

    def column(self, name: str, default: float = np.nan) -> np.ndarray:
        """A per-step column (``loss``, ``accuracy`` ...), NaN-filled if never logged."""
        if name in self.steps:
            return np.asarray(self.steps[name], dtype=float)
        return np.full(self.n_steps, default, dtype=float)

    def epoch_column(self, name: str) -> np.ndarray:
        """One key of the epoch-end logs (e.g. ``val_loss``), NaN where missing."""
        return np.array([float(e.get(name, np.nan)) for e in self.epochs], dtype=float)

    # ---- views -----------------------------------------------------------
    def to_frame(self):
        """A tidy DataFrame: one row per (step, layer), one column per statistic.

        Per-step columns (``epoch``, ``batch``, ``loss`` ...) are repeated on each
        layer's row so that the frame can be filtered and grouped directly.
        """
        import pandas as pd

        n_steps, n_layers = self.layer_stats.shape[:2]
        flat = self.layer_stats.reshape(n_steps * n_layers, len(LAYER_STATS))
        frame = pd.DataFrame(flat, columns=list(LAYER_STATS))
        frame.insert(0, "layer", np.tile(self.layer_names, n_steps) if n_layers else [])
        frame.insert(1, "layer_index", np.tile(np.arange(n_layers), n_steps))
        for key in reversed(["step", "epoch", "batch", "loss"]):
            if key in self.steps:
                frame.insert(0, key, np.repeat(self.column(key), n_layers))
        return frame

    def steps_frame(self):
        """A DataFrame with one row per step and every per-step column."""
        import pandas as pd

        return pd.DataFrame({k: np.asarray(v) for k, v in self.steps.items()})

    def head(self, n_steps: int) -> "Trace":
        """The first ``n_steps`` steps of this trace, as a new Trace.

        Used to replay a run step by step and to test checks on prefixes.
        """
        n_steps = max(0, min(int(n_steps), self.n_steps))
        if n_steps >= self.n_steps:
            epochs = list(self.epochs)
        else:  # only the epochs that had ended before step n_steps
            epochs = list(self.epochs[: int(self.column("epoch")[n_steps])]) if n_steps else []
        return Trace(
            layers=list(self.layers),
            layer_stats=self.layer_stats[:n_steps],
            steps={k: np.asarray(v)[:n_steps] for k, v in self.steps.items()},
            epochs=epochs,
            meta=dict(self.meta),
        )

    # ---- persistence -----------------------------------------------------
    def save(self, path) -> None:
        """Write the trace to one compressed ``.npz`` file."""
        path = str(path)
        if not path.endswith(".npz"):
            raise ValueError(f"A trace is saved as .npz; got {path!r}. Use e.g. 'run.npz'.")
        header = {
            "format": "deeplocalize-trace/1",
            "layer_stats_names": list(LAYER_STATS),
            "layers": [asdict(layer) for layer in self.layers],
            "epochs": self.epochs,
            "meta": self.meta,
            "step_columns": list(self.steps),
        }
        arrays = {f"step__{k}": np.asarray(v, dtype=float) for k, v in self.steps.items()}
        np.savez_compressed(
            path,
            header=np.array(json.dumps(header, default=_json_default)),
            layer_stats=self.layer_stats.astype(np.float32),
            **arrays,
        )

    @classmethod
    def load(cls, path) -> "Trace":
        """Read a trace written by `save`.

        Example:
            >>> trace = Trace.load("run.npz")
        """
        with np.load(str(path), allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != "deeplocalize-trace/1":
                raise ValueError(f"{path} is not a deeplocalize trace file.")
            names = header["layer_stats_names"]
            stats = data["layer_stats"].astype(float)
            if list(names) != list(LAYER_STATS):  # older/newer file: map by name
                mapped = np.full(stats.shape[:2] + (len(LAYER_STATS),), np.nan)
                for j, name in enumerate(names):
                    if name in STAT_INDEX:
                        mapped[:, :, STAT_INDEX[name]] = stats[:, :, j]
                stats = mapped
            steps = {k: data[f"step__{k}"] for k in header["step_columns"]}
        return cls(
            layers=[LayerInfo(**layer) for layer in header["layers"]],
            layer_stats=stats,
            steps=steps,
            epochs=header["epochs"],
            meta=header["meta"],
        )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


class TraceRecorder:
    """Grows a `Trace` one step at a time with amortised O(1) appends.

    Example:
        >>> rec = TraceRecorder(layers, step_columns=["step", "loss"])
        >>> rec.append(layer_row, {"step": 0, "loss": 2.3})
        >>> rec.trace.n_steps
        1
    """

    def __init__(self, layers: list[LayerInfo], meta: dict | None = None):
        self._layers = layers
        self._n = 0
        self._cap = 256
        self._stats = np.full((self._cap, len(layers), len(LAYER_STATS)), np.nan)
        self._cols: dict[str, np.ndarray] = {}
        self.epochs: list[dict] = []
        self.meta = dict(meta or {})

    def append(self, layer_row: np.ndarray, columns: dict[str, float]) -> None:
        if self._n == self._cap:
            self._grow()
        self._stats[self._n] = layer_row
        for key, value in columns.items():
            col = self._cols.get(key)
            if col is None:
                col = self._cols[key] = np.full(self._cap, np.nan)
            col[self._n] = value
        self._n += 1

    def _grow(self) -> None:
        self._cap *= 2
        stats = np.full((self._cap,) + self._stats.shape[1:], np.nan)
        stats[: self._n] = self._stats[: self._n]
        self._stats = stats
        for key, col in self._cols.items():
            bigger = np.full(self._cap, np.nan)
            bigger[: self._n] = col[: self._n]
            self._cols[key] = bigger

    @property
    def n_steps(self) -> int:
        return self._n

    @property
    def trace(self) -> Trace:
        """A snapshot view of what was recorded so far (no copy of the arrays)."""
        return Trace(
            layers=self._layers,
            layer_stats=self._stats[: self._n],
            steps={k: v[: self._n] for k, v in self._cols.items()},
            epochs=self.epochs,
            meta=self.meta,
        )
