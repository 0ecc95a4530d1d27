"""JAX: compile the other kind of watched step ahead, in a background thread.

The watched JAX step comes in two kinds, recorded or not (see
`deeplocalize.probes.jax_step`); each is compiled once per batch shape.
Tracing one kind here and compiling it while the other kind's steps run
keeps a later step from stalling on its compilation.
"""

from __future__ import annotations


class CompileAhead:
    """Compiles, in one background thread, each kind of step (recorded or not)
    for each batch shape the other kind meets (``jit(...).lower(...).compile()``
    fills the cache the later call reads).

    Example:
        >>> ahead = CompileAhead()
        >>> ahead.ran(True, batch, lambda: step.lower(kept, spare, donated, batch, False))  # after a recorded step
        >>> ahead.wait(False)   # before a step not recorded (and at the epoch's end: ahead.wait())
    """

    def __init__(self):
        self.known: set = set()  # (record, batch shapes): run, or compiling
        self._pending: list = []  # (record, future)
        self._pool = None
        self._largest = 0  # the largest batch met (its leading dimension)

    @staticmethod
    def shape(data) -> tuple:
        """The shapes of a batch's arrays, the key each compiled step is known by."""
        import jax

        return tuple(getattr(x, "shape", None) for x in jax.tree_util.tree_leaves(data))

    def smaller(self, shape: tuple) -> bool:
        """Whether a batch of ``shape`` is smaller than one met before (an epoch's last)."""
        first = next(iter(shape), None)
        return bool(first) and first[0] is not None and first[0] < self._largest

    def ran(self, record: bool, data, lower_other=None) -> None:
        """A step of kind ``record`` ran on ``data``: unless the other kind is known for
        its shape, trace ``lower_other()`` here and compile it in the background. The
        recorded kind is not compiled ahead for a smaller batch (see `smaller`): a
        recorded step falling on one runs unrecorded, the next step recorded. Never
        raises: a step that fails here is compiled when first called, as without it."""
        shape = self.shape(data)
        if (record, shape) in self.known and (not record, shape) in self.known:
            return  # every step but the first few
        smaller = self.smaller(shape)
        self.known.add((record, shape))
        if shape and shape[0]:
            self._largest = max(self._largest, shape[0][0] or 0)
        if lower_other is None or (not record, shape) in self.known or (not record and smaller):
            return
        self.known.add((not record, shape))
        try:
            lowered = lower_other()
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deeplocalize-compile")
            self._pending.append((not record, self._pool.submit(lowered.compile)))
        except Exception:
            pass

    def wait(self, record: bool | None = None) -> None:
        """Until the compilations started of kind ``record`` (of both: None) have finished."""
        if not self._pending:
            return
        waiting = [(k, f) for k, f in self._pending if record is None or k == record]
        self._pending = [(k, f) for k, f in self._pending if not (record is None or k == record)]
        for _, future in waiting:
            try:
                future.result()
            except Exception:  # compiled again, and the error raised, where the step is called
                pass
        if not self._pending and self._pool is not None:  # no idle thread left behind per model
            self._pool.shutdown(wait=True)  # at once: nothing is pending
            self._pool = None
