"""Numba knobs, in one place.

Every kernel module reads its compilation flags and launch sizes from here, so
that a reader (or a test) can see and change them without hunting through the
kernels. Values are read when a kernel module is first imported (CPU flags) or
when a kernel is launched (CUDA launch sizes), so tests can turn the CUDA sizes
down at run time with :func:`cuda_launch_config`.

Axis glossary used throughout the project: ``T`` time steps, ``B`` batch,
``M`` input features, ``N`` hidden units (neurons).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .errors import UserError


class EnvironmentSettingError(UserError, ValueError):
    """An ``INDRNN_*`` environment variable with a value it does not take; the message names it."""


def _value(name: str, default: str) -> str:
    """``name``'s value, stripped; ``default`` when it is unset or empty (as ``NAME=`` is often meant)."""
    return os.environ.get(name, "").strip() or default


def _switch(name: str, default: str = "1") -> bool:
    """An on/off ``INDRNN_*`` switch: ``1`` on, ``0`` off; any other value is an error, not a guess."""
    value = _value(name, default)
    if value not in ("0", "1"):
        raise EnvironmentSettingError(f"{name} must be 1 (on) or 0 (off); got {value!r}")
    return value == "1"


def _count(name: str, default: str) -> int:
    """A whole number >= 0 from ``name``."""
    value = _value(name, default)
    if not (value.isascii() and value.isdigit()):
        raise EnvironmentSettingError(f"{name} must be a whole number >= 0; got {value!r}")
    return int(value)


def _megabytes(name: str, default: str) -> int:
    """A size in megabytes (>= 0) from ``name``, in bytes."""
    value = _value(name, default)
    try:
        mb = float(value)
    except ValueError:
        mb = -1.0
    if not mb >= 0 or mb == float("inf"):
        raise EnvironmentSettingError(f"{name} must be a number of megabytes >= 0; got {value!r}")
    return int(mb * 2**20)


# --------------------------------------------------------------------------
# CPU (numba.njit)
# --------------------------------------------------------------------------
#: Run the column loops of the CPU kernels in parallel (``numba.prange``).
CPU_PARALLEL: bool = _switch("INDRNN_CPU_PARALLEL")

#: Apply :mod:`indrnn_np.threads`' policy (passive OpenMP wait, OpenBLAS's idle workers released before
#: each parallel Numba kernel while no other Python thread exists) at the first kernel call.
#: ``INDRNN_THREAD_POLICY=0`` turns it off.
CPU_THREAD_POLICY: bool = _switch("INDRNN_THREAD_POLICY")

#: Let the training loop choose its BLAS and Numba thread counts from measured step times
#: (:class:`indrnn_np.threads.ThreadTuner`), so that another busy program on the machine does not
#: slow training several-fold. ``INDRNN_THREAD_TUNING=0`` keeps the counts the process starts with.
CPU_THREAD_TUNING: bool = _switch("INDRNN_THREAD_TUNING")

#: fastmath flags for the CPU kernels. ``nnan`` and ``ninf`` are deliberately
#: left out: a NaN or inf produced by an exploding recurrence must stay a NaN
#: or inf so that the training loop can see it and stop.
CPU_FASTMATH: frozenset[str] = frozenset({"nsz", "arcp", "contract", "afn"})

#: Cache compiled CPU kernels on disk (``__pycache__``) so the compile cost is
#: paid once per machine rather than once per process. Numba has had bugs with
#: ``cache=True`` on ``parallel=True`` functions when the thread count changes
#: between runs; set ``INDRNN_NUMBA_CACHE=0`` if you hit one.
CPU_CACHE: bool = _switch("INDRNN_NUMBA_CACHE")

#: About how many (b, n) columns one CPU task takes: a block of
#: ``max(1, CPU_TASK_COLUMNS // N)`` batch rows. Big enough that each step of
#: a task streams through a few KiB of contiguous memory, small enough that
#: B = 50 still gives every thread several tasks.
CPU_TASK_COLUMNS: int = 512

#: Widest chunk of neurons one CPU task takes; wider layers are split into
#: chunks of at most this many neurons, so that B = 1 still runs in parallel.
CPU_MAX_CHUNK: int = 1024

#: The CPU scan (``indrnn_forward(..., algorithm="scan")``, :func:`indrnn_np.kernels.cpu.scan_forward`)
#: cuts time into K chunks with K · B · N about this many lanes, so that even one column (B = N = 1)
#: has K independent chains for the core's pipelines and every thread (never fewer chunks than
#: ``CPU_SCAN_MIN_CHUNKS``, never fewer than ``CPU_SCAN_MIN_STEPS`` steps per chunk). K depends on the
#: shape only, not on the thread count, so the results do not either.
CPU_SCAN_LANES: int = 256
CPU_SCAN_MIN_CHUNKS: int = 8
CPU_SCAN_MIN_STEPS: int = 16
#: The chunks are dealt out in this many tasks (groups of neighbouring chunks) over the threads.
CPU_SCAN_TASKS: int = 16

