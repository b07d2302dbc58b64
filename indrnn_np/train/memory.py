"""A run's peak memory, estimated by rehearsing the run at a few steps, and the memory there is.

Every command that trains or loads a model (``train``, ``train --resume``, ``evaluate``,
``predict``, ``neurons``, ``depth``, and ``bench layer``, ``batchnorm`` and ``train``),
:func:`indrnn_np.train.train` with objects, and the estimators' ``fit`` and ``predict`` ask here
first and refuse, in one line, a size that cannot fit (:class:`MemoryTooLarge`); ``train ...
--dry-run`` prints the estimate part by part.

Nothing is mirrored: :func:`rehearse` runs the real code (the real task, model and optimizer, at
the run's batch size, widths, dtype and evaluation chunks) with only T shrunk, at
:data:`PROBES` T = 16 and T = 32, under ``tracemalloc``, which sees every array NumPy allocates.
The work-array pool (:mod:`indrnn_np.ops.buffers`) runs with its byte thresholds scaled by the
same factor (:func:`indrnn_np.ops.buffers.scaled`), so it keeps and reuses at the probes what it
would at the full T. A first run at T = 16 loads or compiles the kernels and is not counted. Each
phase of the run (the data, the model, a training step, an evaluation, a second step) gives the
bytes at its peak and the bytes it leaves behind, at both probes; each is a straight line in T,
extrapolated to the run's T. Sizes that do not grow with T (parameters, the optimizer's state,
MNIST's images) come out as they are. A rehearsal takes a second or a few (the data are read,
the model built, four phases run three times); runs of T <= 32 are rehearsed at their own T.

On top comes the process itself, as it is once the rehearsal is done (:func:`process_bytes`, its
resident memory): the interpreter, NumPy, Numba and the kernels the run needs, loaded from Numba's
cache or compiled (a first run on a machine holds the compiler's memory too), matplotlib for a run
that draws its curve (imported first), and whatever else the process holds. In a user's own process
(:func:`indrnn_np.train.train` with objects, the estimators' ``fit`` and ``predict``) that includes
their other arrays: memory in use, which the run cannot have, so it counts, as the check compares
the estimate with what is available plus what the process holds already (:class:`Available`).
What the phases count that the process holds already (a run of objects' task arrays and model, the
sequences to predict) is taken off it, and :data:`ALLOCATOR_BYTES` added for what the process grows
by besides its arrays (freed arrays the allocator keeps). Where the resident memory cannot be read, :data:`RUNTIME_BYTES` stands for it.

Measured against reality (2026-12-07, float32, 2 shared cores): the estimate's arrays (less the
part ``runtime``) over the peak that ``tracemalloc`` sees the real run allocate (the data, the
model, a step, an evaluation, a second step); and the whole estimate over the peak RSS of the
command that made it (``train ... --steps 2 --eval-every 1``, its rehearsal included, or the fit),
with the fixed 256 MiB this part once was, with the process's RSS under glibc's default allocator
settings, and as it is now, under the command line's allocator policy (:mod:`indrnn_np.allocator`;
the fit runs in its own process, where the policy is not applied) (``python
benchmarks/memory_rss.py``, which prints the table's RSS columns)::

    configuration                                          arrays  peak RSS   RSS: 256 MiB  glibc  now
    adding --T 1000 (batch 50, 2 x 128)                     0.995    529 MiB      0.994    1.032  1.032
    adding --T 5000                                         1.000   1633 MiB      1.004    1.016  1.014
    adding --T 1000 --residual --layers 4 --bn time         0.995   1301 MiB      0.971    0.991  1.016
    adding --T 1000 --model lstm --layers 1                 0.997   1071 MiB      0.996    1.009  1.013
    adding --T 1000 --bidirectional --bn time               1.001   1338 MiB      0.945    0.966  1.007
    mnist --bn frame --dropout 0.1 (generated IDX files)    1.002   1084 MiB      0.907    0.931  1.033
    IndRNNClassifier.fit, 400 NaN-padded sequences of
      500-4000 steps, 3 features, hidden 128, batch 32          -   3342 MiB      1.014    1.048  1.048

(The arrays column is from the estimate's earlier rehearsal, unchanged since; "256 MiB" is the
same runs' arrays plus 256 MiB.) So the arrays come out within 1.2 %, and ``tests/test_memory.py``
holds them to 0.97-1.05, and the whole estimate against the peak RSS too (``slow``). The process
when estimated held 223-244 MiB on the command line, 341 MiB in the fit (its X and task). Under
glibc's defaults the bidirectional and the frame-wise batch-norm runs peaked at 1385 and 1196 MiB,
92 and 130 MiB beyond the estimate's arrays and the process: the allocator's heap kept their many
freed arrays of a few MB (see :mod:`indrnn_np.allocator`), and their ratios stayed below 0.97.

Runs whose batches have varied lengths (task ``arrays``, the estimators) are rehearsed with the
second step's batch one step shorter than the first, as two real batches rarely share their
longest sequence: the pool reuses arrays of one shape only, so a run of many such steps may keep
more idle arrays than two steps show (at most ``INDRNN_BUFFER_POOL_MB``).

The memory available is the smallest of ``MemAvailable`` in
``/proc/meminfo``, the cgroup's limit less its usage (v2 ``memory.max``, v1
``memory.limit_in_bytes``) and the address-space limit (``ulimit -v``) less
what the process maps; elsewhere the free physical memory that
``os.sysconf`` reports, or nothing (no check) where even that is missing.
``INDRNN_MEMORY_CHECK=0`` turns the check off: nothing is rehearsed then, but for ``--dry-run``,
which asks for the estimate (:func:`wanted`). A rehearsal in a process that traces with ``tracemalloc`` already resets its peak.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import gc
import os
import tracemalloc
from collections import Counter
from collections.abc import Callable

import numpy as np

from .. import allocator, config
from ..compiling import CompileWatch
from ..errors import UserError
from ..ops import buffers
from ..ops.backend import CUDA, resolve
from ..tasks import FIXED_T
from .build import model_of, optimizer_of, task_of
from .config import TrainConfig
from .step import train_step

GiB = 2**30
MiB = 2**20

#: The runtime part where the process's resident memory cannot be read (no ``/proc/self/status``):
#: the interpreter, NumPy, Numba with the compiled kernels, matplotlib for the curve (a tiny run's
#: peak RSS was 182-208 MiB on Linux, kernels from Numba's cache or compiled in the process).
RUNTIME_BYTES = 256 * MiB

#: What the process grows by beyond the rehearsal's arrays and its resident memory when estimated
#: (freed memory the allocator keeps, the libraries' buffers): a figure, measured, not derived. On the
#: module's table, under the command line's allocator policy, the peak's memory other than arrays was
#: 11-39 MiB above the process when estimated (the fit's arrays come out above its real peak);
#: 48 MiB puts all seven within 0.97-1.05. In a user's
#: process (the policy is not applied there) glibc's heap may keep more (see :mod:`indrnn_np.allocator`).
ALLOCATOR_BYTES = 48 * MiB

#: The sequence lengths a run is rehearsed at (a run of T <= the last is rehearsed at its own T).
PROBES = (16, 32)

#: What the peak is made of, in the order the estimate is printed.
PARTS = {
    "step": "a training step: batch, activations kept for BPTT, work arrays, gradients",
    "evaluation": "evaluation of a chunk of sequences",
    "kept": "arrays kept between phases: idle work arrays in the pool, the optimizer's lazy state",
    "input": "the sequences to predict or benchmark",
    "data": "data set and test set",
    "params": "parameters, batch-norm statistics and optimizer state",
    "checkpoint": "checkpoint arrays being loaded",
    "runtime": "this process now (the interpreter, its libraries, what it holds) and its allocator",
}

#: Parts that live on the GPU when a run trains with ``backend="cuda"``.
_DEVICE_PARTS = ("step", "evaluation", "kept", "params")


class MemoryTooLarge(UserError):
    """A run whose estimated peak memory exceeds what the machine has available."""


# --------------------------------------------------------------------------
# The rehearsal
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    """One phase of a rehearsed run.

    Attributes
    ----------
    part : str
        The :data:`PARTS` key its bytes count to: what it leaves behind, and at its own peak what it
        allocates above that.
    label : str
        What the run does then (``"training step"``), named when it is the peak.
    run : callable or None
        Does the phase's work.
    exact : int or None
        Bytes known exactly, alive from this phase on (arrays allocated before the rehearsal, a task's
        data): they stand for what the phase's work leaves, which is not extrapolated.
    held : callable or None
        ``held()``, after the phase has run: the bytes it leaves, counted from the objects it made
        (:func:`array_bytes` of the model and optimizer it built) rather than traced. The traced
        bytes also hold those objects' Python attributes, a few KiB that differ from run to run
        (measured 193-218 KiB for the 207 KiB of arrays of the adding network and its Adam state).
    """

    part: str
    label: str
    run: Callable[[], object] | None = None
    exact: int | None = None
    held: Callable[[], int] | None = None


def _measure(phases: list[Phase], device=None) -> list[tuple[int, int, int, int]]:
    """``(peak, held after, device peak, device held after)`` of each phase in bytes above the start,
    the phases run in order: host bytes as ``tracemalloc`` traces them, device bytes as the backend's
    allocation point counts them (``device``: :attr:`indrnn_np.ops.backend.Backend.memory`; zeros
    without one).

    The young generations are collected first (a full collection takes 0.1 s and more in a process
    that has loaded Numba and scikit-learn, ten times a small fit; the rehearsal's own cycles are
    young), and :func:`rehearse` keeps the collector off meanwhile, so that no collection frees
    older garbage inside a phase."""
    gc.collect(1)
    base = tracemalloc.get_traced_memory()[0]
    dbase = device.current if device is not None else 0
    out = []
    after = 0
    for phase in phases:
        before = after
        tracemalloc.reset_peak()
        if device is not None:
            device.reset_peak()
        try:
            if phase.run is not None:
                phase.run()
        except MemoryError as exc:
            exc.part = phase.part  # what ran out, for the refusal's levers
            raise
        current, peak = tracemalloc.get_traced_memory()
        after = current - base if phase.held is None else before + phase.held()
        dcur, dpeak = (device.current, device.peak) if device is not None else (dbase, dbase)
        out.append((max(peak - base, after), after, dpeak - dbase, dcur - dbase))
    return out


_WANTED = contextvars.ContextVar("indrnn_np_memory_wanted", default=False)
_LOG = contextvars.ContextVar("indrnn_np_memory_log", default=None)

#: The line a rehearsal says when it makes Numba compile (the first run on a machine: seconds).
COMPILE_LINE = (
    "compiling the kernels for the memory check (first run on a machine only; later runs load Numba's cache)"
)


@contextlib.contextmanager
def saying_compiles(log, backend: str):
    """Inside this block, a rehearsal that makes Numba compile says so first, one line to ``log``
    (:data:`COMPILE_LINE`), rather than seconds of silence before the run's first line; the
    ``numpy`` backend compiles nothing and is not watched (Numba is not imported for it)."""
    token = _LOG.set(log if resolve(backend).compiles else None)
    try:
        yield
    finally:
        _LOG.reset(token)


@contextlib.contextmanager
def wanted():
    """Rehearse inside this block even with ``INDRNN_MEMORY_CHECK=0`` (``--dry-run`` prints the estimate)."""
    token = _WANTED.set(True)
    try:
        yield
    finally:
        _WANTED.reset(token)


def rehearse(
    what: str,
    phases: Callable[[int], list[Phase]],
    T: int,
    *,
    levers: tuple = (),
    on_device: bool = False,
    runtime: bool = True,
    resident: int = 0,
    backend=None,
) -> MemoryEstimate | None:
    """The peak memory of a run of ``T`` steps, from the same run rehearsed at :data:`PROBES`.

    Parameters
    ----------
    what : str
        The work, as the refusal names it (``"training adding, T = 5000, batch 50"``).
    phases : callable
        ``phases(T_probe)`` returns the run's phases at ``T_probe`` steps, fresh objects each call.
    T : int
        The run's sequence length.
    levers : tuple of str, or callable
        The options that lower the peak, largest first, or ``levers(parts)`` that names them from
        the estimate's parts (:func:`config_levers`).
    on_device : bool
        The run keeps its arrays on the GPU (:data:`_DEVICE_PARTS` are not host memory); implied by a
        ``backend`` on the device.
    runtime : bool
        Count the process as it is (:func:`process_bytes`, read after the rehearsal, when the kernels
        the run needs are loaded) as the part ``"runtime"``; False: leave it out (the caller counts
        it and says so).
    resident : int
        Bytes of what the phases count that this process holds already (the task's arrays of a run
        of objects, the sequences to predict): the runtime part, which holds them, is less them.
    backend : str or Backend, optional
        The run's backend. On the GPU, the phases run there (the real code on the device, at the
        probes' T), and the bytes its one allocation point counts (:attr:`Backend.memory`) give the
        estimate's device peak (:attr:`MemoryEstimate.device_peak`), extrapolated as the host's.

    Returns
    -------
    MemoryEstimate or None
        Its phase is the phase at the peak; its parts what is alive then. None with
        ``INDRNN_MEMORY_CHECK=0`` outside :func:`wanted`: nothing is rehearsed.

    Raises
    ------
    MemoryTooLarge
        The rehearsal itself ran out of the memory available (a batch or a width too large for
        the machine even at a few steps): with the check on, the rehearsal runs under an
        address-space limit of what is available (:func:`_bounded`), so that it fails with a
        MemoryError rather than waking the kernel's OOM killer.
    """
    if not config.MEMORY_CHECK and not _WANTED.get():
        return None  # nothing to check: no rehearsal's seconds spent
    device = None
    if backend is not None:
        backend = resolve(backend)
        on_device = on_device or backend.on_device
        device = backend.memory
    T = int(T)
    probes = [T] if T <= PROBES[-1] else list(PROBES)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    collecting = gc.isenabled()
    gc.disable()
    log = _LOG.get()
    watch = CompileWatch(lambda: log(COMPILE_LINE), cuda=on_device) if log else contextlib.nullcontext()
    watch.__enter__()
    measured = []
    name = levers if callable(levers) else lambda parts: levers
    try:
        for i, Tp in enumerate([probes[0], *probes]):  # the first run loads the kernels: not counted
            with buffers.scaled(Tp / T), _bounded(Tp / T) as available:
                try:
                    plan = phases(Tp)
                    numbers = _measure(plan, device)
                except MemoryError as exc:
                    plan = None
                    options = name({getattr(exc, "part", "step"): 1})
                    lower = f"; lower {_options(options)}" if options else ""
                    if available is None or available.bytes is None:  # no check, or nothing known
                        there = "more memory than this process could take"
                    else:
                        there = (
                            f"more than the {_size(available.bytes + available.held)} available "
                            f"({available.source})"
                        )
                    skip = " (INDRNN_MEMORY_CHECK=0 skips this check)" if config.MEMORY_CHECK else ""
                    raise MemoryTooLarge(
                        f"{what} needs {there} already when rehearsed at T = {Tp}{lower}{skip}"
                    ) from None
                labels = [(p.part, p.label, p.exact) for p in plan]
                del plan
            if i:
                measured.append(numbers)
    finally:
        watch.__exit__(None, None, None)
        gc.collect(1)
        if collecting:
            gc.enable()
        if not tracing:
            tracemalloc.stop()
    if len(measured) == 1:
        values = measured[0]
    else:
        (T1, T2), (m1, m2) = probes, measured
        slope = (T - T1) / (T2 - T1)
        values = [
            tuple(a + (b - a) * slope for a, b in zip(one, two, strict=True))
            for one, two in zip(m1, m2, strict=True)
        ]
    how = (
        f"rehearsed at T = {probes[0]}"
        if len(probes) == 1
        else f"rehearsed at T = {probes[0]} and {probes[1]}, extrapolated to T = {T}"
    )
    held = max(0, process_bytes() - int(resident)) + ALLOCATOR_BYTES if runtime else None
    estimate = _at_peak(what, labels, [v[:2] for v in values], name, on_device, held)
    if device is not None:
        peak, phase = max((v[2], label) for (_, label, _), v in zip(labels, values, strict=True))
        estimate = dataclasses.replace(estimate, device_peak=int(max(0.0, peak)), device_phase=phase)
    return dataclasses.replace(estimate, how=how)


#: The least a probe of the rehearsal may allocate (the parts that do not shrink with T: parameters,
#: the optimizer's state, MNIST's images).
PROBE_FLOOR = 4 * GiB


@contextlib.contextmanager
def _bounded(factor: float):
    """The address-space limit lowered, for the duration, to what is mapped plus what a probe of
    ``factor`` times the run's T may take: twice that share of the memory available, at least
    :data:`PROBE_FLOOR`, at most all of it (with the check on; Linux). A probe beyond it raises
    MemoryError at its first large allocation: a batch or a width that cannot fit is refused
    without the probe writing gigabytes first. Yields :func:`available_memory`'s answer (or None)."""
    try:
        import resource
    except ImportError:  # Windows
        yield None
        return
    available = available_memory() if config.MEMORY_CHECK else None
    mapped = _status("VmSize")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    room = None if available is None else available.bytes
    limit = None
    if room is not None and mapped is not None:
        limit = mapped + int(min(room, max(2 * factor * room, PROBE_FLOOR)))
    infinite = resource.RLIM_INFINITY
    if limit is None or (soft != infinite and soft <= limit) or (hard != infinite and hard < limit):
        yield available
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield available
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


