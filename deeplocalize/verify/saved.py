"""Saving what verification needs, so it can run later: ``python -m deeplocalize verify DIR``.

Example:
    >>> save_inputs(cb, "run_verify")      # model.keras, sample.pkl, diagnosis.json
    >>> v = verify_saved("run_verify")      # later, in another process
"""

from __future__ import annotations

import json
from pathlib import Path


def save_inputs(cb, directory) -> Path:
    """Write the callback's model, data sample and diagnosis under ``directory``."""
    directory = Path(directory)
    sample = cb._capture.sample if getattr(cb, "_capture", None) is not None else None
    if sample is None or sample.n == 0:
        raise ValueError("nothing to save: the callback kept no data sample (train with verify='auto' or "
                         "'always', and a train step not compiled with XLA).")
    directory.mkdir(parents=True, exist_ok=True)
    cb.model.save(directory / "model.keras")
    sample.save(directory / "sample.pkl")
    (directory / "diagnosis.json").write_text(json.dumps(cb.diagnosis.to_dict(), indent=2))
    return directory


def verify_saved(directory, mode: str = "always", budget: float | None = None):
    """Load what `save_inputs` wrote and verify; returns the verified `Diagnosis`."""
    import keras

    from deeplocalize.findings import Diagnosis
    from deeplocalize.verify.sample import DataSample

    directory = Path(directory)
    missing = [n for n in ("model.keras", "sample.pkl") if not (directory / n).exists()]
    if missing:
        raise ValueError(f"{str(directory)!r} lacks {', '.join(missing)}; write it with "
                         "deeplocalize.verify.saved.save_inputs(cb, directory) after training.")
    model = keras.models.load_model(directory / "model.keras", compile=True)
    path = directory / "diagnosis.json"
    diagnosis = Diagnosis.load(path) if path.exists() else Diagnosis()
    diagnosis.verification = None
    diagnosis.verify(model=model, mode=mode, budget=budget, sample=DataSample.load(directory / "sample.pkl"))
    return diagnosis
