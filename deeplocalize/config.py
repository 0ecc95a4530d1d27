"""Thresholds: documented defaults in ``defaults.yaml``, validated overrides.

Example:
    >>> cfg = load_config({"window": 30})
    >>> cfg["window"]
    30
    >>> load_config({"windw": 30})
    Traceback (most recent call last):
    ...
    ValueError: Unknown deeplocalize config key 'windw'. Did you mean 'window'? ...
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

import yaml

__version__ = "0.1.0"  # the package version (setup.cfg says the same)
DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")
# libyaml's parser where PyYAML was built with it: the same safe loader, 8x faster on defaults.yaml
# (13 ms of pure Python at every new process's first callback, beside a 1-2 s first fit)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def schema() -> dict:
    """Every key of defaults.yaml: ``{key: {"value", "range", "why"}}``."""
    with open(DEFAULTS_PATH) as f:
        return yaml.load(f, Loader=_SAFE_LOADER)


def defaults() -> dict:
    """The default value of every key."""
    return {key: entry["value"] for key, entry in schema().items()}


def load_config(overrides=None) -> dict:
    """Defaults merged with ``overrides`` (a dict, a YAML file path, or None).

    Raises ValueError naming the key and its allowed range for an unknown key
    or a value of the wrong type or out of range.
    """
    if overrides is None:
        return defaults()
    if isinstance(overrides, (str, Path)):
        path = Path(overrides)
        if not path.exists():
            raise ValueError(f"deeplocalize config file {str(path)!r} does not exist.")
        with open(path) as f:
            overrides = yaml.safe_load(f) or {}
        if not isinstance(overrides, dict):
            raise ValueError(f"{path} must hold a mapping of key: value, e.g. 'window: 30'.")
    if not isinstance(overrides, dict):
        raise TypeError(
            f"config must be a dict, a YAML file path or None, not {type(overrides).__name__}."
        )
    cfg = defaults()
    known = schema()
    for key, value in overrides.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown deeplocalize config key {key!r}.{hint} "
                f"Known keys are listed in {DEFAULTS_PATH.name}: {', '.join(sorted(known))}."
            )
        cfg[key] = _validate(key, value, known[key])
    return cfg


def _validate(key, value, entry):
    default, allowed = entry["value"], entry["range"]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"deeplocalize config {key!r} must be true or false, got {value!r}.")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"deeplocalize config {key!r} must be a number in [{allowed[0]}, {allowed[1]}], got {value!r}."
            )
        if isinstance(default, int) and not isinstance(default, bool) and float(value) != int(value):
            raise ValueError(f"deeplocalize config {key!r} must be a whole number, got {value!r}.")
        lo, hi = allowed
        if not lo <= value <= hi:
            raise ValueError(
                f"deeplocalize config {key!r}={value!r} is out of range; allowed: [{lo}, {hi}]. "
                f"({entry['why']})"
            )
        return type(default)(value) if isinstance(default, int) else float(value)
    if isinstance(default, str):
        if value not in allowed:
            raise ValueError(f"deeplocalize config {key!r} must be one of {allowed}, got {value!r}.")
        return value
    return value