#: What a phase leaves behind counts to: a step's and an evaluation's, what the pool and the optimizer keep.
_LEAVES = {"step": "kept", "evaluation": "kept"}


def _at_peak(what, labels, values, levers, on_device, runtime) -> MemoryEstimate:
    """The estimate at the phase whose peak is the largest: what the earlier phases left, by part, the
    peak phase's own bytes above that, the exact parts and the runtime (bytes, or None: not counted)."""
    best, best_parts, best_label = -1.0, Counter(), ""
    held_before, left = 0.0, Counter()
    for (part, label, exact), (peak, after) in zip(labels, values, strict=True):
        parts = Counter(left)
        parts[part] += max(0.0, peak - held_before) if exact is None else exact
        total = sum(v for v in parts.values() if v > 0)
        if total > best:
            best, best_parts, best_label = total, parts, label
        left[_LEAVES.get(part, part)] += after - held_before if exact is None else exact
        held_before = after
    if runtime is not None:
        best_parts["runtime"] += runtime
    parts = {k: int(best_parts[k]) for k in PARTS if best_parts.get(k, 0) >= 1}
    return MemoryEstimate(
        what=what, parts=parts, phase=best_label, levers=tuple(levers(parts)), on_device=on_device
    )


def _training_phases(s: dict, *, batch, clip_value=None, clip_norm=None, steps=2, evaluate=True) -> list:
    """A training step, an evaluation and a second step of ``s["model"]``, ``s["opt"]`` on ``s["task"]``:
    the phases every training rehearsal ends with."""
    rng = np.random.default_rng(0)
    previous = []

    def step():
        task = s["task"]
        x, y, *rest = task.train_batch(rng, batch)
        lengths = rest[0] if rest else None
        if lengths is not None and previous == [len(x)] and len(x) > 1 and _varied(task):
            # two batches of sequences of varied lengths rarely have the same longest one, and the
            # pool reuses arrays of the same shape only: a step of the same length at a few steps
            # would reuse what the real run's steps do not
            x, lengths = x[:-1], np.minimum(lengths, len(x) - 1)
            y = y[:-1] if getattr(task, "head", "last") == "all" else y
        previous[:] = [len(x)]
        train_step(
            s["model"],
            s["opt"],
            x,
            y,
            lengths=lengths,
            loss_forward=s["task"].loss_forward,
            loss_backward=s["task"].loss_backward,
            clip_value=clip_value,
            clip_norm=clip_norm,
        )

    def evaluation():
        s["task"].evaluate(s["model"])

    out = [Phase("step", "training step", step)]
    for _ in range(steps - 1):
        if evaluate:
            out.append(Phase("evaluation", "evaluation", evaluation))
        out.append(Phase("step", "training step", step))
    if evaluate:
        # a run ends with an evaluation after its last step, the pool then holding that step's arrays
        # too (of another batch length than the step before an earlier evaluation)
        out.append(Phase("evaluation", "evaluation", evaluation))
    return out


