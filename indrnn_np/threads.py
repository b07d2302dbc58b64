"""How BLAS and Numba share the cores: safe by default, tuned by measurement while training.

A training step alternates GEMMs (OpenBLAS, its own worker threads) and the
Numba recurrence kernels (Numba's OpenMP pool). Two things decide its speed
on a small machine, and neither has one right answer:

* **Idle pools spin.** After each call both pools keep their threads spinning
  for a while, and on 2 cores a spinning thread of one pool takes a core
  from the other's next call. So, by default (:func:`before_numba_kernel`):

  - OpenMP (libgomp) is told to wait passively (``OMP_WAIT_POLICY=PASSIVE``,
    set just before Numba starts its pool, unless the variable is set already
    or an OpenMP runtime is loaded already);
  - OpenBLAS's idle workers are released before each parallel Numba kernel
    (``blas_thread_shutdown_``, exported by OpenBLAS, which it calls itself
    at ``fork``; the next GEMM starts them again, about 0.1 ms). Releasing
    them while another thread is inside a BLAS call hangs that call, so it
    is done **only while no other Python thread exists** (tqdm's monitor,
    which never calls BLAS, aside): :func:`release_is_safe`. With other
    threads about (a threaded server, Dask's threaded scheduler, a notebook
    kernel, several training threads), the workers are left alone, and any
    number of threads may call the ops, a model or a training step at once
    (tested with 2 and 4 threads). Numba's own pool must be thread-safe for
    that too: OpenMP (``omp``, the Linux wheels' layer) and TBB are, the
    ``workqueue`` fallback is not, and there the kernel calls go one at a
    time (:class:`PolicyKernels`).

* **Another program on the machine.** With one busy process on the other
  core, every multi-threaded call waits for its thread on the busy core: the
  adding step at T = 100 went from 7.7 ms (one thread everywhere) to 26 ms
  (all cores) when measured, and on a quiet machine one BLAS thread is the
  slowest setting at T = 1000. No fixed setting is right for both, so the
  training loop times its steps and chooses: :class:`ThreadTuner` tries each
  :data:`SETTINGS` entry for a few steps, keeps the fastest, and tries them
  again when the step time drifts or after a while. It sets the counts per
  call through threadpoolctl (BLAS, process-wide) and
  ``numba.set_num_threads`` (Numba, per calling thread).

Nothing happens at import. ``INDRNN_THREAD_POLICY=0`` (``config.CPU_THREAD_POLICY``)
turns off the wait policy and the release; ``INDRNN_THREAD_TUNING=0``
(``config.CPU_THREAD_TUNING``) keeps the training loop on the library defaults.
"""

from __future__ import annotations

import collections
import os
import statistics
import threading
import time
from typing import NamedTuple

from . import config

_STATE = {"openmp": None, "blas_release": None, "blas": [], "looked_up": False, "layer_safe": False}
_LOOKUP_LOCK = threading.Lock()
_KERNEL_LOCK = threading.Lock()


def _openmp_loaded() -> bool:
    from threadpoolctl import threadpool_info

    return any(lib.get("user_api") == "openmp" for lib in threadpool_info())


def _lookup() -> None:
    """Once per process: decide the OpenMP wait policy, find the BLAS libraries and OpenBLAS's release."""
    with _LOOKUP_LOCK:
        if _STATE["looked_up"]:
            return
        if "OMP_WAIT_POLICY" in os.environ:
            _STATE["openmp"] = f"left as set: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
        elif _openmp_loaded():
            _STATE["openmp"] = "not applied: an OpenMP runtime was loaded before the first Numba kernel"
        else:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            _STATE["openmp"] = "passive"
        from threadpoolctl import ThreadpoolController

        blas = ThreadpoolController().select(user_api="blas").lib_controllers
        _STATE["blas"] = blas
        for lib in blas:
            fn = (
                getattr(lib.dynlib, "blas_thread_shutdown_", None) if lib.internal_api == "openblas" else None
            )
            if fn is not None:
                _STATE["blas_release"] = (lib, fn)
                break
        _STATE["looked_up"] = True


def _harmless(thread: threading.Thread) -> bool:
    """Threads known never to call BLAS: tqdm's monitor (it only reads progress bars)."""
    return type(thread).__name__ == "TMonitor" and type(thread).__module__.startswith("tqdm")


