"""Layer 2: the backend as one object, resolved once from its name (``numpy``, ``cpu``, ``cuda``).

:func:`resolve` turns ``backend="numpy"|"cpu"|"cuda"`` (or a :class:`Backend` already resolved)
into one of three objects, and is the one place that reads a backend's name: everything above asks
the object. A :class:`Backend` owns

* **placement**: :meth:`Backend.holds` (does an array live here), :meth:`Backend.accepts` (do its
  ops take it), :meth:`Backend.to_device`, :meth:`Backend.to_host`; and :func:`backend_of`, the
  backend where given arrays live (the CUDA backend for a Numba device array, else the host);
* **allocation**: :meth:`Backend.empty` and :meth:`Backend.zeros`, on the host through the work-array
  pool (:mod:`indrnn_np.ops.buffers`), on the GPU through the one counted allocation point
  (:func:`indrnn_np.kernels._cuda.device_array`, whose bytes :attr:`Backend.memory` counts);
* **the kernel set**: :attr:`Backend.kernels`, the module of :mod:`indrnn_np.kernels` whose functions
  the ops call by one name on every backend (``reference``, ``cpu`` or ``cuda``), and
  :attr:`Backend.update_kernels`, the optimizer's for host parameters;
* the choices that differ per backend, as attributes: :attr:`Backend.on_device`,
  :attr:`Backend.compiles`, :attr:`Backend.fuses`, :attr:`Backend.threads_tunable`,
  :attr:`Backend.syncs`.

The CUDA target is imported only when asked for, and its absence is one
error that says how to get it; nothing falls back to another backend.
"""

from __future__ import annotations

import numpy as np

from .. import config
from ..errors import UserError
from ..kernels import reference as _reference
from ..kernels.placement import is_device_array, to_host
from ..timing import section
from . import buffers

#: The backends ``indrnn_forward`` accepts.
BACKENDS = ("numpy", "cpu", "cuda")


class CudaUnavailableError(UserError, RuntimeError):
    """The ``cuda`` backend was asked for but no CUDA target can run here."""


CUDA_HELP = (
    "To use backend='cuda', install the CUDA target and its toolkit "
    "(pip install 'indrnn-np[cuda]') on a machine with an NVIDIA GPU and driver, "
    "or run the kernels on the CPU in Numba's simulator by setting "
    "NUMBA_ENABLE_CUDASIM=1 before numba is imported (slow: tiny shapes only)."
)


def require_cuda():
    """The CUDA kernel module, or CudaUnavailableError saying how to get one."""
    try:
        from ..kernels import cuda as cuda_kernels
    except ImportError as exc:
        raise CudaUnavailableError(f"the CUDA backend cannot be loaded ({exc}). {CUDA_HELP}") from exc
    reason = cuda_kernels.unavailable_reason()
    if reason:
        raise CudaUnavailableError(f"no CUDA device is usable ({reason}). {CUDA_HELP}")
    return cuda_kernels


def cuda_available() -> bool:
    """True when ``backend="cuda"`` can run here (a GPU, or the simulator)."""
    try:
        require_cuda()
    except CudaUnavailableError:
        return False
    return True


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)


