"""Explicit timers: where a training step spends its time, when someone asks.

The ops and the training loop mark their parts with :func:`section`::

    with section("gemm"):
        xw = x @ W

Outside a :class:`Timers` block a section costs one context-variable read
and records nothing. Inside one, every section adds its wall time to the
active timers, so a profiler (``python -m indrnn_np bench train``) reads the
parts of a real step without replacing any function or module attribute::

    timers = Timers()
    with timers:
        train_step(...)
    timers.seconds  # {"gemm": ..., "recurrence": ..., ...}

Sections may nest (the optimizer's time includes nothing else; the GEMMs
inside a layer are their own section, not the layer's); the parts the
project marks do not nest, so their times add up.
"""

from __future__ import annotations

import contextvars
import time
from collections import defaultdict

_ACTIVE: contextvars.ContextVar[Timers | None] = contextvars.ContextVar("indrnn_np_timers", default=None)


class Timers:
    """Accumulated seconds and call counts per part name while the block is active."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._tokens = []

    def __enter__(self) -> Timers:
        self._tokens.append(_ACTIVE.set(self))
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.reset(self._tokens.pop())

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


class _Section:
    __slots__ = ("name", "timers", "t0")

    def __init__(self, name: str, timers: Timers):
        self.name, self.timers = name, timers

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.timers.seconds[self.name] += time.perf_counter() - self.t0
        self.timers.calls[self.name] += 1


class _Nothing:
    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


_NOTHING = _Nothing()


def section(name: str):
    """A context manager that adds its wall time to ``name`` of the active :class:`Timers`, if any."""
    timers = _ACTIVE.get()
    return _NOTHING if timers is None else _Section(name, timers)