#: Most memory the ops' work-array pool keeps for reuse across calls (:mod:`indrnn_np.ops.buffers`);
#: ``INDRNN_BUFFER_POOL_MB=0`` turns the reuse off.
BUFFER_POOL_BYTES: int = _megabytes("INDRNN_BUFFER_POOL_MB", "1024")


#: The command line's allocator policy (:mod:`indrnn_np.allocator`, glibc only): arrays of at least
#: ``MALLOC_MMAP_BYTES`` get their own mapping, given back to the system when freed, and at most
#: ``MALLOC_TRIM_BYTES`` stay free at the top of the C heap. ``INDRNN_MALLOC_POLICY=0`` keeps glibc's
#: defaults (a threshold that rises with the arrays freed, and a heap that keeps them). Read when the
#: command line applies it, not at import: the library itself never reads it.
def malloc_policy() -> bool:
    return _switch("INDRNN_MALLOC_POLICY")


MALLOC_MMAP_BYTES: int = 1 << 20
MALLOC_TRIM_BYTES: int = 16 << 20

#: Refuse a run whose estimated peak memory exceeds what the machine has available
#: (:mod:`indrnn_np.train.memory`); ``INDRNN_MEMORY_CHECK=0`` turns the refusal off.
MEMORY_CHECK: bool = _switch("INDRNN_MEMORY_CHECK")

#: Rows per block of the CPU batch-norm sums (BN over time: rows are (t, b)
#: pairs). Fixed, not per thread, so results do not depend on the thread count.
CPU_BN_ROWS: int = 256

# --------------------------------------------------------------------------
# CUDA (numba.cuda)
# --------------------------------------------------------------------------
#: Threads per block for the recurrence kernels (one thread per (b, n) column).
CUDA_THREADS_PER_BLOCK: int = 256

#: The GPU scan (:func:`indrnn_np.kernels.cuda.scan_forward`) cuts time into K chunks so that
#: K · B · N, its threads, is about this many (an H200 keeps about a quarter of a million threads
#: resident), with at least ``CUDA_SCAN_MIN_STEPS`` steps per chunk.
CUDA_SCAN_THREADS: int = 1 << 17
CUDA_SCAN_MIN_STEPS: int = 8

#: The fused small-input backward on the GPU (:mod:`indrnn_np.kernels.fused.cuda`): steps of
#: ∂J/∂a a block keeps in shared memory before adding them into dx, and the most neurons one block
#: takes (its shared buffer's width). Read when the kernels are built (once per dtype).
CUDA_FUSED_STEPS: int = 32
CUDA_FUSED_WIDTH: int = 128

#: How the CUDA backward sums du and db over the batch: ``"two_stage"``
#: (per-column partial sums, then one thread per neuron adds the B rows in a
#: fixed order: bit-for-bit reproducible) or ``"atomic"`` (``cuda.atomic.add``
#: from every column: one kernel less, but the order of the additions, and so
#: the last bits of du and db, change from run to run).
CUDA_REDUCTION: str = os.environ.get("INDRNN_CUDA_REDUCTION", "two_stage")
CUDA_REDUCTIONS = ("two_stage", "atomic")


def cuda_reduction() -> str:
    """:data:`CUDA_REDUCTION`, checked: a typo in ``INDRNN_CUDA_REDUCTION`` is an error, not a default."""
    if CUDA_REDUCTION not in CUDA_REDUCTIONS:
        raise EnvironmentSettingError(
            f"INDRNN_CUDA_REDUCTION (config.CUDA_REDUCTION) must be one of {', '.join(CUDA_REDUCTIONS)}; "
            f"got {CUDA_REDUCTION!r}"
        )
    return CUDA_REDUCTION


#: Which GEMM the CUDA backend runs: ``"cublas"`` (cuBLAS through CuPy, which wraps Numba's device
#: arrays without a copy; the ``cuda`` extra installs it), ``"tiled"`` (the shared-memory teaching
#: kernel of :mod:`indrnn_np.kernels.cuda`), or ``"auto"``: cuBLAS on a GPU, the tiled kernel in
#: Numba's simulator (which cannot run cuBLAS). On a GPU without CuPy, ``auto`` is an error that
#: says to install the extra or to choose ``tiled``; it never picks the slow kernel silently.
CUDA_GEMM: str = os.environ.get("INDRNN_CUDA_GEMM", "auto")
CUDA_GEMMS = ("auto", "cublas", "tiled")