class Backend:
    """A backend: where its arrays live, how they are allocated, and its kernels.

    Obtained from :func:`resolve`; there is one object per backend, so ``a is b`` compares two. It
    compares equal to its name too (``resolve("cpu") == "cpu"``), and ``str()`` gives the name, for
    messages and records (``run.json``).

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"cpu"`` or ``"cuda"``.
    on_device : bool
        Its arrays live on the GPU (models are moved there; inputs copied in).
    compiles : bool
        Its kernels are Numba's (compiled at their first call, cached on disk).
    fuses : bool
        The layer may take the fused small-input kernels (never ``numpy``: the specification).
    threads_tunable : bool
        Its kernels run on CPU threads whose number the thread tuner may set.
    syncs : bool
        Its kernels run asynchronously: a timer must wait for them.
    """

    on_device = False
    compiles = False
    fuses = False
    threads_tunable = False
    syncs = False

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            return other == self.name
        return self is other

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self):  # copies and pickles stay the one object
        return resolve, (self.name,)

    # --- the kernel set ---------------------------------------------------------------------------

    @property
    def kernels(self):
        """The kernel module of this backend (:mod:`indrnn_np.kernels.reference`, ``cpu`` or ``cuda``)."""
        return _reference

    def in_simulator(self) -> bool:
        """Whether its kernels run in Numba's CUDA simulator (slow: every GPU thread a Python thread)."""
        return False

    def require(self) -> Backend:
        """This backend, once it can run here: :class:`CudaUnavailableError` for ``"cuda"`` without a
        CUDA target (before anything is built or copied); nothing is loaded for the host backends."""
        return self

    @property
    def update_kernels(self):
        """The kernels that update host parameters (the optimizer): the reference for ``numpy``, the
        Numba CPU kernels otherwise (device parameters are updated by :attr:`kernels`)."""
        return _cpu_kernels()

    # --- placement --------------------------------------------------------------------------------

    def holds(self, a) -> bool:
        """Whether ``a`` is an array of this backend's side (a NumPy array on the host backends)."""
        return isinstance(a, np.ndarray)

    #: What its ops take as an array argument, as an argument check's message says it.
    takes = "a NumPy array"

    def accepts(self, a) -> bool:
        """Whether its ops take ``a`` as an array argument (:func:`indrnn_np._checks.check_arrays`): a
        NumPy array on every backend, and on the CUDA backend a device array too."""
        return isinstance(a, np.ndarray)

    def to_device(self, a):
        """``a`` on this backend's side: on the host backends, ``a`` as it is."""
        return a

    def to_host(self, a):
        """``a`` as a NumPy array (copied from the device when it is a device array); None stays None."""
        return to_host(a)

    def take(self, a):
        """``(a on this backend's side, C-contiguous, back)``: ``back(r)`` puts a result ``r`` where ``a``
        was (a host input gets host results from the device; on the host backends ``back`` returns ``r``)."""
        return np.ascontiguousarray(a), _same

    def put(self, a):
        """``a`` on this backend's side, C-contiguous (``take(a)[0]``)."""
        return np.ascontiguousarray(a)

    # --- allocation -------------------------------------------------------------------------------

    def empty(self, shape, dtype):
        """An uninitialised work array of this side: on the host from the pool (:mod:`.buffers`)."""
        return buffers.empty(_shape(shape), dtype)

    def zeros(self, shape, dtype):
        """A zeroed work array of this side."""
        return buffers.zeros(_shape(shape), dtype)

    def empty_unpooled(self, shape, dtype):
        """An uninitialised array of this side, not from the pool (a small or a kept result)."""
        return np.empty(_shape(shape), dtype)

    def zeros_unpooled(self, shape, dtype):
        """A zeroed array of this side, not from the pool."""
        return np.zeros(_shape(shape), dtype)

    def reduces_atomically(self) -> bool:
        """Whether the recurrence's backward sums du and db over the batch with atomics in the kernel
        (CUDA, as :func:`indrnn_np.config.cuda_reduction` says) rather than in a fixed order after it."""
        return False

    def zeros_like(self, a):
        """Zeros of a's shape and dtype, on this side."""
        return np.zeros_like(a)

    def copy(self, a):
        """A C-contiguous copy of ``a`` on this side."""
        return np.array(a, copy=True, order="C")

    def ints(self, a):
        """Integers (lengths, steps: B of them) as an int64 array of this side."""
        return np.ascontiguousarray(a, dtype=np.int64)

    @property
    def memory(self):
        """The count of this backend's device allocations (:class:`indrnn_np.kernels._cuda.DeviceMemory`),
        or None on the host (``tracemalloc`` sees host arrays)."""
        return None

    # --- primitives the ops are written with ------------------------------------------------------

    def launch(self, kernel: str, n: int, *args) -> None:
        """Run the kernel named ``kernel`` of :attr:`kernels` on ``args`` (``n`` items: the grid of a
        CUDA launch; the host kernels loop themselves)."""
        getattr(self.kernels, kernel)(*args)

    def matmul(self, a, b, *, trans_a: bool = False, trans_b: bool = False, long_k: bool = False):
        """``op(a) @ op(b)`` into a new work array (``long_k``: the inner axis is T·B long, as for dW,
        which the CUDA GEMM splits)."""
        return matmul(a.T if trans_a else a, b.T if trans_b else b)

    def bias_add(self, y, b) -> None:
        """``y += b`` in place, b (N,) broadcast over the rows of y (R, N)."""
        y += b

    def sum_rows(self, part):
        """``part`` (R, ...) summed over its first axis, in a fixed order."""
        return part.sum(axis=0)

    def scale_rows(self, x, mask):
        """``x * mask``: the (B, N) mask broadcast over the T steps of x (T, B, N)."""
        return x * mask

    def add(self, a, b):
        """``a + b`` (residual connections, a bidirectional layer's two input gradients), into a
        pooled array: a fresh one costs page faults at every step (:mod:`.buffers`)."""
        return np.add(a, b, out=self.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b)))

    def concat_last(self, x, y):
        """``concat([x, y], axis=-1)`` (a bidirectional layer's output), into a pooled array: a fresh
        (T, B, 2N) array each step measured 8 % of a bidirectional fit, page faults included."""
        C = x.shape[-1]
        out = self.empty((*x.shape[:-1], C + y.shape[-1]), np.result_type(x, y))
        out[..., :C] = x
        out[..., C:] = y
        return out

    def split_last(self, d, C: int):
        """``(d[..., :C], d[..., C:])``: a view and a C-contiguous copy (the part a body's backward takes)."""
        return d[..., :C], np.ascontiguousarray(d[..., C:])

    # --- the optimizer's arrays, checked where they live ------------------------------------------

    def kernels_for_update(self, p):
        """The kernels that update the parameter ``p`` for this backend: the CUDA kernels for a device
        parameter (whatever the backend's name), else :attr:`update_kernels`."""
        return CUDA.kernels if is_device_array(p) else self.update_kernels

    def flat(self, name, p):
        """A parameter (or a state updated in place) as a flat view, checked: float32/float64,
        C-contiguous, writeable."""
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{name} must be a float32 or float64 ndarray; got {type(p).__name__} {getattr(p, 'dtype', '')}"
            )
        if not p.flags.c_contiguous or not p.flags.writeable:
            raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
        return p.reshape(-1)

    def flat_like(self, name, a, p, *, state=False):
        """``a`` flat, checked to have the parameter p's shape and dtype (``state``: updated in place)."""
        if not isinstance(a, np.ndarray) or a.shape != p.shape:
            raise ValueError(f"{name} must have the parameter's shape {p.shape}; got {np.shape(a)}")
        if a.dtype != p.dtype:
            raise TypeError(f"{name} must have the parameter's dtype {p.dtype}; got {a.dtype}")
        if state:
            return self.flat(name, a)
        return np.ascontiguousarray(a).reshape(-1)

    def flat_gradient(self, name, g):
        """A gradient read (not written) as a flat array: float32/float64."""
        if not isinstance(g, np.ndarray) or g.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be a float32 or float64 ndarray; got {type(g).__name__}")
        return np.ascontiguousarray(g).reshape(-1)


