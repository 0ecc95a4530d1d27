"""Checks: pure functions from a `Trace` to `Finding`s, one symptom each.

- `numerical`: NaN/Inf in the loss, activations, gradients or weights.
- `trends`: symptoms that need a window of steps (exploding, vanishing, dead,
  saturated, not learning, oscillating, overfitting ...).
- `preflight`: what can be told from the compiled model and the first batch.
- `progress`: how the run ended, judged once at its end (still learning ...).
- `chance`: what a model that learned nothing scores (a run that starts far
  below it was trained before, and its plateau is not a failure to learn).
"""