def _varied(task) -> bool:
    """The task's training sequences differ in length (its ``lengths``, where it has them)."""
    lengths = getattr(task, "lengths", None)
    return isinstance(lengths, np.ndarray) and lengths.size > 0 and lengths.min() != lengths.max()


def task_at(cfg: TrainConfig, T: int):
    """``cfg``'s task with sequences of ``T`` steps: built at T (the adding problem, PTB), or read as the
    run reads it and cut (MNIST, task ``arrays``: the data decide T; :meth:`rehearsal`)."""
    if cfg.task in FIXED_T or cfg.task == "arrays":
        task = task_of(cfg)
        return task if T >= task.T else task.rehearsal(T)
    return task_of(dataclasses.replace(cfg, T=T))


def _checkpoint_copy(model, opt) -> list:
    """Copies of what a checkpoint holds (parameters, buffers, the optimizer's state): its arrays read."""
    arrays = [*model.params.values(), *model.buffers.values()]
    if opt is not None:
        arrays += list(opt.state_dict().values())
    return [np.array(a, copy=True) for a in arrays]


def config_phases(cfg: TrainConfig, Tp: int, *, checkpoint=False, extra_models=0, optimizer=True) -> tuple:
    """``(state, phases)``: the data and the model of ``cfg`` at Tp steps (and a checkpoint's arrays); the
    phases put the task, model and optimizer into ``state`` (``"task"``, ``"model"``, ``"opt"``)."""
    c = dataclasses.replace(cfg, T=Tp)  # on its own backend: on the GPU, the device's bytes are counted
    s: dict = {}

    def data():
        s["task"] = task_at(cfg, Tp)

    def extra():
        s.setdefault("extra", []).append(model_of(c, s["task"]))

    def model():
        s["model"] = model_of(c, s["task"])
        s["opt"] = optimizer_of(c, s["model"]) if optimizer else None

    phases = [Phase("data", "reading the data and building the test set", data)]
    phases += [
        Phase("params", "building the model", extra, held=lambda: array_bytes(s["extra"][-1]))
        for _ in range(extra_models)
    ]
    phases.append(
        Phase("params", "building the model", model, held=lambda: array_bytes(s["model"], s["opt"]))
    )
    if checkpoint:  # its arrays read, then let go once the model holds them
        phases.append(
            Phase("checkpoint", "loading the checkpoint", lambda: _checkpoint_copy(s["model"], s["opt"]))
        )
    return s, phases


