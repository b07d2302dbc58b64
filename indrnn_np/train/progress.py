"""Progress of a training run, shown with tqdm (a widget when a notebook runs it).

The first step of a process compiles the Numba kernels or loads them from
Numba's on-disk cache: it is kept out of the bar's rate and ETA, which start
from the second step. When it compiles (a cache miss, not a load), a line
says so as the compilation starts (:class:`indrnn_np.compiling.CompileWatch`).
"""

from __future__ import annotations

import sys
import time

from ..compiling import CompileWatch

#: The first step's line when Numba starts compiling, by backend: the CPU kernels are kept in Numba's
#: on-disk cache (config.CPU_CACHE), the CUDA kernels are not.
COMPILE_LINES = {
    "cpu": "step {step}: compiling the kernels (first run on a machine only; later runs load Numba's cache)",
    "cuda": "step {step}: compiling the kernels (the CUDA kernels in every new process: not cached on disk)",
}

#: Said before the first step with backend cuda in Numba's CUDA simulator (measured on a busy 2-core machine).
SIMULATOR_LINE = (
    "step {step}: backend cuda runs in Numba's CUDA simulator, every GPU thread a Python thread: a step of "
    "--T 5 --batch 2 --hidden 4 took 8 s, and the default sizes' first step had not ended after 90 s"
)


def _in_simulator(backend) -> bool:
    from ..ops.backend import resolve

    return resolve(backend).in_simulator()


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
        Where the one-off lines go (the compile line, the first step's time).
    backend : str
        The run's backend: ``numpy`` compiles nothing and is not watched (Numba is not even imported).
    """

    def __init__(self, enabled: bool, first: int, last: int, metric: str, log=print, backend: str = "cpu"):
        self.enabled, self.first, self.last, self.metric, self.log = enabled, first, last, metric, log
        from ..ops.backend import resolve

        self.backend = resolve(backend)
        self.bar = None
        self.t0 = None
        self.watch = None

    def before_step(self, step: int) -> None:
        if self.enabled and step == self.first:
            if _in_simulator(self.backend):
                self.log(SIMULATOR_LINE.format(step=step))
            if self.backend.compiles:
                line = COMPILE_LINES[self.backend.name].format(step=step)
                self.watch = CompileWatch(lambda: self.log(line), cuda=self.backend.on_device).__enter__()
            self.t0 = time.perf_counter()

    def after_step(self, step: int, loss: float, metric: float | None, evaluated: bool) -> None:
        """One step done; at an evaluation (``evaluated``) show ``loss``, the train loss of its metrics
        row (the mean since the last row), and ``metric``, the test metric."""
        if not self.enabled:
            return
        self._unwatch()
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

    def _unwatch(self) -> None:
        if self.watch is not None:
            self.watch.__exit__(None, None, None)
            self.watch = None

    def close(self) -> None:
        self._unwatch()
        if self.bar:
            self.bar.close()
            self.bar = None