def cuda_gemm(simulator: bool) -> str:
    """The GEMM to run (``"cublas"`` or ``"tiled"``) from :data:`CUDA_GEMM`, checked."""
    if CUDA_GEMM not in CUDA_GEMMS:
        raise EnvironmentSettingError(
            f"INDRNN_CUDA_GEMM (config.CUDA_GEMM) must be one of {', '.join(CUDA_GEMMS)}; got {CUDA_GEMM!r}"
        )
    if CUDA_GEMM == "auto":
        return "tiled" if simulator else "cublas"
    return CUDA_GEMM


#: Edge of the square shared-memory tile of the teaching GEMM kernel; the
#: block is TILE x TILE threads.
CUDA_GEMM_TILE: int = 16

#: Most threads a CUDA block may have (every GPU Numba supports).
CUDA_MAX_THREADS_PER_BLOCK = 1024


def check_cuda_launch(threads_per_block: int, gemm_tile: int) -> None:
    """ValueError unless a GPU accepts these sizes: 1..1024 threads a block, a GEMM tile of 1..32."""
    for name, value in (("threads_per_block", threads_per_block), ("gemm_tile", gemm_tile)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if threads_per_block > CUDA_MAX_THREADS_PER_BLOCK:
        raise ValueError(
            f"threads_per_block must be at most {CUDA_MAX_THREADS_PER_BLOCK} (a GPU refuses larger blocks); "
            f"got {threads_per_block}"
        )
    if gemm_tile * gemm_tile > CUDA_MAX_THREADS_PER_BLOCK:
        raise ValueError(
            f"gemm_tile must be at most 32: its block has tile x tile threads, at most "
            f"{CUDA_MAX_THREADS_PER_BLOCK}; got {gemm_tile}"
        )


@contextlib.contextmanager
def cuda_launch_config(threads_per_block: int | None = None, gemm_tile: int | None = None) -> Iterator[None]:
    """Temporarily change the CUDA launch sizes (used by tests and benchmarks).

    Parameters
    ----------
    threads_per_block : int, optional
        Threads per block of the recurrence kernels.
    gemm_tile : int, optional
        Tile edge of the shared-memory GEMM. The tile is a compile-time
        constant of the kernel, so a new value compiles a new kernel.
    """
    global CUDA_THREADS_PER_BLOCK, CUDA_GEMM_TILE
    saved = (CUDA_THREADS_PER_BLOCK, CUDA_GEMM_TILE)
    check_cuda_launch(
        CUDA_THREADS_PER_BLOCK if threads_per_block is None else threads_per_block,
        CUDA_GEMM_TILE if gemm_tile is None else gemm_tile,
    )
    try:
        if threads_per_block is not None:
            CUDA_THREADS_PER_BLOCK = threads_per_block
        if gemm_tile is not None:
            CUDA_GEMM_TILE = gemm_tile
        yield
    finally:
        CUDA_THREADS_PER_BLOCK, CUDA_GEMM_TILE = saved


# --------------------------------------------------------------------------
# The layer op (all backends)
# --------------------------------------------------------------------------
#: Largest number of input features M for which :func:`indrnn_np.ops.indrnn_forward` and
#: :func:`~indrnn_np.ops.indrnn_backward` compute ``W x_t`` inside the recurrence (the fused kernels
#: of :mod:`indrnn_np.kernels`) instead of one GEMM into a (T, B, N) array that the recurrence reads
#: back: with few inputs the M multiply-adds per value cost less than writing and reading that array
#: (and, backward, the array of ∂J/∂a that the GEMMs of dW and dx read). 0 turns the fused path off.
#: Measured, backend ``cpu``, one layer's forward + backward at (T, B, N) = (1000, 50, 128), float32,
#: relu, 2 cores of an AMD EPYC shared with other work; medians of 15, fused / unfused (ms), two runs:
#: M = 1: 9.7 / 25.1 and 9.2 / 24.8; M = 2: 10.5 / 20.0 and 11.3 / 21.7; M = 4: 13.5 / 22.7 and
#: 13.4 / 22.3; M = 8: 15.6 / 21.5 and 18.5 / 23.5; M = 12: 18.8 / 22.2 and 18.7 / 23.7;
#: M = 16: 24.6 / 24.5 and 21.1 / 24.0. Even at M = 16 the fused path was no slower; 8 keeps a margin
#: for machines whose BLAS has more cores to use, and for the GPU, where it was not measured.
#: ``INDRNN_FUSE_MAX_M`` sets it (``bench compare`` times the M = 2 layer both ways with it).
FUSE_MAX_M: int = _count("INDRNN_FUSE_MAX_M", "8")