def run_label(cfg: TrainConfig) -> str:
    """``adding, T = 1000, batch 50``: a configured run, as an estimate names it."""
    return f"{cfg.task}, T = {cfg.T}, batch {cfg.batch}"


def estimate_training(cfg: TrainConfig, *, resume: bool = False, extra_models: int = 0) -> MemoryEstimate:
    """The peak memory of training ``cfg``: data, model, two training steps with an evaluation between.

    Parameters
    ----------
    cfg : TrainConfig
        Validated.
    resume : bool
        The run continues from a checkpoint: its arrays are read while the model is built.
    extra_models : int
        Models of the same configuration alive beside the run (the depth experiment keeps one).
    """

    def phases(Tp):
        s, out = config_phases(cfg, Tp, checkpoint=resume, extra_models=extra_models)
        return out + _training_phases(s, batch=cfg.batch, clip_value=cfg.clip_value, clip_norm=cfg.clip_norm)

    from .. import plots  # noqa: F401  the run draws its curve: matplotlib is in its RSS at the peak

    what = f"training {run_label(cfg)}"
    return rehearse(what, phases, cfg.T, levers=config_levers(cfg), backend=cfg.backend)


def estimate_evaluation(cfg: TrainConfig) -> MemoryEstimate:
    """The peak memory of ``evaluate``: the checkpoint loaded, the full test set evaluated."""

    def phases(Tp):
        s, out = config_phases(cfg, Tp, checkpoint=True)
        return [*out, Phase("evaluation", "evaluation", lambda: s["task"].evaluate(s["model"], full=True))]

    what = f"evaluating {run_label(cfg)}"
    return rehearse(what, phases, cfg.T, levers=config_levers(cfg), backend=cfg.backend)