def release_is_safe() -> bool:
    """True when no other Python thread exists that could be inside a BLAS call.

    OpenBLAS's ``blas_thread_shutdown_`` tears down the worker pool that a
    GEMM in another thread may be using, and that GEMM then waits forever.
    With a single Python thread (tqdm's monitor aside) no other Python code
    runs, so no BLAS call from Python can be in flight. BLAS calls from
    native threads that Python does not know of are not seen.
    """
    if threading.active_count() == 1:
        return True
    me = threading.current_thread()
    return all(t is me or _harmless(t) for t in threading.enumerate())


def before_numba_kernel() -> None:
    """Apply the policy before a parallel Numba CPU kernel (cheap after the first call)."""
    if not config.CPU_THREAD_POLICY:
        return
    if not _STATE["looked_up"]:
        _lookup()
    release = _STATE["blas_release"]
    if release is not None and release[0].num_threads > 1 and release_is_safe():
        release[1]()


def _note_layer() -> None:
    """Once Numba has started its pool: is its threading layer safe to enter from several threads?"""
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return
    _STATE["layer_safe"] = layer in ("tbb", "omp")


def kernels_threadsafe() -> bool:
    """True once Numba's threading layer is known to be thread-safe (``tbb`` or ``omp``), or when the
    kernels are not parallel (``INDRNN_CPU_PARALLEL=0``)."""
    return _STATE["layer_safe"] or not config.CPU_PARALLEL


class PolicyKernels:
    """A kernel module whose functions apply the policy at each call, not when the module is fetched.

    Every call first runs :func:`before_numba_kernel` (OpenBLAS's idle workers released), so a GEMM
    between fetching the module and calling a kernel cannot leave BLAS threads spinning through the
    kernel: the forward op fetches the kernels, runs its input GEMM, then the recurrence, and with the
    release done at the fetch the recurrence ran beside OpenBLAS's spinning workers (measured
    2026-12-07, adding network at T = 1000, batch 50, 2 cores: the forward recurrence 5.1 ms within
    the training step against 3.0 ms with the release at the call).

    While Numba's threading layer is not known to be thread-safe, the calls also run one at a time,
    process-wide: Numba's ``workqueue`` layer (what Numba falls back to without OpenMP or TBB, as on
    some macOS installs) ends the whole process when two threads launch parallel kernels at once.
    Until the first kernel has shown which layer Numba chose, and for good where it chose
    ``workqueue``, the calls take a lock (:func:`kernels_threadsafe`).

    Attributes that are not functions (constants) pass through unchanged.
    """

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        fn = getattr(self._module, name)  # looked up at each access: a patched module is seen
        if not callable(fn):
            return fn

        def call(*args, **kw):
            before_numba_kernel()
            if kernels_threadsafe():
                return fn(*args, **kw)
            with _KERNEL_LOCK:
                out = fn(*args, **kw)
                _note_layer()
            return out

        call.__wrapped__ = fn
        return call


def policy() -> dict:
    """What the policy did: ``{"enabled", "openmp", "blas_release"}`` (for benchmarks and tests)."""
    return {
        "enabled": config.CPU_THREAD_POLICY,
        "openmp": _STATE["openmp"],
        "blas_release": None if _STATE["blas_release"] is None else _STATE["blas_release"][0].filepath,
    }


# --------------------------------------------------------------------------
# Thread counts chosen by measurement
# --------------------------------------------------------------------------


class Setting(NamedTuple):
    """Thread counts for BLAS and Numba (``None``: the count the process started with)."""

    name: str
    blas: int | None
    numba: int | None


#: The settings a :class:`ThreadTuner` tries: every core for both pools (the OpenBLAS release as
#: :func:`before_numba_kernel` allows), one BLAS thread beside all of Numba's, one thread for both.
SETTINGS = (Setting("all", None, None), Setting("blas1", 1, None), Setting("serial", 1, 1))


def current_counts() -> tuple[int, int]:
    """(BLAS threads, Numba threads of the calling thread) as they are now."""
    _lookup()
    import numba

    blas = max((lib.num_threads for lib in _STATE["blas"]), default=1)
    return blas, numba.get_num_threads()


