"""Where a cell's time goes: named phases, each timed exclusively of the phases inside it.

``run_cell`` opens a ``Clock`` for the cell (``measuring``); the code it calls marks its phases
with ``phase(name)``, which costs nothing when no clock is open. A phase nested in another is
subtracted from the outer one, so the phases add up to the time they cover. The cell stores the
seconds per phase (timings ``phase_<name>_s``) and the candidate page shows their shares.
A clock reads ``time.perf_counter`` unless it is given another source of seconds (``now``).

Phases (``PHASES``): ``train`` (optimiser steps: forward, loss, backward, update, and reading
the batch), ``augment`` (per-example augmentation work and pre-rendering), ``validate``
(per-epoch early-stopping checks and each trial's rescaled validation score), ``predict``
(the outer test fold), ``frontends`` (computing or opening cached front-end outputs and
waveforms), ``setup`` (building networks and optimisers, copying best weights), ``tuning``
(Optuna's own bookkeeping), ``fit`` (scikit-learn fits) and ``other`` (the rest of the cell).
The store adds ``store`` (writing the predictions and trials) when it writes the cell
(``merbench.results.store.write_result``).

Beside the phases, a clock keeps tallies (``tally(name)``): the wall seconds of blocks that lie
inside phases, counted again under their own name and left out of the total. The torch loop
tallies each fit's first epoch (``first_epoch``), so that the cost plan can tell what a fit
costs once (its first batches: kernels chosen, memory allocated) from what every epoch costs
(``merbench.pipeline.estimate``). A cell stores them as timings ``tally_<name>_s``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

PHASES: tuple[str, ...] = (
    "train",
    "augment",
    "validate",
    "predict",
    "frontends",
    "setup",
    "tuning",
    "fit",
    "store",
    "other",
)
"""Every phase a cell's time is split into, in the order pages show them."""

_CLOCK: ContextVar[Clock | None] = ContextVar("merbench_clock", default=None)


class Clock:
    """Seconds per phase, exclusive of nested phases, read from ``now``."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.tallies: defaultdict[str, float] = defaultdict(float)
        """Wall seconds of tallied blocks, by name (also counted in their phases)."""
        self._now = now
        self._inner: list[float] = []  # per open phase, the seconds of the phases inside it

    def now(self) -> float:
        """The clock's current reading, in seconds."""
        return self._now()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count the block's seconds to ``name``, less those of phases opened inside it."""
        started = self._now()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = self._now() - started
            self.seconds[name] += elapsed - self._inner.pop()
            if self._inner:
                self._inner[-1] += elapsed


def phase(name: str) -> AbstractContextManager[None]:
    """Count the block to phase ``name`` of the open clock (nothing when none is open)."""
    clock = _CLOCK.get()
    return nullcontext() if clock is None else clock.phase(name)


@contextmanager
def tally(name: str) -> Iterator[None]:
    """Add the block's wall seconds to the open clock's tally ``name`` (none open: nothing)."""
    clock = _CLOCK.get()
    if clock is None:
        yield
        return
    started = clock.now()
    try:
        yield
    finally:
        clock.tallies[name] += clock.now() - started


@contextmanager
def measuring(now: Callable[[], float] = time.perf_counter) -> Iterator[Clock]:
    """Open a clock for the block: its phases and, as ``other``, the time outside them.

    Args:
        now: the clock's source of seconds (a fake one in tests).
    """
    clock = Clock(now)
    token = _CLOCK.set(clock)
    try:
        with clock.phase("other"):
            yield clock
    finally:
        _CLOCK.reset(token)
        # The outermost phase's wall time: the exclusive phases add up to it.
        clock.seconds["total"] = sum(clock.seconds.values())


def shares(phases: dict[str, float]) -> dict[str, float]:
    """Each phase's share of the sum of all phases (``total`` left out)."""
    parts = {k: v for k, v in phases.items() if k != "total"}
    whole = sum(parts.values())
    return {k: (v / whole if whole > 0 else 0.0) for k, v in parts.items()}