def _prediction_phases(s: dict, n: int, T: int, M: int, dtype, *, read=True) -> list:
    """``predict`` of n sequences of T steps (M features) with ``s["model"]``: the file's x as read
    (float64, ``read``) and padded, then :func:`indrnn_np.tasks.arrays.predict` (its chunks and the
    outputs kept)."""
    from ..tasks.arrays import predict

    def inputs():
        if read:
            s["raw"] = np.zeros((n, T, M), np.float64)
        s["x"] = np.zeros((n, T, M), dtype)

    def run():
        head = s.get("head") or s["task"].head
        s["out"] = predict(s["model"], s["x"], np.full(n, T, np.int64), head=head)

    return [Phase("input", "reading the sequences", inputs), Phase("evaluation", "prediction", run)]


def estimate_prediction(cfg: TrainConfig, n: int, T: int, M: int, *, resident: int = 0) -> MemoryEstimate:
    """The peak memory of ``predict``: the file's x (n, T, M) read and padded, the run's checkpoint and
    task loaded, the n sequences predicted a chunk at a time (:attr:`ArrayTask.eval_chunk`), the
    predictions kept. The run's own T is scaled with the sequences' T. ``resident``: bytes of those
    the process holds already (the sequences read, the model and task loaded: :func:`rehearse`)."""

    def phases(Tp):
        Tr = min(cfg.T, max(2, round(cfg.T * Tp / T)))
        s, out = config_phases(cfg, Tr, checkpoint=True)  # task arrays: its data's T, cut (task_at)
        return out + _prediction_phases(s, n, Tp, M, np.dtype(cfg.dtype))

    what = f"predicting {n} sequences of up to {T} steps with a {cfg.task} run"
    return rehearse(what, phases, T, levers=(), backend=cfg.backend, resident=resident)


#: What lowers a run of objects' peak, in words that fit :func:`indrnn_np.train.train` and the estimators.
def object_levers(parts: dict) -> tuple:
    """What lowers the largest parts of a run of objects (:func:`indrnn_np.train.train`, the
    estimators' ``fit``), largest first: as :func:`config_levers`, in the words of a Python call."""
    length, widths = "the sequences' length", "the model's widths"
    return _ranked(
        {
            "step": ("batch", length, widths),
            "kept": ("batch", length, widths),
            # the task's eval_chunk sequences at a time (an estimator's: its held-out sequences, or
            # with none its training sequences, 256 at a time), whatever the batch
            "evaluation": (length, widths),
            "data": (length,),
            "params": (widths,),
        },
        parts,
    )