def apply_counts(blas: int, numba_threads: int) -> None:
    """Set BLAS's thread count (every BLAS library loaded; process-wide) and Numba's (this thread's)."""
    _lookup()
    import numba

    for lib in _STATE["blas"]:
        if lib.num_threads != blas:
            lib.set_num_threads(blas)
    if numba.get_num_threads() != numba_threads:
        numba.set_num_threads(numba_threads)


class ThreadTuner:
    """Choose the thread setting of repeated steps (a training loop's) from their measured times.

    Use it around each step::

        tuner = ThreadTuner()
        try:
            for _ in range(steps):
                with tuner.step():
                    train_step(...)
        finally:
            tuner.close()  # the thread counts the process had

    The first ``warmup`` steps (kernel compilation) run with the starting
    counts and are not timed. Then each of ``settings`` runs
    ``probe_steps`` steps, ``rounds`` times in turn (the setting in use
    first), and the setting with the lowest median step time is kept; a
    setting whose step takes ``abandon`` times the best median so far gives
    up the rest of its turn, so that a slow setting costs one step a round
    (in a 60-step process at T = 1000 on a quiet machine, the initial probe
    with its slower settings had made the median step 14 % slower than
    without tuning). The settings are tried again when the
    median of the last ``window`` steps moves by more than a factor ``drift``
    from the probed median (another program started or stopped), and after
    ``revisit_s`` seconds; each revisit that keeps the same setting doubles
    that interval, up to ``max_revisit_s``.

    Parameters
    ----------
    settings : sequence of Setting
        The candidates; ``None`` counts mean the process's starting count.
        Settings that come out the same on this machine are tried once.
    probe_steps, rounds, warmup, window : int
    drift, abandon : float
        Greater than 1.
    revisit_s, max_revisit_s : float
        Seconds.
    clock : callable
        Seconds, monotonic (tests pass their own).
    enabled : bool, optional
        False: every step runs with the starting counts (``config.CPU_THREAD_TUNING`` by default).

    Notes
    -----
    BLAS's count is process-wide: while a tuner runs, BLAS calls of other
    threads run with its setting too (their results do not change, only
    their speed). :meth:`close` puts the starting counts back.
    """

    def __init__(
        self,
        settings=SETTINGS,
        *,
        probe_steps: int = 3,
        rounds: int = 2,
        warmup: int = 1,
        window: int = 10,
        drift: float = 1.5,
        abandon: float = 1.3,
        revisit_s: float = 15.0,
        max_revisit_s: float = 60.0,
        clock=time.perf_counter,
        enabled: bool | None = None,
    ):
        for name, value in (("probe_steps", probe_steps), ("rounds", rounds), ("window", window)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an int >= 0; got {warmup!r}")
        if not drift > 1:
            raise ValueError(f"drift must be greater than 1; got {drift!r}")
        if not abandon > 1:
            raise ValueError(f"abandon must be greater than 1; got {abandon!r}")
        if not 0 < revisit_s <= max_revisit_s:
            raise ValueError(f"need 0 < revisit_s <= max_revisit_s; got {revisit_s!r}, {max_revisit_s!r}")
        self.enabled = config.CPU_THREAD_TUNING if enabled is None else bool(enabled)
        self.probe_steps, self.rounds, self.warmup = probe_steps, rounds, warmup
        self.drift, self.abandon = drift, abandon
        self.base_revisit_s, self.max_revisit_s = revisit_s, max_revisit_s
        self.clock = clock
        self._settings = tuple(settings)
        if not self._settings:
            raise ValueError("settings must not be empty")
        self._start = None  # (blas, numba) at the first step
        self.candidates: list[tuple[str, int, int]] = []
        self.current: tuple[str, int, int] | None = None
        self.history: list[tuple[int, str]] = []  # (step index, setting chosen), for tests and reports
        self._recent = collections.deque(maxlen=window)
        self._plan: list[tuple[str, int, int]] = []
        self._probe: dict[str, list[float]] = {}
        self._reference = None
        self._revisit_s = revisit_s
        self._chosen_at = 0.0
        self.medians: dict[str, float] = {}
        self.steps = 0

    # -- the plan ------------------------------------------------------------

    def _resolve(self) -> None:
        self._start = current_counts()
        seen = {}
        for s in self._settings:
            blas = self._start[0] if s.blas is None else min(s.blas, self._start[0])
            nb = self._start[1] if s.numba is None else min(s.numba, self._start[1])
            seen.setdefault((blas, nb), (s.name, blas, nb))
        self.candidates = list(seen.values())
        self.current = self.candidates[0]
        self._start_probe()

    def _start_probe(self) -> None:
        # the setting in use first: the others are then measured against it and given up early
        order = [self.current] + [c for c in self.candidates if c != self.current]
        self._probe = {c[0]: [] for c in self.candidates}
        self._plan = [c for _ in range(self.rounds) for c in order for _ in range(self.probe_steps)]
        self._recent.clear()

    def _give_up_early(self, setting, seconds: float) -> None:
        """A probe step ``abandon`` times slower than the best median so far ends that setting's turn."""
        best = min((statistics.median(ts) for ts in self._probe.values() if ts), default=seconds)
        if seconds > self.abandon * best:
            while self._plan and self._plan[0] == setting:
                self._plan.pop(0)

    def _choose(self, now: float) -> None:
        medians = {name: statistics.median(ts) for name, ts in self._probe.items() if ts}
        best = min(self.candidates, key=lambda c: medians.get(c[0], float("inf")))
        if self.history and best == self.current:
            self._revisit_s = min(2 * self._revisit_s, self.max_revisit_s)
        else:
            self._revisit_s = self.base_revisit_s
        self.current, self._reference, self._chosen_at = best, medians[best[0]], now
        self.history.append((self.steps, best[0]))
        self.medians = medians

    def _next(self) -> tuple[str, int, int]:
        """The setting of the next step."""
        if self.steps < self.warmup or len(self.candidates) < 2:
            return self.current
        if self._plan:
            return self._plan[0]
        return self.current

    def record(self, setting: tuple[str, int, int], seconds: float) -> None:
        """Count one step of ``setting`` that took ``seconds`` (what :meth:`step` does after each step)."""
        self.steps += 1
        if self.steps <= self.warmup or len(self.candidates) < 2:
            return
        now = self.clock()
        if self._plan:
            self._plan.pop(0)
            self._probe[setting[0]].append(seconds)
            self._give_up_early(setting, seconds)
            if not self._plan:
                self._choose(now)
            return
        self._recent.append(seconds)
        moved = False
        if len(self._recent) == self._recent.maxlen:
            m = statistics.median(self._recent)
            moved = m > self.drift * self._reference or m * self.drift < self._reference
        if moved or now - self._chosen_at > self._revisit_s:
            self._start_probe()

    def step(self):
        """A context manager: the block runs with the tuner's next setting, and is timed."""
        return _TunedStep(self)

    def begin_step(self) -> tuple[str, int, int] | None:
        """Apply the next step's setting and return it, for a caller that times the step itself and
        passes it to :meth:`record` (:meth:`step` does both); None when tuning is off."""
        if not self.enabled:
            return None
        if self._start is None:
            self._resolve()
        setting = self._next()
        apply_counts(setting[1], setting[2])
        return setting

    def close(self) -> None:
        """Put back the thread counts the process had before the first step."""
        if self._start is not None:
            apply_counts(*self._start)

    def report(self) -> str:
        """One line: the setting in use and the medians it was chosen on."""
        if self.current is None:
            return "thread tuning: no step yet"
        if not self.history:
            return f"thread tuning: {self.current[0]} (BLAS {self.current[1]}, Numba {self.current[2]})"
        ms = ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in self.medians.items())
        return f"thread tuning: {self.current[0]} (BLAS {self.current[1]}, Numba {self.current[2]}); medians {ms}"


class _TunedStep:
    __slots__ = ("tuner", "setting", "t0")

    def __init__(self, tuner: ThreadTuner):
        self.tuner = tuner

    def __enter__(self):
        self.setting = self.tuner.begin_step()
        if self.setting is not None:
            self.t0 = self.tuner.clock()
        return self.setting

    def __exit__(self, exc_type, *exc):
        if self.setting is not None and exc_type is None:
            self.tuner.record(self.setting, self.tuner.clock() - self.t0)
