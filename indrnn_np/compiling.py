"""Knowing when Numba compiles, as opposed to loading a function from its on-disk cache.

Numba broadcasts events while it compiles: ``"numba:compile"`` when a dispatcher compiles a signature
it has neither in memory nor in its cache, and ``"numba:run_pass"`` for every pass of the compiler's
pipeline. A cache hit runs no pass and broadcasts neither. numba-cuda has its own copy of the event
system (``numba.cuda.core.event``, kinds ``"numba-cuda:..."``), and its CUDA kernel dispatcher
broadcasts only the pipeline's passes (numba-cuda 0.30), so both kinds are watched in both. The
training loop's compile line (:mod:`indrnn_np.train.progress`) and the gradient check's progress
lines listen for them.
"""

from __future__ import annotations

import importlib
import importlib.util

#: The event kinds that mean "compiling now", by event module.
COMPILE_EVENTS = {
    "numba.core.event": ("numba:compile", "numba:run_pass"),
    "numba.cuda.core.event": ("numba-cuda:compile", "numba-cuda:run_pass"),
}


class CompileWatch:
    """Calls ``on_compile()`` once, when Numba starts compiling something inside the ``with`` block.

    Parameters
    ----------
    on_compile : callable
        Called with no arguments, from the compiling thread, before the first compilation's work.
    cuda : bool
        Also watch numba-cuda's event system (CUDA kernels), when numba-cuda is installed.

    Attributes
    ----------
    compiled : bool
        Whether anything was compiled inside the block.
    """

    def __init__(self, on_compile, cuda: bool = False):
        self.on_compile, self.cuda = on_compile, cuda
        self.compiled = False
        self._installed = []

    def _event_modules(self):
        names = ["numba.core.event"]
        if self.cuda and importlib.util.find_spec("numba_cuda") is not None:
            names.append("numba.cuda.core.event")
        modules = []
        for name in names:
            try:
                module = importlib.import_module(name)
            except ImportError:  # numba.cuda is the simulator: it compiles nothing
                continue
            if all(module is not m for m, _ in modules):
                modules.append((module, COMPILE_EVENTS[name]))
        return modules

    def _started(self) -> None:
        if not self.compiled:
            self.compiled = True
            self.on_compile()

    def __enter__(self) -> CompileWatch:
        watch = self
        for events, kinds in self._event_modules():

            class Listener(events.Listener):
                def on_start(self, event):
                    watch._started()

                def on_end(self, event):
                    pass

            listener = Listener()
            for kind in kinds:
                events.register(kind, listener)
                self._installed.append((events, kind, listener))
        return self

    def __exit__(self, *exc) -> None:
        while self._installed:
            events, kind, listener = self._installed.pop()
            events.unregister(kind, listener)