def array_bytes(*things) -> int:
    """Bytes of the arrays given: an array, a model's parameters and buffers, and the arrays an object
    holds as attributes or in dicts it holds (an optimizer's moments), each base counted once (None
    stands for no object)."""
    seen, total = set(), 0
    for thing in things:
        if isinstance(thing, np.ndarray):
            arrays = [thing]
        else:
            arrays = []
            if hasattr(thing, "params"):
                arrays += [*thing.params.values(), *getattr(thing, "buffers", {}).values()]
            for v in getattr(thing, "__dict__", {}).values():  # an optimizer's state: dicts of arrays
                arrays += list(v.values()) if isinstance(v, dict) else [v]
        for v in arrays:
            if isinstance(v, np.ndarray):
                base = v
                while isinstance(base.base, np.ndarray):
                    base = base.base
                if id(base) not in seen:
                    seen.add(id(base))
                    total += base.nbytes
    return total


def estimate_objects(
    model, optimizer, task, *, batch: int, clip_value=None, clip_norm=None, levers=object_levers
) -> MemoryEstimate | None:
    """The peak memory of :func:`indrnn_np.train.train` of these objects: copies of the model and the
    optimizer trained on ``task.rehearsal(T)`` (the task's arrays counted as they are: they exist).

    Returns None (no check) where it cannot be rehearsed: a task without ``rehearsal(T)`` and an int
    ``T`` (the protocol's optional members, :class:`indrnn_np.tasks.Task`), or a model on the GPU.
    """
    T = getattr(task, "T", None)
    if (
        not hasattr(task, "rehearsal")
        or not isinstance(T, int | np.integer)
        or resolve(getattr(model, "backend", "cpu")).on_device
    ):
        return None
    data = array_bytes(task)

    def phases(Tp):
        s: dict = {}

        def cut():
            s["task"] = task.rehearsal(min(Tp, T))

        def build():
            s["model"], s["opt"] = copy.deepcopy((model, optimizer))

        return [
            Phase("data", "the data", cut, exact=data),
            Phase("params", "building the model", build, held=lambda: array_bytes(s["model"], s["opt"])),
            *_training_phases(s, batch=batch, clip_value=clip_value, clip_norm=clip_norm),
        ]

    name = getattr(task, "name", type(task).__name__)
    what = f"training {name}, T = {T}, batch {batch}"
    # the task's arrays and the model are in this process already: its RSS holds them
    resident = data + array_bytes(model)
    return rehearse(
        what, phases, int(T), levers=levers if callable(levers) else tuple(levers), resident=resident
    )


def estimate_model_prediction(model, n: int, T: int, M: int, head: str, levers=()) -> MemoryEstimate | None:
    """The peak memory of predicting n sequences of T steps with ``model`` (an estimator's predict):
    the padded x and :func:`indrnn_np.tasks.arrays.predict`'s chunks and outputs (None for a model on
    the GPU: not rehearsed)."""
    if resolve(getattr(model, "backend", "cpu")).on_device:
        return None
    dtype = next(iter(model.params.values())).dtype

    def phases(Tp):
        return _prediction_phases({"model": model, "head": head}, n, Tp, M, dtype, read=False)

    what = f"predicting {n} sequences of up to {T} steps"
    # the padded sequences and the model are in this process already: its RSS holds them
    resident = n * T * M * dtype.itemsize + array_bytes(model)
    return rehearse(what, phases, T, levers=tuple(levers), resident=resident)