class _NumpyBackend(Backend):
    @property
    def update_kernels(self):
        return _reference


class _CpuBackend(Backend):
    compiles = True
    fuses = True
    threads_tunable = True

    @property
    def kernels(self):
        """The Numba CPU kernels, wrapped so that :mod:`indrnn_np.threads`' policy is applied at each
        call, and while Numba's threading layer is not known to be thread-safe the calls run one at a
        time (:class:`indrnn_np.threads.PolicyKernels`)."""
        return _cpu_kernels()


class _CudaBackend(Backend):
    on_device = True
    compiles = True
    fuses = True
    syncs = True

    @property
    def kernels(self):
        """The CUDA kernels (:mod:`indrnn_np.kernels.cuda`), or :class:`CudaUnavailableError`."""
        return require_cuda()

    def require(self) -> Backend:
        require_cuda()
        return self

    def in_simulator(self) -> bool:
        return self.kernels.simulator_enabled()

    def holds(self, a) -> bool:
        return is_device_array(a)

    takes = "a NumPy array or a Numba CUDA device array"

    def accepts(self, a) -> bool:
        return isinstance(a, np.ndarray) or is_device_array(a)

    def to_device(self, a):
        """A C-contiguous device array of ``a``: a NumPy array is copied in (its device memory counted),
        a device array returned as it is."""
        if is_device_array(a):
            if not a.is_c_contiguous():
                raise ValueError("device arrays must be C-contiguous; copy them with .copy_to_host() first")
            return a
        return self.kernels.to_device(np.ascontiguousarray(a))

    def to_device_as(self, a, dtype):
        """``a`` on the device: a device array as it is, anything else as a NumPy array of ``dtype``
        copied in (a loss's target)."""
        return self.to_device(a if is_device_array(a) else np.asarray(a, dtype=dtype))

    def take(self, a):
        if is_device_array(a):
            return self.to_device(a), _same
        return self.to_device(a), to_host

    def put(self, a):
        return self.to_device(a)

    def empty(self, shape, dtype):
        """An uninitialised device array, through the counted allocation point."""
        return self.kernels.device_array(_shape(shape), np.dtype(dtype))

    def zeros(self, shape, dtype):
        """A device array of zeros, filled on the device."""
        return self.kernels.zeros(_shape(shape), np.dtype(dtype))

    def zeros_like(self, a):
        return self.zeros(a.shape, a.dtype)

    def empty_unpooled(self, shape, dtype):
        return self.empty(shape, dtype)

    def zeros_unpooled(self, shape, dtype):
        return self.zeros(shape, dtype)

    def reduces_atomically(self) -> bool:
        return config.cuda_reduction() == "atomic"

    def copy(self, a):
        """A device-to-device copy (a host array is copied in)."""
        if not is_device_array(a):
            return self.to_device(np.array(a, copy=True, order="C"))
        out = self.empty(a.shape, a.dtype)
        out.copy_to_device(a)
        return out

    def ints(self, a):
        return self.to_device(np.ascontiguousarray(a, dtype=np.int64))

    @property
    def memory(self):
        return self.kernels.DEVICE_MEMORY

    def free_memory(self) -> tuple[int, int] | None:
        """``(free, total)`` bytes of the GPU (``get_memory_info`` of the current context); None in
        Numba's simulator, which has no device memory of its own (no limit to check against)."""
        ck = self.kernels
        if ck.simulator_enabled():
            return None
        free, total = ck.cuda.current_context().get_memory_info()
        return int(free), int(total)

    def flat(self, name, p):
        if p.dtype not in (np.float32, np.float64) or not p.is_c_contiguous():
            raise TypeError(f"{name} must be a C-contiguous float32 or float64 device array")
        return p.reshape(p.size)

    def flat_like(self, name, a, p, *, state=False):
        if not is_device_array(a) or tuple(a.shape) != tuple(p.shape) or a.dtype != p.dtype:
            raise ValueError(
                f"{name} must be a device array of the parameter's shape {tuple(p.shape)} and dtype {p.dtype}"
            )
        return self.flat(name, a)

    def flat_gradient(self, name, g):
        return self.flat(name, g)

    def launch(self, kernel: str, n: int, *args) -> None:
        ck = self.kernels
        ck.launch(getattr(ck, kernel), n, *args)

    def matmul(self, a, b, *, trans_a: bool = False, trans_b: bool = False, long_k: bool = False):
        splits = 1
        if long_k:
            K, R = (a.shape[0], a.shape[1]) if trans_a else (a.shape[1], a.shape[0])
            S = b.shape[0] if trans_b else b.shape[1]
            splits = self.kernels.split_k(K, R, S, config.CUDA_GEMM_TILE)
        return gemm(a, b, trans_a=trans_a, trans_b=trans_b, splits=splits)

    def bias_add(self, y, b) -> None:
        self.launch("bias_add", y.size, y, b)

    def sum_rows(self, part):
        R = part.shape[0]
        K = part.size // R
        out = self.empty(part.shape[1:], part.dtype)
        self.kernels.reduce_rows(part.reshape(R, K), out.reshape(K))
        return out

    def scale_rows(self, x, mask):
        T = x.shape[0]
        K = x.size // T
        y = self.empty(x.shape, x.dtype)
        self.launch("scale_rows", x.size, x.reshape(T, K), mask.reshape(K), y.reshape(T, K))
        return y

    def add(self, a, b):
        if tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype:
            raise ValueError(
                f"add needs one shape and dtype; got {a.shape} {a.dtype} and {b.shape} {b.dtype}"
            )
        out = self.empty(a.shape, a.dtype)
        self.launch("add", a.size, a.reshape(a.size), b.reshape(b.size), out.reshape(out.size))
        return out

    def concat_last(self, x, y):
        R, C, K = _rows(x), tuple(x.shape)[-1], tuple(y.shape)[-1]
        out = self.empty((*x.shape[:-1], C + K), x.dtype)
        self.launch("concat_last", R * (C + K), x.reshape(R, C), y.reshape(R, K), out.reshape(R, C + K))
        return out

    def split_last(self, d, C: int):
        R, W = _rows(d), tuple(d.shape)[-1]
        left, right = self.empty((*d.shape[:-1], C), d.dtype), self.empty((*d.shape[:-1], W - C), d.dtype)
        self.launch("split_last", R * W, d.reshape(R, W), left.reshape(R, C), right.reshape(R, W - C))
        return left, right


