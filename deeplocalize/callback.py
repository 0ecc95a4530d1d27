"""DeepLocalizeCallback: the one line a user adds to ``model.fit``."""

from __future__ import annotations

import functools
import sys
import time
import traceback
import warnings

import keras
import numpy as np

from deeplocalize.config import load_config
from deeplocalize.findings import Diagnosis, Finding
from deeplocalize.monitor import HALT_MODES, Monitor
from deeplocalize.probes import RING_ROWS
from deeplocalize.probes.choose import coverage_of, is_outside, take_over
from deeplocalize.trace import LAYER_STATS, Trace
DIAGNOSERS = ("rules", "learned", "both")
VERIFY_MODES = ("auto", "always", "never")


def _guarded(method):
    """Run a hook; an internal failure becomes one warning, never a crash."""

    @functools.wraps(method)
    def hook(self, *args, **kwargs):
        if self._disabled:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # the user's training must go on
            self._fail(exc)
            return None

    return hook


class DeepLocalizeCallback(keras.callbacks.Callback):
    """Watch every layer during training; say which one broke, why, and what to change.

    Args:
        halt: ``"error"`` (default) stops training cleanly at the first error
            (NaN/Inf, a model that cannot learn); ``"warning"`` also stops at
            warnings; ``"never"`` keeps training and only reports. With
            verification on, the stop waits until the data sample holds
            ``verify_halt_examples`` examples (at most the first epoch).
        config: overrides of the thresholds in ``defaults.yaml``: a dict or a
            YAML file path. Unknown keys and bad values raise ``ValueError``.
        verbose: 1 prints a summary at the end of training (and each new error
            when it is found); 0 is silent.
        report: optional path; the diagnosis is saved there at the end of
            training (``.json``, ``.md`` or ``.html``).
        diagnoser: who names the root cause and layer once the checks find a
            run buggy: ``"rules"`` (the decision table), ``"learned"`` (the
            classifier of `deeplocalize.learn`) or ``"both"`` (default: the
            classifier when it is confident and no NaN/Inf was seen, else the
            rules). Falls back to the rules, with one warning, if the
            classifier cannot be loaded.
        verify: ``"auto"`` (default) keeps a copy of the first batches and,
            when the run is buggy, tries candidate fixes on copies of the
            model at the end of training (`deeplocalize.verify`); a fix that
            works names the root cause, layer and suggestion, marked
            verified. ``"always"`` also tries them on a run the checks call
            healthy (reported buggy only when a fix wins by a wide margin).
            ``"never"`` keeps no data and tries nothing.

    Example:
        >>> cb = DeepLocalizeCallback()
        >>> model.fit(x, y, epochs=5, callbacks=[cb])
        >>> cb.diagnosis.status, cb.diagnosis.faulty_layer, cb.diagnosis.root_cause
        ('buggy', 'output', 'activation')
        >>> cb.diagnosis.save("report.html")
    """

    def __init__(self, halt="error", config=None, verbose=1, report=None, diagnoser="both", verify="auto"):
        super().__init__()
        if halt not in HALT_MODES:
            raise ValueError(f"halt must be one of {HALT_MODES}, got {halt!r}.")
        if diagnoser not in DIAGNOSERS:
            raise ValueError(f"diagnoser must be one of {DIAGNOSERS}, got {diagnoser!r}.")
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}.")
        if verbose not in (0, 1, 2, True, False):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}.")
        self.halt = halt
        self.config = load_config(config)
        self.verbose = int(verbose)
        self.report_path = report
        self.diagnoser = diagnoser
        self.verify = verify
        self._config_overrides = config if isinstance(config, dict) else None
        self._reset()

    # ---- state ---------------------------------------------------------------
    def _reset(self):
        self._disabled = False
        self._warned = False
        self._probes = None
        self._monitor = Monitor(self.config, halt=self.halt, on_error=self._print_error)
        self._perm = None
        self._epoch = 0
        self._diagnosis: Diagnosis | None = None
        self._seen = self._epoch_start = 0
        self._every_batch = False
        self._pending: dict[int, tuple] = {}
        self._read_every = 1
        self._capture = None
        self._verification = None
        self._fit_start = time.perf_counter()
        self._fit_seconds = None

    @property
    def trace(self) -> Trace:
        """Everything recorded so far (also during training)."""
        return self._monitor.trace

    @property
    def findings(self) -> list[Finding]:
        """Every symptom found so far, each once, with the step it started."""
        return self._monitor.findings

    @property
    def diagnosis(self) -> Diagnosis:
        """The current verdict; available mid-training and after it."""
        if self._diagnosis is None or self._monitor.dirty:
            from deeplocalize.diagnosis import diagnose

            try:
                self._diagnosis = diagnose(self.trace, self.findings, stopped_training=self._monitor.stopped,
                                           diagnoser=self.diagnoser)
            except Exception as exc:  # e.g. the learned model cannot be loaded
                if self.diagnoser == "rules":
                    raise
                warnings.warn(f"deeplocalize: the {self.diagnoser!r} diagnoser failed ({exc}); "
                              "falling back to the rules.", RuntimeWarning)
                self.diagnoser = "rules"
                self._diagnosis = diagnose(self.trace, self.findings, stopped_training=self._monitor.stopped)
            self._monitor.dirty = False
            self._attach_verification(self._diagnosis)
        return self._diagnosis

    @property
    def verified_fix(self):
        """The `deeplocalize.verify.Fix` that was proven, or None; ``apply`` it to the whole program."""
        v = self._verification
        return None if v is None or not v.verified else getattr(v, "fix_object", None)

    # ---- Keras hooks -----------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._reset()
        self._begin()

    @_guarded
    def _begin(self):
        from deeplocalize.model_facts import model_facts
        from deeplocalize.probes.choose import watcher_for

        model = self.model
        if getattr(model, "optimizer", None) is None:
            raise RuntimeError("the model is not compiled")
        self._probes = watcher_for(
            model,
            model_now=lambda: self._model,  # as it is (on JAX, without attaching the state Keras holds apart)
            saturation_eps=self.config["saturation_eps"],
            update_ratio=self.config["record_update_ratio"],
        )
        self._probes.set_sampling(*self._sampling())
        self._start_capture()
        # With several steps per execution, batch ends do not map to steps.
        self._every_batch = int(getattr(model, "steps_per_execution", 1) or 1) > 1
        self._read_every = max(1, min(self.config["check_every"], RING_ROWS // 2))
        meta = model_facts(model)
        meta["params"] = {k: v for k, v in (self.params or {}).items() if isinstance(v, (int, float, str))}
        meta["coverage"] = coverage_of(self._probes)
        self._monitor.fault_source = self._read_fault
        self._monitor.clear_fault = self._probes.clear_fault
        self._monitor.begin(self._probes.layer_infos(), meta)
        self._probes.install()
        self._start_capture(installed=True)  # watched from outside: after the observer swapped its step in
        self._monitor.check_model()

    def _sampling(self) -> tuple[int, int]:
        """(every, dense_steps): full statistics on the first ``dense_steps``
        steps, then on evenly spaced ones, about ``target_rows`` in all."""
        every, dense = self.config["probe_every"], self.config["dense_steps"]
        if every == 0:  # auto
            params = self.params or {}
            steps, epochs = params.get("steps"), params.get("epochs")
            total = steps * epochs if steps and epochs else None
            spread = max(1, self.config["target_rows"] - dense)  # rows left after the dense ones
            every = max(1, (total - dense) // spread) if total else 10
        return every, dense

    @_guarded
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._batch_in_epoch, self._epoch_start = int(epoch), 0, self._seen
        getattr(self._probes, "new_epoch", lambda: None)()  # the outside observer's

    @_guarded
    def on_train_batch_begin(self, batch, logs=None):
        getattr(self._probes, "begin_batch", lambda: None)()

    @_guarded
    def on_train_batch_end(self, batch, logs=None):
        if self._capture is not None and (self._capture.switch_off_when_full() or self._capture._on):
            self._maybe_halt()  # a halt waits for the sample (see _maybe_halt)
        probes = self._probes
        if probes.fell_back:
            probes = self._watch_from_outside(f"the instrumented step could not run: {_describe(probes.trace_error)}")
        step, self._seen = self._seen, self._seen + 1
        logs = logs or {}
        if is_outside(probes):  # Keras numbers the batches; with several steps per call, the last one
            step, self._seen = self._epoch_start + int(batch), self._epoch_start + int(batch) + 1
            probes.observe(step, int(batch), logs)
        loss = logs.get("loss")
        loss_bad = loss is not None and not np.isfinite(loss)
        if probes.is_sampled(step):
            self._pending[step] = (self._epoch, batch, _numbers(logs))
        # The graph holds recorded steps until they are read, so read them a
        # batch at a time: at the first one (pre-flight checks), once enough
        # are waiting for the trend checks, and at once when a step was
        # non-finite (the graph keeps the first such step's statistics and
        # says so; a NaN loss says so too).
        first = self._monitor.n_steps == 0 and self._pending
        fault = not self._monitor.nonfinite_seen and (loss_bad or probes.fault_kept())
        if not (first or fault or self._every_batch or len(self._pending) >= self._read_every):
            return
        self._drain(batch, logs)
        if fault or self._every_batch:
            self._monitor.check_fault()
        self._maybe_halt()

    def _watch_from_outside(self, reason: str):
        """Go on from outside the step after the instrumented one failed (one warning)."""
        warnings.warn(f"deeplocalize: {reason}. Training continues unaffected, watched from outside the step "
                      "from here on; please report it at the deeplocalize issue tracker.", RuntimeWarning, stacklevel=3)
        self._warned, self._probes = True, take_over(self._probes, reason, self._sampling(), first_step=self._seen + 1)
        self._start_capture(installed=True, keep=True)  # the batches kept so far, filled on from outside
        self._monitor.clear_fault = self._probes.clear_fault
        if self._monitor.recorder is not None:
            self._monitor.recorder.meta["coverage"] = coverage_of(self._probes)
        return self._probes

    def _drain(self, batch, logs):
        """Hand the monitor the recorded steps the graph holds that the trace
        lacks, then let it run the checks that are due."""
        pending, self._pending = self._pending, {}
        steps_seen = self._monitor.trace.column("step")
        last = steps_seen[-1] if steps_seen.size else -1
        for layer_row, columns in self._probes.read():
            if columns["step"] <= last:
                continue
            if self._perm is None:
                self._set_execution_order(self._probes)
            nonfinite = columns.pop("nonfinite", 0.0) > 0
            # A step recorded only because it was non-finite has no logs of
            # its own: the latest batch's stand in.
            known = pending.get(int(columns["step"]))
            epoch, at_batch, numbers = known if known else (self._epoch, batch, _numbers(logs))
            columns["epoch"], columns["batch"] = epoch, at_batch
            for key, value in numbers.items():
                columns["loss_running" if key == "loss" else key] = value
            self._monitor.record(layer_row[self._perm], columns, nonfinite=nonfinite)
        self._monitor.checks_due()

    def _read_fault(self):
        """The statistics the graph kept for the first NaN/Inf, in execution
        order, or None."""
        got = self._probes.read_fault()
        if got is None:
            return None
        layer_row, columns = got
        columns.pop("nonfinite", None)
        if self._perm is None:
            self._set_execution_order(self._probes)
        columns["epoch"] = self._epoch
        return layer_row[self._perm], columns

    @_guarded
    def on_epoch_end(self, epoch, logs=None):
        if self._capture is not None:  # later epochs show the same examples again
            self._capture.switch_off()
            self._maybe_halt()
        getattr(self._probes, "end_epoch", lambda: None)()  # the outside observer's (JAX: compiles ahead)
        if self._monitor.recorder is None:
            return
        self._drain(None, {})
        self._monitor.check_fault()
        self._monitor.end_epoch(_numbers(logs or {}))
        self._maybe_halt()

    def on_train_end(self, logs=None):
        self._fit_seconds = time.perf_counter() - self._fit_start
        self._end()
        if self._probes is not None:
            try:
                self._probes.uninstall()
            except Exception as exc:
                self._fail(exc)
        self._verify_at_end()
        if self.verbose:  # also when nothing was watched: then it says so
            self._print_summary()
        if self.report_path is not None:
            try:
                self.diagnosis.save(self.report_path, trace=self.trace)
            except Exception as exc:
                warnings.warn(f"deeplocalize could not write the report to {self.report_path!r}: {exc}")

    @_guarded
    def _end(self):
        if self._monitor.recorder is None:
            return
        self._drain(None, {})
        self._monitor.finish(steps_run=self._seen)

    # ---- verification: deeplocalize.verify.hook does the work ------------------------
    def _start_capture(self, installed=False, keep=False):
        from deeplocalize.verify import hook
        hook.start_capture(self, installed, keep)

    def _verify_at_end(self):
        from deeplocalize.verify import hook

        hook.verify_at_end(self)

    def _attach_verification(self, d):
        from deeplocalize.verify import hook

        hook.attach(self, d)

    def _print_error(self, finding: Finding):
        if self.verbose:
            _print_line(f"deeplocalize: {finding.message}")

    def _maybe_halt(self):
        if self._capture is not None and self._capture._on and \
                self._capture.sample.n < self.config["verify_halt_examples"]:
            return  # verification needs data: stop once the sample has enough (at most one epoch on)
        if self._monitor.should_halt():
            self.model.stop_training = True

    def _set_execution_order(self, probes):
        """Layers are reported in the order they ran in the forward pass."""
        order = list(probes.exec_order or [])
        rest = [i for i in range(len(probes.layers)) if i not in order]
        self._perm = np.array(order + rest, dtype=int)
        rec = self._monitor.recorder
        layers = [rec._layers[i] for i in self._perm]
        for new_index, info in enumerate(layers):
            info.index = new_index
        rec._layers[:] = layers
        rec.meta["never_called"] = [probes.layers[i].name for i in rest]

    # ---- failure and output ---------------------------------------------------------
    def _fail(self, exc: BaseException):
        """Stop watching, restore the model, warn once; training continues."""
        self._disabled = True
        if self._probes is not None:
            try:
                self._probes.uninstall()
            except Exception:
                pass
        if not self._warned:
            self._warned = True
            where = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            warnings.warn(
                "deeplocalize stopped watching this training run after an internal error; "
                f"training continues unaffected. Error: {where}. Please report it with your "
                "model summary at the deeplocalize issue tracker.",
                RuntimeWarning,
                stacklevel=2,
            )
        self._monitor.note_failure(exc)

    def _print_summary(self):
        try:
            from deeplocalize.report import console

            console.print_summary(self.diagnosis)
        except Exception:
            _print_line(self.diagnosis.summary())


def _describe(exc: BaseException | None) -> str:
    """``Type: message`` on one line, at most 400 characters (TensorFlow's errors span pages)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}{'...' if len(text) > 400 else ''}"


def _numbers(logs: dict) -> dict:
    return {k: float(v) for k, v in logs.items() if isinstance(v, (int, float, np.floating))}


def _print_line(text: str) -> None:
    print(text, file=sys.stdout, flush=True)


__all__ = ["DeepLocalizeCallback", "LAYER_STATS"]