# --------------------------------------------------------------------------
# Estimates
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak of a command's memory and what it is made of.

    Attributes
    ----------
    what : str
        The command's work, e.g. ``"training adding, T = 5000"``.
    parts : dict
        :data:`PARTS` key -> bytes alive at the peak.
    phase : str
        What the run is doing at its peak (``"evaluation"``, ``"training step"``, ...).
    levers : tuple of str
        The options that lower the largest parts, largest first (``"--batch"``, ``"--T"``, ...).
    on_device : bool
        The model trains on the GPU: the parts of :data:`_DEVICE_PARTS` are there, not in host memory.
    how : str
        How it was found (``"rehearsed at T = 16 and 32, extrapolated to T = 5000"``).
    device_peak : int or None
        A run on the GPU: the bytes on the device at its peak, as the backend's one allocation point
        counts them (:attr:`indrnn_np.ops.backend.Backend.memory`) in the rehearsal; None elsewhere.
    device_phase : str
        What the run does at the device's peak.
    """

    what: str
    parts: dict
    phase: str
    levers: tuple = ()
    on_device: bool = False
    how: str = ""
    device_peak: int | None = None
    device_phase: str = ""

    @property
    def total(self) -> int:
        """Bytes of host memory at the peak (GPU parts excluded)."""
        return sum(v for k, v in self.parts.items() if not (self.on_device and k in _DEVICE_PARTS))

    @property
    def device(self) -> int:
        """Bytes on the GPU at the peak (0 unless ``on_device``): the counted :attr:`device_peak` where
        the rehearsal ran on the device, else the parts of :data:`_DEVICE_PARTS`."""
        if self.device_peak is not None:
            return self.device_peak
        return sum(v for k, v in self.parts.items() if self.on_device and k in _DEVICE_PARTS)


def _levers(cfg: TrainConfig, parts: dict) -> tuple:
    """The command-line options that lower the largest parts, largest first (three at most)."""
    T = () if cfg.task in FIXED_T or cfg.task == "arrays" else ("--T",)  # arrays: T is the data's
    width = ("--growth",) if cfg.dense_blocks else ("--widths",) if cfg.widths else ("--hidden",)
    depth = () if cfg.widths else ("--layers",)
    test = () if cfg.task == "arrays" else ("--test-size",)
    by_part = {
        "step": ("--batch", *T, *width),
        "kept": ("--batch", *T, *width),
        # an evaluation's chunk is min(the task's eval_chunk, the test set) sequences: a test set
        # smaller than the chunk lowers it, a smaller batch does not
        "evaluation": (*T, *test, *width),
        "data": (*test, *T),
        "params": (*width, *depth),
        "checkpoint": (*width, *depth),
    }
    return _ranked(by_part, parts)


def _ranked(by_part: dict, parts: dict) -> tuple:
    """The levers of ``by_part`` (per part, the options that drive it, first the most), weighted by
    the parts' bytes: the three that lower the most, leaving out those that would lower less than a
    twentieth of what the first does (a smaller batch barely lowers an evaluation's peak)."""
    weight: Counter = Counter()
    for part, nbytes in parts.items():
        for rank, option in enumerate(by_part.get(part, ())):
            weight[option] += nbytes / (rank + 1)  # an option that drives a part comes first
    ranked = weight.most_common()
    return tuple(o for o, w in ranked if w > 0 and w >= ranked[0][1] / 20)[:3]


def config_levers(cfg: TrainConfig):
    """``levers(parts)`` for :func:`rehearse`: the options of ``cfg`` that lower the largest parts."""
    return lambda parts: _levers(cfg, parts)


# What the machine has
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Available:
    """Memory this process may still take.

    Attributes
    ----------
    bytes : int or None
        None where nothing could be read (no check).
    source : str
        Where the number comes from.
    held : int
        Bytes the process holds already (resident), part of what the estimate counts.
    """

    bytes: int | None
    source: str
    held: int = 0


def _read_int(path) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _kib_field(path: str, key: str) -> int | None:
    """Bytes of a ``key:  N kB`` line of a /proc file (meminfo, status); None when absent or unreadable."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _meminfo(key: str) -> int | None:
    return _kib_field("/proc/meminfo", key)


def _status(key: str) -> int | None:
    return _kib_field("/proc/self/status", key)


def process_bytes() -> int:
    """This process's resident memory now (``VmRSS`` of ``/proc/self/status``): the interpreter, its
    libraries, the kernels loaded or compiled, and whatever else the process holds (a user's own
    arrays, memory the allocator keeps after arrays were freed); :data:`RUNTIME_BYTES` where it
    cannot be read."""
    rss = _status("VmRSS")
    return RUNTIME_BYTES if rss is None else rss


def _cgroup_paths():
    """The cgroup folders of this process, its own first, then its parents (v2) and v1's memory controller."""
    v2 = "/sys/fs/cgroup"
    try:
        with open("/proc/self/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[0] == "0" and parts[1] == "":
            rel = parts[2].strip("/")
            while True:
                yield "v2", os.path.join(v2, rel) if rel else v2
                if not rel:
                    break
                rel = os.path.dirname(rel)
    yield "v2", v2
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(","):
            yield "v1", os.path.join(v2, "memory", parts[2].strip("/"))
    yield "v1", os.path.join(v2, "memory")


def _cgroup_room() -> tuple[int, str] | None:
    """The tightest cgroup limit less its usage, and where it was read."""
    best = None
    seen = set()
    for version, folder in _cgroup_paths():
        if folder in seen:
            continue
        seen.add(folder)
        if version == "v2":
            limit, usage = _read_int(f"{folder}/memory.max"), _read_int(f"{folder}/memory.current")
            name = f"{folder}/memory.max"
        else:
            limit = _read_int(f"{folder}/memory.limit_in_bytes")
            usage = _read_int(f"{folder}/memory.usage_in_bytes")
            name = f"{folder}/memory.limit_in_bytes"
        if limit is None or usage is None or limit >= 2**60:  # "max", or v1's no limit
            continue
        room = max(0, limit - usage)
        if best is None or room < best[0]:
            best = (room, f"the cgroup limit {_size(limit)} less its usage ({name})")
    return best


def available_memory() -> Available:
    """The memory this process may still take: the smallest of what the system, the cgroup and
    ``ulimit -v`` leave (see the module's docstring), and what the process holds already."""
    held = _status("VmRSS") or 0
    found = []
    mem = _meminfo("MemAvailable")
    if mem is not None:
        found.append((mem, "MemAvailable in /proc/meminfo"))
    cgroup = _cgroup_room()
    if cgroup is not None:
        found.append(cgroup)
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        unlimited = resource.RLIM_INFINITY
    except (ImportError, AttributeError, OSError, ValueError):  # Windows has no resource module
        soft = unlimited = None
    if soft != unlimited:
        mapped = _status("VmSize") or 0
        found.append(
            (max(0, soft - mapped), f"the address-space limit (ulimit -v) {_size(soft)} less what is mapped")
        )
    if not found:
        try:
            found.append(
                (os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free physical memory (sysconf)")
            )
        except (ValueError, OSError, AttributeError):
            return Available(None, "unknown on this system", held)
    nbytes, source = min(found)
    return Available(nbytes, source, held)


# --------------------------------------------------------------------------
# The check and the report
# --------------------------------------------------------------------------


def _size(nbytes: float) -> str:
    """``1.5 TiB``, ``23.0 GiB``, ``854 MiB``, ``12 KiB``: three significant figures at most."""
    for unit, scale in (("TiB", 2**40), ("GiB", GiB), ("MiB", MiB), ("KiB", 2**10)):
        if nbytes >= scale or unit == "KiB":
            return f"{nbytes / scale:,.{1 if nbytes / scale < 100 else 0}f} {unit}"
    raise AssertionError  # pragma: no cover


def _options(levers) -> str:
    """``--T, --hidden or --test-size``."""
    levers = list(levers)
    return ", ".join(levers[:-1]) + (" or " if len(levers) > 1 else "") + levers[-1]


def check_fits(estimate: MemoryEstimate | None, available: Available | None = None) -> None:
    """Raise :class:`MemoryTooLarge` (one line: the estimate, what is available, what to lower) when the
    estimated peak exceeds the memory available; nothing when the check is off, nothing is known, or
    ``estimate`` is None (a run that cannot be rehearsed)."""
    if not config.MEMORY_CHECK or estimate is None:
        return
    _check_device(estimate)
    available = available or available_memory()
    if available.bytes is None or estimate.total <= available.bytes + available.held:
        return
    largest = sorted(
        ((v, k) for k, v in estimate.parts.items() if not (estimate.on_device and k in _DEVICE_PARTS)),
        reverse=True,
    )[:2]
    made_of = "; ".join(f"{PARTS[k]} {_size(v)}" for v, k in largest)
    lower = f"; lower {_options(estimate.levers)}" if estimate.levers else ""
    raise MemoryTooLarge(
        f"{estimate.what} needs about {_size(estimate.total)} of memory at its peak ({made_of}); "
        f"{_size(available.bytes + available.held)} is available ({available.source}){lower} "
        "(INDRNN_MEMORY_CHECK=0 skips this check)"
    )


def device_room(estimate: MemoryEstimate) -> tuple[int, int] | None:
    """``(free, total)`` bytes of the GPU a run on the device would use (the current context's
    ``get_memory_info``); None for a host run, a run not rehearsed on the device, or in Numba's CUDA
    simulator, which has no device memory of its own (nothing to check against)."""
    if estimate.device_peak is None or not estimate.on_device:
        return None
    return CUDA.free_memory()


def _check_device(estimate: MemoryEstimate) -> None:
    room = device_room(estimate)
    if room is not None and estimate.device_peak > room[0]:
        lower = f"; lower {_options(estimate.levers)}" if estimate.levers else ""
        raise MemoryTooLarge(
            f"{estimate.what} needs about {_size(estimate.device_peak)} of GPU memory at its peak "
            f"({estimate.device_phase}); {_size(room[0])} of the GPU's {_size(room[1])} is free{lower} "
            "(INDRNN_MEMORY_CHECK=0 skips this check)"
        )


def fits(estimate: MemoryEstimate, available: Available | None = None) -> bool:
    """False when the estimated peak exceeds what is available (:func:`check_fits` would refuse it,
    the check on); True when it fits or nothing is known of the memory."""
    room = device_room(estimate)
    if room is not None and estimate.device_peak > room[0]:
        return False
    available = available or available_memory()
    return available.bytes is None or estimate.total <= available.bytes + available.held


def _refused() -> str:
    """What happens to a run that does not fit: refused, or with the check off, started anyway."""
    if config.MEMORY_CHECK:
        return "the run would be refused"
    return "with INDRNN_MEMORY_CHECK=0 the run would not be refused; it would start and run out of memory"


def describe(estimate: MemoryEstimate, available: Available | None = None) -> str:
    """The estimate, part by part, and what is available: what ``train ... --dry-run`` prints."""
    available = available or available_memory()
    lines = [f"{estimate.what}: about {_size(estimate.total)} of memory at its peak ({estimate.phase})"]
    if estimate.how:
        lines.append(f"({estimate.how})")
    width = max(len(PARTS[k]) for k in estimate.parts)
    for k, v in estimate.parts.items():
        where = " (on the GPU, not counted above)" if estimate.on_device and k in _DEVICE_PARTS else ""
        lines.append(f"  {PARTS[k]:<{width}}  {_size(v):>10}{where}")
    if estimate.device_peak is not None:
        lines.append(
            f"on the GPU: about {_size(estimate.device_peak)} at its peak ({estimate.device_phase}), "
            "counted at the backend's device allocations"
        )
        room = device_room(estimate)
        if room is None:
            lines.append(
                "GPU memory free: unknown in Numba's CUDA simulator (no device memory of its own: no check)"
            )
        else:
            verdict = "fits" if estimate.device_peak <= room[0] else f"does NOT fit: {_refused()}"
            lines.append(f"GPU memory free: {_size(room[0])} of {_size(room[1])}; {verdict}")
    if (policy := allocator.policy()) is not None:  # the command line's (indrnn_np.allocator)
        lines.append(f"allocator: {policy}")
    if available.bytes is None:
        lines.append(f"available: {available.source} (no check)")
    else:
        room = available.bytes + available.held
        verdict = "fits" if estimate.total <= room else f"does NOT fit: {_refused()}"
        lines.append(f"available: {_size(room)} ({available.source}); {verdict}")
        if estimate.total > room and estimate.levers:
            lines.append(f"lower {_options(estimate.levers)}")
    return "\n".join(lines)
