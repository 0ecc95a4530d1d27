"""Mutation operators: inject one known fault into a healthy `Program`.

Each `Mutation` is tagged with the root cause it injects (the DESIGN.md
vocabulary) and, when applied, names what it touched: a layer name, or a
component (``"optimizer"``, ``"loss"``, ``"data"``, ``"training_config"``),
the same convention as `Finding.layer` and the benchmark's ground truth.

Example:
    >>> from deeplocalize.learn.programs import get_program
    >>> m = MUTATIONS["lr_high_1000"]
    >>> mutant, where = m.apply(get_program("iris_mlp"))
    >>> m.root_cause, where, mutant.learning_rate
    ('learning_rate', 'optimizer', 10.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from deeplocalize.learn.programs import Program
from deeplocalize.vocab import COMPONENT_OF  # a component stands in for the layer outside the layers




class NotApplicable(Exception):
    """The operator does not apply to this program (e.g. no hidden layer).

    Example:
        >>> MUTATIONS["target_unscaled"].apply(get_program("iris_mlp"))
        Traceback (most recent call last):
        NotApplicable: only for standardized regression targets
    """


@dataclass(frozen=True)
class Mutation:
    """A named fault injector.

    ``fn(prog)`` edits a copy of ``prog`` in place and returns what it touched
    (a layer name or component); it raises `NotApplicable` when it cannot apply.

    Example:
        >>> MUTATIONS["init_zeros_first"].root_cause
        'initialization'
    """

    name: str
    root_cause: str
    fn: Callable[[Program], str]

    def apply(self, prog: Program) -> tuple[Program, str]:
        """``(mutant, touched)``; the original ``prog`` is never modified.

        Example:
            >>> mutant, touched = MUTATIONS["loss_mse"].apply(get_program("iris_mlp"))
        """
        mutant = prog.copy()
        touched = self.fn(mutant)
        mutant.id = f"{prog.id}_{self.name}".replace("-", "_")
        return mutant, touched

    def applies_to(self, prog: Program) -> bool:
        """Whether `apply` would succeed on ``prog``.

        Example:
            >>> MUTATIONS["act_output_softmax"].applies_to(get_program("cancer_mlp"))
            True
        """
        try:
            self.apply(prog)
            return True
        except NotApplicable:
            return False


# ---- helpers ----------------------------------------------------------------------------
def _activated(prog: Program) -> list[int]:
    """Indices of layers that own an activation (the output layer included)."""
    out = []
    for i, (cls, kw) in enumerate(prog.layers):
        if cls == "Activation" or (cls in ("Dense", "Conv2D", "SimpleRNN") and "activation" in kw):
            out.append(i)
        elif cls in ("Dense", "Conv2D"):
            out.append(i)  # default linear activation; a following Activation layer is separate
    return out


def _output_act_index(prog: Program) -> int:
    """The layer that applies the output activation."""
    return len(prog.layers) - 1


def _hidden_act_indices(prog: Program) -> list[int]:
    """Hidden layers whose activation is non-linear (a swap would matter)."""
    out = []
    last = _output_act_index(prog)
    for i, (cls, kw) in enumerate(prog.layers):
        if i >= last:
            continue
        act = kw.get("activation")
        if cls == "Activation" or (act is not None and act != "linear"):
            out.append(i)
        elif cls == "SimpleRNN":
            out.append(i)  # SimpleRNN's default is tanh
    if prog.layers[last][0] == "Activation":  # dense_out before act_out is not hidden
        out = [i for i in out if i != last - 1]
    return out


def _weighted(prog: Program) -> list[int]:
    return [i for i, (cls, _) in enumerate(prog.layers) if cls in ("Dense", "Conv2D", "SimpleRNN")]


def _name(prog: Program, i: int) -> str:
    return prog.layers[i][1]["name"]


# ---- learning rate ------------------------------------------------------------------------
def _lr_times(factor: float):
    def fn(p: Program) -> str:
        p.learning_rate = float(p.learning_rate * factor)
        return "optimizer"
    return fn


# ---- activation -------------------------------------------------------------------------------
def _hidden_act(new: str, which: int):
    def fn(p: Program) -> str:
        idx = _hidden_act_indices(p)
        if len(idx) <= which:
            raise NotApplicable("not enough hidden activations")
        i = idx[which]
        if p.layers[i][1].get("activation", "tanh") == new:
            raise NotApplicable(f"already {new}")
        p.layers[i][1]["activation"] = new
        return _name(p, i)
    return fn


def _output_act(new: str):
    def fn(p: Program) -> str:
        i = _output_act_index(p)
        cls, kw = p.layers[i]
        if kw.get("activation", "linear") == new:
            raise NotApplicable(f"output already {new}")
        kw["activation"] = new
        return _name(p, i)
    return fn


# ---- loss ------------------------------------------------------------------------------------------
_LOSS_SWAPS = {
    "multiclass": ["mse", "binary_crossentropy", "hinge", "poisson"],
    "binary": ["mse", "categorical_crossentropy", "hinge", "poisson"],
    "regression": ["binary_crossentropy", "mean_squared_logarithmic_error", "categorical_crossentropy", "hinge"],
}


def _loss_to(new: str):
    def fn(p: Program) -> str:
        if new not in _LOSS_SWAPS[p.task] or p.loss == new:
            raise NotApplicable(f"{new} is not a fault for a {p.task} program")
        if p.task == "multiclass" and p.label_encoding == "sparse" and new != "sparse_categorical_crossentropy":
            p.label_encoding = "onehot"  # the labels follow the loss, so the run does not crash
        p.loss = new
        return "loss"
    return fn


# ---- initialization ------------------------------------------------------------------------------
def _init(spec, which: str):
    def fn(p: Program) -> str:
        idx = _weighted(p)
        if which == "first":
            targets = idx[:1]
        elif which == "output":
            targets = idx[-1:]
        elif which == "all":
            targets = idx
        else:
            raise ValueError(which)
        if which == "output" and len(idx) < 2:
            raise NotApplicable("single weighted layer")
        for i in targets:
            p.layers[i][1]["kernel_initializer"] = spec
            if p.layers[i][0] == "SimpleRNN":
                p.layers[i][1]["recurrent_initializer"] = spec
        return _name(p, targets[0])
    return fn


# ---- data and labels ----------------------------------------------------------------------------------
def _no_normalization(p: Program) -> str:
    if p.preprocess is None:
        raise NotApplicable("already raw")
    p.preprocess = None
    return "data"


def _data_scale(factor: float):
    def fn(p: Program) -> str:
        p.data_ops.append(("scale", factor))
        return "data"
    return fn


def _target_unscaled(p: Program) -> str:
    if p.task != "regression" or p.target_scale is None:
        raise NotApplicable("only for standardized regression targets")
    p.target_scale = None
    return "data"


def _label(op: str, arg=None, tasks=("multiclass", "binary", "regression")):
    def fn(p: Program) -> str:
        if p.task not in tasks:
            raise NotApplicable(f"{op} is not for {p.task}")
        p.label_ops.append((op, arg))
        return "data"
    return fn


# ---- optimizer -----------------------------------------------------------------------------------------
def _optimizer(name: str, lr=None, **kwargs):
    def fn(p: Program) -> str:
        if p.optimizer == name and not kwargs:
            raise NotApplicable(f"already {name}")
        p.optimizer = name
        p.optimizer_kwargs = dict(kwargs)
        if lr is not None:
            p.learning_rate = lr
        return "optimizer"
    return fn


def _sgd_same_lr(p: Program) -> str:
    if p.optimizer == "sgd":
        raise NotApplicable("already SGD")
    p.optimizer, p.optimizer_kwargs = "sgd", {}
    p.learning_rate = min(p.learning_rate, 1e-3) / 10  # what an Adam user's lr does under plain SGD, too small
    return "optimizer"


# ---- training configuration ------------------------------------------------------------------------------
def _epochs_one(p: Program) -> str:
    if p.epochs < 3:
        raise NotApplicable("already few epochs")
    p.epochs = 1
    return "training_config"


def _batch_full(p: Program) -> str:
    p.batch_size = 100000  # full batch: a handful of steps in all
    return "training_config"


def _few_steps(p: Program) -> str:
    p.batch_size = max(p.batch_size * 8, 256)
    p.epochs = max(1, p.epochs // 3)
    return "training_config"


# ---- architecture ---------------------------------------------------------------------------------------
def _remove_hidden_dense(p: Program) -> str:
    last = len(p.layers) - 1
    out_dense = last - 1 if p.layers[last][0] == "Activation" else last
    keep = [(c, kw) for i, (c, kw) in enumerate(p.layers)
            if i >= out_dense or c not in ("Dense", "Dropout", "Activation")]
    if len(keep) == len(p.layers):
        raise NotApplicable("no hidden Dense layer")
    p.layers = keep
    return p.layers[-1 if p.layers[-1][0] != "Activation" else -2][1]["name"]


def _units(factor=None, value=None):
    def fn(p: Program) -> str:
        idx = [i for i in _weighted(p) if i < len(p.layers) - 1 and p.layers[i][0] in ("Dense", "SimpleRNN")
               and not (p.layers[-1][0] == "Activation" and i == len(p.layers) - 2)]
        if not idx:
            raise NotApplicable("no hidden Dense/RNN layer")
        i = idx[-1]
        kw = p.layers[i][1]
        kw["units"] = int(value if value is not None else kw["units"] * factor)
        return kw["name"]
    return fn


def _all_mutations() -> dict[str, Mutation]:
    ms = [
        Mutation("lr_high_100", "learning_rate", _lr_times(100.0)),
        Mutation("lr_high_1000", "learning_rate", _lr_times(1000.0)),
        Mutation("lr_low_1e-3", "learning_rate", _lr_times(1e-3)),
        Mutation("lr_low_1e-5", "learning_rate", _lr_times(1e-5)),
        Mutation("act_hidden_softmax", "activation", _hidden_act("softmax", 0)),
        Mutation("act_hidden_sigmoid", "activation", _hidden_act("sigmoid", 0)),
        Mutation("act_hidden_linear", "activation", _hidden_act("linear", 0)),
        Mutation("act_hidden_exponential", "activation", _hidden_act("exponential", 0)),
        Mutation("act_hidden2_softmax", "activation", _hidden_act("softmax", 1)),
        Mutation("act_hidden2_linear", "activation", _hidden_act("linear", 1)),
        Mutation("act_output_softmax", "activation", _output_act("softmax")),
        Mutation("act_output_sigmoid", "activation", _output_act("sigmoid")),
        Mutation("act_output_linear", "activation", _output_act("linear")),
        Mutation("act_output_relu", "activation", _output_act("relu")),
        Mutation("act_output_tanh", "activation", _output_act("tanh")),
        Mutation("loss_mse", "loss_function", _loss_to("mse")),
        Mutation("loss_bce", "loss_function", _loss_to("binary_crossentropy")),
        Mutation("loss_cce", "loss_function", _loss_to("categorical_crossentropy")),
        Mutation("loss_hinge", "loss_function", _loss_to("hinge")),
        Mutation("loss_poisson", "loss_function", _loss_to("poisson")),
        Mutation("loss_msle", "loss_function", _loss_to("mean_squared_logarithmic_error")),
        Mutation("init_zeros_all", "initialization", _init("zeros", "all")),
        Mutation("init_constant_first", "initialization", _init(("constant", 0.5), "first")),
        Mutation("init_zeros_first", "initialization", _init("zeros", "first")),
        Mutation("init_huge_first", "initialization", _init(("normal", 20.0), "first")),
        Mutation("init_huge_output", "initialization", _init(("normal", 50.0), "output")),
        Mutation("init_constant_output", "initialization", _init(("constant", 1.0), "output")),
        Mutation("data_unnormalized", "data_preprocessing", _no_normalization),
        Mutation("data_scaled_1000", "data_preprocessing", _data_scale(1000.0)),
        Mutation("data_scaled_255", "data_preprocessing", _data_scale(255.0)),
        Mutation("target_unscaled", "data_preprocessing", _target_unscaled),
        Mutation("labels_noise_80", "labels", _label("noise", 0.8)),
        Mutation("labels_shuffled", "labels", _label("shuffle")),
        Mutation("labels_pm1", "labels", _label("pm1", tasks=("binary",))),
        Mutation("labels_offset", "labels", _label("offset", 1.0, tasks=("binary",))),
        Mutation("labels_scaled", "labels", _label("scale", 100.0, tasks=("regression",))),
        Mutation("opt_sgd_small", "optimizer", _sgd_same_lr),
        Mutation("opt_adadelta", "optimizer", _optimizer("adadelta", lr=1e-3)),
        Mutation("opt_momentum_0999", "optimizer", _optimizer("sgd", lr=0.05, momentum=0.999)),
        Mutation("opt_adam_eps_huge", "optimizer", _optimizer("adam", epsilon=10.0)),
        Mutation("opt_adagrad_small", "optimizer", _optimizer("adagrad", lr=1e-4)),
        Mutation("cfg_one_epoch", "training_config", _epochs_one),
        Mutation("cfg_full_batch", "training_config", _batch_full),
        Mutation("cfg_few_steps", "training_config", _few_steps),
        Mutation("arch_no_hidden", "architecture", _remove_hidden_dense),
        Mutation("arch_bottleneck_1", "architecture", _units(value=1)),
        Mutation("arch_bottleneck_2", "architecture", _units(value=2)),
        Mutation("arch_widen_16x", "architecture", _units(factor=16)),
    ]
    return {m.name: m for m in ms}


MUTATIONS: dict[str, Mutation] = _all_mutations()


def applicable(prog: Program) -> list[Mutation]:
    """The operators that apply to ``prog``, in a fixed order.

    Example:
        >>> [m.name for m in applicable(get_program("iris_mlp"))][:2]
        ['lr_high_100', 'lr_high_1000']
    """
    return [m for m in MUTATIONS.values() if m.applies_to(prog)]
