"""Progress of a training run, shown with tqdm (a widget when a notebook runs it).

The first step of a process compiles the Numba kernels (or loads them from
Numba's on-disk cache): it gets a line of its own and is kept out of the
bar's rate and ETA, which start from the second step.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """A tqdm bar over the steps of one run, created after its first step.

    Parameters
    ----------
    enabled : bool
        False: print nothing.
    first, last : int
        The steps this process runs (1-based, inclusive).
    metric : str
        Name of the task's test metric, shown beside the loss.
    log : callable
        Where the one-off lines go (the first step's time).
    """

    def __init__(self, enabled: bool, first: int, last: int, metric: str, log=print):
        self.enabled, self.first, self.last, self.metric, self.log = enabled, first, last, metric, log
        self.bar = None
        self.t0 = None

    def before_step(self, step: int) -> None:
        if self.enabled and step == self.first:
            self.log(
                f"step {step}: compiling the kernels (first run on a machine only; later runs load Numba's cache)"
            )
            self.t0 = time.perf_counter()

    def after_step(self, step: int, loss: float, metric: float | None, evaluated: bool) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.log(f"step {step} took {time.perf_counter() - self.t0:.2f} s")
            if step < self.last:
                self._open(step)
            return
        shown = "—" if metric is None else f"{metric:.5g}"
        if self.bar is False:  # a log file: one line per evaluation
            if evaluated:
                rate = (step - self.done) / max(time.perf_counter() - self.t1, 1e-9)
                self.log(
                    f"step {step}/{self.last}: train loss {loss:.5f}  {self.metric} {shown}  {rate:.1f} steps/s"
                )
            return
        self.bar.update(1)
        if evaluated:
            self.bar.set_postfix({"loss": f"{loss:.4g}", self.metric: shown}, refresh=False)

    def _open(self, done: int) -> None:
        """A tqdm bar on a terminal or in a notebook; plain lines in a log file."""
        self.done, self.t1 = done, time.perf_counter()
        if not (sys.stderr.isatty() or "ipykernel" in sys.modules):
            self.bar = False
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.last, initial=done, unit="step", dynamic_ncols=True, file=sys.stderr)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None