NUMPY, CPU, CUDA = _NumpyBackend("numpy"), _CpuBackend("cpu"), _CudaBackend("cuda")
_BY_NAME = {b.name: b for b in (NUMPY, CPU, CUDA)}


def resolve(backend, argument: str = "backend") -> Backend:
    """The :class:`Backend` of a name (``"numpy"``, ``"cpu"``, ``"cuda"``) or of a Backend itself:
    the one place a backend's name is read. A ValueError naming ``argument`` for anything else (the
    CUDA target is loaded, or refused with :class:`CudaUnavailableError`, when its kernels are
    first asked for)."""
    if isinstance(backend, Backend):
        return backend
    found = _BY_NAME.get(backend) if isinstance(backend, str) else None
    if found is None:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
    return found


def backend_of(*arrays, default: Backend = NUMPY) -> Backend:
    """The backend where ``arrays`` live: the CUDA backend when any is a Numba device array, else
    ``default`` (the host). None entries are skipped."""
    return CUDA if any(is_device_array(a) for a in arrays if a is not None) else default


def _same(a):
    return a


def _rows(a) -> int:
    return int(np.prod(a.shape[:-1], dtype=np.int64))


def assign(dst, src) -> None:
    """``dst[...] = src`` where dst lives; src may be a host or device array of dst's shape."""
    if not is_device_array(dst):
        dst[...] = to_host(src)
        return
    if tuple(src.shape) != tuple(dst.shape):
        raise ValueError(f"cannot assign an array of shape {tuple(src.shape)} to one of {tuple(dst.shape)}")
    dst.copy_to_device(src if is_device_array(src) else np.ascontiguousarray(src, dtype=dst.dtype))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` through BLAS, into a work array of :mod:`indrnn_np.ops.buffers`; every GEMM of the
    CPU ops goes through here. a (R, K), b (K, S) -> (R, S).

    Timed as the part ``"gemm"`` when a :class:`indrnn_np.timing.Timers` block is active.
    """
    out = buffers.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    with section("gemm"):
        return np.matmul(a, b, out=out)


_CPU_KERNELS = []


def _cpu_kernels():
    """The Numba CPU kernel module wrapped so that :mod:`indrnn_np.threads`' policy runs at each kernel
    call (:class:`indrnn_np.threads.PolicyKernels`); one wrapper per process."""
    if not _CPU_KERNELS:
        from .. import threads
        from ..kernels import cpu

        _CPU_KERNELS.append(threads.PolicyKernels(cpu))
    return _CPU_KERNELS[0]


def backend_kernels(backend):
    """The kernel module of a backend (``resolve(backend).kernels``); imported lazily so numba loads
    only when used."""
    return resolve(backend).kernels


# --------------------------------------------------------------------------
# The GEMM: cuBLAS, or the tiled kernel of indrnn_np.kernels.gemm.cuda
# --------------------------------------------------------------------------


def gemm(A, B, *, trans_a: bool = False, trans_b: bool = False, out=None, splits: int = 1):
    """``C = op(A) @ op(B)``: through cuBLAS (:func:`cublas_gemm`) or the shared-memory tiled kernel
    (:func:`indrnn_np.kernels.gemm.cuda.tiled_gemm`), as :func:`indrnn_np.config.cuda_gemm` says (cuBLAS on a GPU, the tiled
    kernel in the simulator, by default).

    Parameters
    ----------
    A : device array, (R, K) or (K, R) when ``trans_a``
    B : device array, (K, S) or (S, K) when ``trans_b``
    out : device array, (R, S), optional
    splits : int
        Cut K into this many ranges, each summed by its own blocks into a
        (splits, R, S) buffer, then added in a fixed order (split-K: for dW,
        whose output M x N is small but whose K = T·B is long).

    Returns
    -------
    device array, (R, S)
    """
    R, K = (A.shape[1], A.shape[0]) if trans_a else A.shape
    K2, S = (B.shape[1], B.shape[0]) if trans_b else B.shape
    if K != K2:
        raise ValueError(f"inner dimensions differ: op(A) is ({R}, {K}), op(B) is ({K2}, {S})")
    if out is None:
        out = CUDA.empty((R, S), A.dtype)
    if config.cuda_gemm(CUDA.in_simulator()) == "cublas":
        return cublas_gemm(A, B, trans_a=trans_a, trans_b=trans_b, out=out)
    return CUDA.kernels.tiled_gemm(A, B, trans_a=trans_a, trans_b=trans_b, out=out, splits=splits)


def _cupy():
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            f"the cuBLAS GEMM needs CuPy ({exc}): pip install 'indrnn-np[cuda]', or set "
            "INDRNN_CUDA_GEMM=tiled to use the shared-memory teaching GEMM"
        ) from None
    return cupy


def cublas_gemm(A, B, *, trans_a: bool = False, trans_b: bool = False, out):
    """:func:`gemm` through cuBLAS, into the device array ``out`` (R, S).

    CuPy wraps the Numba device arrays through ``__cuda_array_interface__``
    (no copy) and ``cupy.matmul`` calls cuBLAS; a transposed operand is a
    strided view, which cuBLAS reads with its transpose flag. Both libraries
    use the default stream here, so the GEMM is ordered with the Numba
    kernels around it.
    """
    cp = _cupy()
    a, b = cp.asarray(A), cp.asarray(B)
    cp.matmul(a.T if trans_a else a, b.T if trans_b else b, out=cp.asarray(out))
    return out
