"""One candidate fix: what it changes, where, and which root cause it tests.

A `Fix` is data (a layer edit, an optimizer, a loss, a data transform, a
longer run or smaller batches) and applies itself to a copy of a model;
`deeplocalize.verify.fixes` makes them for a given model.

Example:
    >>> fix = Fix("hidden_relu", "activation", "h", "activation='relu' on 'h'", "Use ReLU.",
    ...           edit_layer={"h": {"activation": "relu"}})
    >>> fix.keeps_model, fix.objective
    (False, 'same')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deeplocalize.verify.clone import clone_compiled


@dataclass
class Fix:
    """One candidate fix: what it changes, where, and which root cause it tests.

    ``apply(model, x, y, fit_kwargs, seed=None)`` returns ``(new_model, x,
    y, fit_kwargs)``: a compiled copy with fresh weights (seeded when
    ``seed`` is given) and the data to train it on; nothing of the user's
    is modified. ``steps_factor`` is how many times longer a trial of it
    trains (training_config fixes).

    Example:
        >>> new_model, x2, y2, kw = fix.apply(model, x, y, {"epochs": 5})
        >>> fix.name, fix.root_cause, fix.layer
        ('output_activation', 'activation', 'out')
    """

    name: str
    root_cause: str
    layer: str
    change: str
    suggestion: str
    steps_factor: float = 1.0
    changes_targets: bool = False  # the labels or regression targets are transformed
    edit_layer: dict = field(default_factory=dict, repr=False)
    optimizer: object = field(default=None, repr=False)  # function old optimizer -> new
    loss: object = field(default=None, repr=False)
    data: object = field(default=None, repr=False)  # function (x, y, fit_kwargs) -> (x, y, fit_kwargs)
    lr_factor: float | None = None  # the optimizer change is only its learning rate times this
    batch_divisor: int = 1  # batches this many times smaller (steps_factor as many more steps)

    @property
    def keeps_model(self) -> bool:
        """True when the model's layers, loss and optimizer stay as they are (but
        for the learning rate): a trial reuses the compiled as-is copy."""
        return not self.edit_layer and self.loss is None and (self.optimizer is None or self.lr_factor is not None)

    @property
    def only_faster(self) -> bool:
        """True when the fix only lets a working model train faster (a larger
        learning rate, more steps, smaller batches): on a run with no symptom
        its win shows no fault.

        Example:
            >>> Fix("learning_rate_x10", "learning_rate", "optimizer", "lr x10", "", lr_factor=10.0).only_faster
            True
        """
        faster = (self.lr_factor or 1.0) > 1.0 or self.steps_factor > 1.0 or self.batch_divisor > 1
        return faster and self.keeps_model and not self.changes_targets

    @property
    def objective(self) -> str:
        """``"same"``: same loss on the same targets (losses compare as they are);
        ``"rescaled"``: same loss on transformed targets; ``"other"``: another
        loss, or more steps (a longer run's training loss is lower anyway)."""
        if self.loss is not None or self.steps_factor != 1.0:
            return "other"
        return "rescaled" if self.changes_targets else "same"

    def build(self, model, seed: int | None = None, steps_per_execution: int = 1):
        """A fresh compiled copy of ``model`` with this fix's model change."""
        optimizer = self.optimizer(model.optimizer) if self.optimizer else None
        return clone_compiled(model, edit_layer=self.edit_layer, optimizer=optimizer, loss=self.loss, seed=seed,
                              steps_per_execution=steps_per_execution)

    def transform(self, x, y, fit_kwargs=None):
        """The data and ``fit`` arguments this fix trains with (copies, not the originals)."""
        fit_kwargs = dict(fit_kwargs or {})
        return self.data(x, y, fit_kwargs) if self.data else (x, y, fit_kwargs)

    def apply(self, model, x, y, fit_kwargs=None, seed: int | None = None):
        x, y, fit_kwargs = self.transform(x, y, fit_kwargs)
        return self.build(model, seed), x, y, fit_kwargs
