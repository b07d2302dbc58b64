"""A run's peak memory, estimated from its configuration before anything is allocated, and the memory there is.

Every command that trains or loads a model (``train``, ``evaluate``,
``predict``, ``neurons``, ``depth``, and ``bench layer``, ``batchnorm`` and ``train`` on
the CPU) asks here first and
refuses, in one line, a size that cannot fit; ``train ... --dry-run`` prints
the estimate. Nothing is built: the network is mirrored by a few lines per
layer kind (:class:`_Net`, checked against the real models by the tests:
same parameter count, same layer kinds) that replay what the ops allocate,
array by array, on a simulated heap (:class:`_Heap`):

* a training step: the input batch, every array the layers' caches keep for
  BPTT (an IndRNN layer keeps its input and h; a Weight-BN-IndRec layer its
  projection, the normalised values and h; dropout, residual sums and dense
  concatenations one more each), the forward temporaries (the GEMM output
  ``W x``), and the backward pass's work arrays (``∂J/∂a``, the input
  gradients, batch norm's temporaries), the gradients;
* the evaluation (the adding test set 100 sequences at a time, MNIST 500
  images at a time, task ``arrays`` and ``predict`` 256 sequences at a time,
  each batch copied samples first and then time-major) and the test set itself;
* batches with lengths (task ``arrays``, ``predict``): the padding masked in
  copies (the model's input, each IndRNN layer's input, ∂J/∂h in backward),
  the last step gathered, batch norm's masked NumPy expressions;
* a bidirectional unit: both directions, the reversed copies of its input,
  output and gradients, the concatenation and its split;
* parameters, the optimizer's state, a loaded checkpoint's arrays;
* the work-array pool of :mod:`indrnn_np.ops.buffers`: arrays of one
  shape are handed out again, and the pool keeps up to
  ``INDRNN_BUFFER_POOL_MB`` of them after their phase (the training step's
  arrays stay while the evaluation runs, and some of the evaluation's while
  training goes on);
* a fixed part for the interpreter, NumPy, Numba's compiled kernels and
  matplotlib (:data:`RUNTIME_BYTES`).

Measured against reality: peak RSS from ``/usr/bin/time -v`` of the command,
2 cores, float32, 2026-11-30, against the estimate of the same configuration
(estimate / measured, MiB)::

    train adding --T 1000 (batch 50, 2 x 128), 20 steps, 2 evaluations    533 /  486  1.10
    train adding --T 5000 --batch 32, 4 steps, 2 evaluations              1421 / 1344  1.06
    train mnist (6 x 128, BN before, dropout), 20 steps, generated IDX    2079 / 1917  1.08
    train adding --T 1000 --residual --layers 4 --bn time, 10 steps       1218 / 1163  1.05
    train adding --T 1000 --model lstm --layers 1, 6 steps                1071 / 1007  1.06
    evaluate --run (the T = 5000 run)                                     1031 /  952  1.08
    neurons --run (the T = 5000 run)                                      3966 / 3900  1.02
    train adding --T 20 --hidden 8 --batch 8 (tiny)                        256 /  182  1.41

So the estimate lies 2-10 % above the measured peak for sizes where the
arrays matter, and up to 41 % above for a tiny run, where the fixed part
(:data:`RUNTIME_BYTES`, 180-210 MiB measured) is all there is. The arrays
alone agree with what ``tracemalloc`` sees NumPy allocate to within 1 % for
most layer kinds, 9 % above for frame-wise batch norm (NumPy reuses some of
its temporaries); ``tests/test_memory.py`` holds them to it.

The memory available is the smallest of ``MemAvailable`` in
``/proc/meminfo``, the cgroup's limit less its usage (v2 ``memory.max``, v1
``memory.limit_in_bytes``) and the address-space limit (``ulimit -v``) less
what the process maps; elsewhere the free physical memory that
``os.sysconf`` reports, or nothing (no check) where even that is missing.
``INDRNN_MEMORY_CHECK=0`` turns the refusal off.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter

import numpy as np

from .. import config
from ..errors import UserError
from ..ops import buffers
from ..ops.indrnn import _fused as fused_path  # the op's rule: W x_t in the kernel (cpu, cuda; small M)
from ..tasks import FIXED_T, STATEFUL
from ..tasks.adding import AddingTask
from ..tasks.arrays import npz_shape
from ..tasks.mnist import VARIANTS, MNISTTask
from .config import TrainConfig, parse_widths

GiB = 2**30
MiB = 2**20

#: The interpreter, NumPy, Numba with the compiled kernels, matplotlib for the curve: a tiny run's peak
#: RSS was 182-208 MiB (kernels from Numba's cache, or compiled in the process).
RUNTIME_BYTES = 256 * MiB

#: MNIST read and kept: the full 70,000 images (60,000 + 10,000 of 784 bytes), their labels as int64, and
#: the file's bytes while they are converted. The bundled 5,000-image subset needs less.
MNIST_DATA_BYTES = 2 * 70_000 * (784 + 8)

#: Char-level PTB: the 5.1 M-character training text as int64 ids, cut into streams (a second copy), and
#: the test text; measured 93 MB for the standard files.
PTB_DATA_BYTES = 100 * MiB

#: The char-level PTB vocabulary (50 symbols and one for unknown characters): the data are not read to
#: estimate, so the one-hot width is assumed.
PTB_VOCAB = 51

#: Sequences per evaluation chunk: the adding task's and MNIST's ``evaluate`` defaults, PTB's streams.
ADDING_EVAL_CHUNK = 100
MNIST_EVAL_CHUNK = 500
#: Sequences per forward pass of :func:`indrnn_np.tasks.arrays.predict` (ArrayTask.evaluate, ``predict``).
ARRAYS_EVAL_CHUNK = 256
PTB_EVAL_STREAMS = 8
#: Sequences per chunk of the neuron analysis (:data:`indrnn_np.experiments.neurons.CHUNK`).
NEURONS_CHUNK = 250

#: What the peak is made of, in the order the estimate is printed.
PARTS = {
    "act": "activations kept for BPTT",
    "work": "work arrays of the step: forward temporaries and backward",
    "grads": "gradients",
    "evaluation": "evaluation of a chunk of test sequences",
    "pool": "idle work arrays kept for reuse",
    "batch": "training batch",
    "test": "test set",
    "params": "parameters and batch-norm statistics",
    "opt": "optimizer state",
    "checkpoint": "checkpoint arrays being loaded",
    "data": "data set: MNIST images, PTB text or your arrays",
    "runtime": "the interpreter and its libraries",
}

#: Parts that live on the GPU when a run trains with ``backend="cuda"``.
_DEVICE_PARTS = ("act", "work", "grads", "evaluation", "pool", "params", "opt")


class MemoryTooLarge(UserError):
    """A run whose estimated peak memory exceeds what the machine has available."""


# --------------------------------------------------------------------------
# The simulated heap
# --------------------------------------------------------------------------


class _Array:
    __slots__ = ("shape", "key", "nbytes", "part", "refs", "kept", "base", "contiguous")

    def __init__(self, shape, key, nbytes, part, base=None, contiguous=True):
        self.shape, self.key, self.nbytes, self.part = tuple(shape), key, nbytes, part
        self.refs, self.kept, self.base, self.contiguous = 1, False, base, contiguous


class _Heap:
    """Bytes alive by part, with the work-array pool's reuse (:class:`indrnn_np.ops.buffers.BufferPool`).

    ``new`` returns an array with one reference; ``ref`` adds one, ``drop`` removes one, and at none
    the array is freed, or kept idle by the pool. The peak and what it was made of are recorded.
    """

    def __init__(self, itemsize: int, pool_bytes: int):
        self.s = itemsize
        self.pool_bytes = pool_bytes
        self.kept = 0
        self.free: dict[tuple, list[_Array]] = {}
        self.live: Counter = Counter()
        self.peak, self.at_peak, self.phase, self.peak_phase = 0, Counter(), "", ""
        self.train = True
        self.grads: list[_Array] = []
        #: Not None: every IndRNN backward also keeps a copy of its ∂J/∂a here (the neuron analysis).
        self.extra: list[_Array] | None = None
        #: Batches come with lengths (task arrays, predict): the padding is masked in copies, the last
        #: step gathered, batch norm's statistics taken over the real steps.
        self.lengths = False

    def new(self, shape, part, *, pooled=False, itemsize=None, key_shape=None) -> _Array:
        shape = tuple(int(d) for d in shape)
        itemsize = self.s if itemsize is None else itemsize
        nbytes = math.prod(shape) * itemsize
        if not self.train and part in ("act", "work"):
            part = "evaluation"
        key = (tuple(key_shape or shape), itemsize)
        if pooled and nbytes >= buffers.MIN_BYTES and self.pool_bytes > 0:
            bucket = self.free.get(key)
            if bucket:
                a = bucket.pop()
                a.refs, a.shape, a.part = 1, shape, part
                self.live["pool"] -= nbytes
                self.live[part] += nbytes
                return a
            a = _Array(shape, key, nbytes, part)
            if self.kept + nbytes <= self.pool_bytes:
                a.kept = True
                self.kept += nbytes
        else:
            a = _Array(shape, None, nbytes, part)
        self.live[part] += nbytes
        self._note()
        return a

    def view(self, base: _Array, shape, contiguous=True) -> _Array:
        """A view of ``base`` (it keeps the base alive, as NumPy's views do)."""
        return _Array(shape, None, 0, base.part, base=self.ref(base), contiguous=contiguous)

    def ref(self, a: _Array) -> _Array:
        a.refs += 1
        return a

    def drop(self, *arrays) -> None:
        for a in arrays:
            if a is None:
                continue
            a.refs -= 1
            if a.refs:
                continue
            if a.base is not None:
                self.drop(a.base)
                continue
            self.live[a.part] -= a.nbytes
            if a.kept:
                self.live["pool"] += a.nbytes
                self.free.setdefault(a.key, []).append(a)

    def drop_all(self, nested) -> None:
        for item in nested:
            if isinstance(item, list):
                self.drop_all(item)
            elif isinstance(item, _Array):
                self.drop(item)

    def _note(self) -> None:
        total = sum(self.live.values())
        if total > self.peak:
            self.peak, self.at_peak, self.peak_phase = total, Counter(self.live), self.phase


# --------------------------------------------------------------------------
# The network, mirrored: what each layer kind allocates
# --------------------------------------------------------------------------


def _rows(shape) -> int:
    return math.prod(shape[:-1])


class _Layer:
    """params: shapes of the parameters; buffers: shapes of the non-trained state."""

    params: tuple = ()
    buffers: tuple = ()
    kind = ""

    def fwd(self, h: _Heap, x: _Array):
        raise NotImplementedError

    def bwd(self, h: _Heap, dy: _Array, cache, need_dx: bool):
        raise NotImplementedError

    def grads(self, h: _Heap) -> None:
        for shape in self.params:
            h.grads.append(h.new(shape, "grads", pooled=len(shape) == 2))


def _contiguous(h: _Heap, x: _Array, part="work") -> _Array:
    """``np.ascontiguousarray(x)``: x itself (one more reference) or a copy."""
    return h.ref(x) if x.contiguous else h.new(x.shape, part)


class _IndRNN(_Layer):
    kind = "IndRNN"

    def __init__(self, M, N, backend="cpu"):
        self.M, self.N, self.backend = M, N, backend
        self.params = ((M, N), (N,), (N,))

    def fwd(self, h, x):
        xc = h.new(x.shape, "act") if h.lengths else _contiguous(h, x, "act")  # with lengths: x masked
        # W x_t for every t, unless the fused kernel computes it step by step (small M)
        fused = fused_path(self.M, backend=self.backend)
        xw = None if fused else h.new((_rows(x.shape), self.N), "work", pooled=True)
        out = h.new((*x.shape[:-1], self.N), "act", pooled=True)
        h.drop(xw)
        return out, [xc, h.ref(out)]

    def bwd(self, h, dy, cache, need_dx):
        x = cache[0]
        fused = fused_path(self.M, backend=self.backend)
        if h.extra is not None:
            h.extra.append(h.new(dy.shape, "work"))
        masked = h.new(dy.shape, "work") if h.lengths else None  # ∂J/∂h with its padding zeroed
        if fused:  # ∂J/∂a stays in the kernel; dW summed per batch row
            da = h.new((dy.shape[-2], self.M, self.N), "work")
        else:
            da = h.new(dy.shape, "work", pooled=True)
        self.grads(h)
        key = None if fused else (_rows(x.shape), self.M)
        dx = h.new(x.shape, "work", pooled=True, key_shape=key) if need_dx else None
        h.drop(da, masked)
        return dx


class _Recurrence(_Layer):
    kind = "Recurrence"

    def __init__(self, N):
        self.params = ((N,), (N,))

    def fwd(self, h, x):
        out = h.new(x.shape, "act", pooled=True)
        return out, [h.ref(out)]

    def bwd(self, h, dy, cache, need_dx):
        masked = h.new(dy.shape, "work") if h.lengths else None  # ∂J/∂h with its padding zeroed
        self.grads(h)
        da = h.new(dy.shape, "work", pooled=True)  # ∂J/∂a, the input's gradient
        h.drop(masked)
        return da


class _Dense(_Layer):
    kind = "Dense"

    def __init__(self, M, N, bias=True):
        self.M, self.N = M, N
        self.params = ((M, N), (N,)) if bias else ((M, N),)

    def fwd(self, h, x):
        copy = None if x.contiguous else h.new(x.shape, "work")  # reshape(-1, M) of a strided view
        y = h.new((*x.shape[:-1], self.N), "act", pooled=True, key_shape=(_rows(x.shape), self.N))
        h.drop(copy)
        return y, [h.ref(x)]

    def bwd(self, h, dy, cache, need_dx):
        x = cache[0]
        self.grads(h)
        if not need_dx:
            return None
        return h.new(x.shape, "work", pooled=True, key_shape=(_rows(x.shape), self.M))


class _BatchNorm(_Layer):
    kind = "BatchNorm"

    def __init__(self, N, mode, T_max, backend):
        self.mode = mode
        self.numpy = backend == "numpy" or mode == "frame"
        self.params = ((N,), (N,))
        self.buffers = ((N,), (N,)) if mode == "time" else ((T_max, N), (T_max, N))

    def fwd(self, h, x):
        if not h.train:  # gamma * (x - mean) / sqrt(var + eps) + beta: two temporaries at a time
            a = h.new(x.shape, "work")
            b = h.new(x.shape, "work")
            h.drop(a)
            c = h.new(x.shape, "work")
            h.drop(b)
            y = h.new(x.shape, "act")
            h.drop(c)
            return y, []
        if h.lengths and len(x.shape) == 3:  # statistics over the real steps: NumPy, with a mask
            return self._fwd_masked(h, x)
        if not self.numpy:  # the Numba kernels: the output only; the cache keeps x
            return h.new(x.shape, "act", pooled=True, key_shape=(_rows(x.shape), x.shape[-1])), [h.ref(x)]
        xc = h.new(x.shape, "work")  # x - mean
        sq = h.new(x.shape, "work")
        h.drop(sq)
        xhat = h.new(x.shape, "act")
        t = h.new(x.shape, "work")
        y = h.new(x.shape, "act")
        h.drop(t, xc)
        return y, [xhat]

    def _fwd_masked(self, h, x):
        a = h.new(x.shape, "work")  # x with its padding zeroed
        t = h.new(x.shape, "work")  # x * mask, summed
        h.drop(t)
        t = h.new(x.shape, "work")  # x - mean
        xc = h.new(x.shape, "work")
        h.drop(t)
        t = h.new(x.shape, "work")  # xc * xc, summed
        h.drop(t)
        xhat = h.new(x.shape, "act")
        t1, t2 = h.new(x.shape, "work"), h.new(x.shape, "work")  # gamma * xhat, beta * mask
        y = h.new(x.shape, "act")
        h.drop(t1, t2, a, xc)
        return y, [xhat, "masked"]

    def bwd(self, h, dy, cache, need_dx):
        self.grads(h)
        if len(cache) == 2:  # masked: the NumPy expression, temporary by temporary
            d, g = h.new(dy.shape, "work"), h.new(dy.shape, "work")
            t1 = h.new(dy.shape, "work")
            t = h.new(dy.shape, "work")  # g * xhat, summed
            h.drop(t)
            t2 = h.new(dy.shape, "work")
            t3 = h.new(dy.shape, "work")
            h.drop(t1, t2)
            t4 = h.new(dy.shape, "work")
            h.drop(t3)
            dx = h.new(dy.shape, "work")
            h.drop(t4)
            t = h.new(dy.shape, "work")  # dy * xhat, summed
            h.drop(t, d, g)
            return dx
        if not self.numpy:
            return h.new(dy.shape, "work", pooled=True)
        g = h.new(dy.shape, "work")  # the NumPy expression of batchnorm_backward, temporary by temporary
        t1 = h.new(dy.shape, "work")
        gx = h.new(dy.shape, "work")
        h.drop(gx)
        t2 = h.new(dy.shape, "work")
        t3 = h.new(dy.shape, "work")
        h.drop(t1, t2)
        dx = h.new(dy.shape, "work")
        h.drop(t3)
        p = h.new(dy.shape, "work")
        h.drop(p, g)
        return dx


class _Dropout(_Layer):
    kind = "Dropout"

    def fwd(self, h, x):
        if not h.train:
            return h.ref(x), []
        return h.new(x.shape, "act"), []

    def bwd(self, h, dy, cache, need_dx):
        return h.new(dy.shape, "work")


class _LastStep(_Layer):
    kind = "LastStep"

    def __init__(self, split: int | None = None):
        self.split = split

    def fwd(self, h, x):
        if self.split is not None:  # each direction's final state: both halves copied, then gathered
            C = self.split
            halves = [h.new((*x.shape[:-1], C), "work"), h.new((*x.shape[:-1], x.shape[-1] - C), "work")]
            steps = [h.new(x.shape[1:-1] + (k.shape[-1],), "work") for k in halves]
            y = h.new(x.shape[1:], "act")
            h.drop(*halves, *steps)
            return y, [x.shape]
        if h.lengths:  # each sequence's own last step, gathered
            return h.new(x.shape[1:], "act"), [x.shape]
        return h.view(x, x.shape[1:]), [x.shape]

    def bwd(self, h, dy, cache, need_dx):
        shape = cache[0]
        if self.split is not None:
            C = self.split
            halves = [h.new((*shape[:-1], C), "work"), h.new((*shape[:-1], shape[-1] - C), "work")]
            dx = h.new(shape, "work")
            h.drop(*halves)
            return dx
        if h.lengths:
            return h.new(shape, "work")
        return h.new(shape, "work", pooled=True)


class _RNN(_Layer):
    kind = "RNN"

    def __init__(self, M, N):
        self.M, self.N = M, N
        self.params = ((M, N), (N, N), (N,))

    def fwd(self, h, x):
        T, B = x.shape[0], x.shape[1]
        copy = None if x.contiguous else h.new(x.shape, "work")
        t = h.new((T * B, self.N), "work", pooled=True)
        xw = h.new((T, B, self.N), "work")
        h.drop(t, copy)
        out = h.new((T, B, self.N), "act")
        _step_temporaries(h, (B, self.N), 3)
        h.drop(xw)
        return out, [h.ref(x), h.ref(out)]

    def bwd(self, h, dy, cache, need_dx):
        x = cache[0]
        T, B = x.shape[0], x.shape[1]
        da = h.new(dy.shape, "work")
        carry = h.new((B, self.N), "work")
        _step_temporaries(h, (B, self.N), 3)
        self.grads(h)
        dx = h.new(x.shape, "work", pooled=True, key_shape=(T * B, self.M))  # made even when not needed
        h.drop(da, carry)
        return dx


class _LSTM(_Layer):
    kind = "LSTM"

    def __init__(self, M, N):
        self.M, self.N = M, N
        self.params = ((M, 4 * N), (N, 4 * N), (4 * N,))

    def fwd(self, h, x):
        T, B, N = x.shape[0], x.shape[1], self.N
        copy = None if x.contiguous else h.new(x.shape, "work")
        t = h.new((T * B, 4 * N), "work", pooled=True)
        xw = h.new((T, B, 4 * N), "work")
        h.drop(t, copy)
        gates = h.new((T, B, 4 * N), "act")
        c = h.new((T, B, N), "act")
        out = h.new((T, B, N), "act")
        _step_temporaries(h, (B, 4 * N), 3)
        h.drop(xw)
        return out, [h.ref(x), gates, c, h.ref(out)]

    def bwd(self, h, dy, cache, need_dx):
        x = cache[0]
        T, B, N = x.shape[0], x.shape[1], self.N
        dz = h.new((T, B, 4 * N), "work")
        _step_temporaries(h, (B, 4 * N), 3)
        self.grads(h)
        dx = h.new(x.shape, "work", pooled=True, key_shape=(T * B, self.M))
        h.drop(dz)
        return dx


def _step_temporaries(h: _Heap, shape, n: int) -> None:
    """The (B, ·) arrays one step of a baseline's time loop holds at once."""
    arrays = [h.new(shape, "work", pooled=i == 0) for i in range(n)]
    h.drop(*arrays)


class _Seq(_Layer):
    kind = "Sequential"

    def __init__(self, layers, *, masks: bool = True):
        self.layers = list(layers)
        #: Called as a model (``forward``), not as a body (``_run``): with lengths it masks a copy of x.
        self.masks = masks

    def leaves(self):
        for layer in self.layers:
            yield from layer.leaves() if hasattr(layer, "leaves") else (layer,)

    def fwd(self, h, x):
        cur, caches = (h.new(x.shape, "work") if h.lengths and self.masks else h.ref(x)), []
        for layer in self.layers:
            y, cache = layer.fwd(h, cur)
            caches.append(cache)
            h.drop(cur)
            cur = y
        return cur, caches

    def bwd(self, h, dy, caches, need_dx=True):
        cur = h.ref(dy)
        for i, (layer, cache) in reversed(list(enumerate(zip(self.layers, caches, strict=True)))):
            dx = layer.bwd(h, cur, cache, need_dx or i > 0)
            h.drop(cur)
            cur = dx
        return cur


class _Residual(_Layer):
    kind = "Residual"

    def __init__(self, body: _Seq):
        self.body = body

    def leaves(self):
        return self.body.leaves()

    def fwd(self, h, x):
        y, cache = self.body.fwd(h, x)
        out = h.new(x.shape, "act")
        h.drop(y)
        return out, cache

    def bwd(self, h, dy, cache, need_dx):
        dx = self.body.bwd(h, dy, cache)
        out = h.new(dy.shape, "work")
        h.drop(dx)
        return out


class _DenseConnection(_Layer):
    kind = "DenseConnection"

    def __init__(self, body: _Seq, C: int, K: int):
        self.body, self.C, self.K = body, C, K

    def leaves(self):
        return self.body.leaves()

    def fwd(self, h, x):
        y, cache = self.body.fwd(h, x)
        out = h.new((*x.shape[:-1], self.C + self.K), "act")
        h.drop(y)
        return out, cache

    def bwd(self, h, dy, cache, need_dx):
        right = h.new((*dy.shape[:-1], self.K), "work")
        dx = self.body.bwd(h, right, cache)
        out = h.new((*dy.shape[:-1], self.C), "work")
        h.drop(dx, right)
        return out


class _Bidirectional(_Layer):
    """Two directions of one unit; the backward one reads (and sends back) reversed copies."""

    kind = "Bidirectional"

    def __init__(self, make):
        self.f, self.b = make(), make()

    def leaves(self):
        for d in (self.f, self.b):
            yield from d.leaves() if hasattr(d, "leaves") else (d,)

    def fwd(self, h, x):
        yf, cf = self.f.fwd(h, x)
        xr = h.new(x.shape, "work")  # x reversed
        yr, cb = self.b.fwd(h, xr)
        h.drop(xr)
        yb = h.new(yr.shape, "work")  # its output reversed back
        y = h.new((*yf.shape[:-1], yf.shape[-1] + yb.shape[-1]), "act")  # concatenated
        h.drop(yf, yr, yb)
        return y, [cf, cb, yf.shape[-1]]

    def bwd(self, h, dy, cache, need_dx):
        cf, cb, C = cache
        d_b = h.new((*dy.shape[:-1], dy.shape[-1] - C), "work")  # split: the right half copied
        d_f = h.new((*dy.shape[:-1], C), "work")  # and the left
        dx_f = self.f.bwd(h, d_f, cf, True)
        rev = h.new(d_b.shape, "work")
        dx_r = self.b.bwd(h, rev, cb, True)
        dx_b = h.new(dx_r.shape, "work")
        dx = h.new(dx_r.shape, "work")  # the sum
        h.drop(d_b, d_f, dx_f, rev, dx_r, dx_b)
        return dx


class _Net(_Seq):
    """The mirror of the model :func:`indrnn_np.train.build.model_of` builds for a configuration."""

    def __init__(self, cfg: TrainConfig, M: int, outputs: int, head: str):
        self.head = head
        if cfg.model != "indrnn":
            layers, N = _baseline(cfg, M, head)
        elif cfg.dense_blocks is not None:
            layers, N = _dense(cfg, M, head)
        else:
            layers, N = _indrnn(cfg, M, head)
        layers.append(_Dense(N, outputs))
        super().__init__(layers)

    def param_count(self) -> int:
        return sum(math.prod(s) for layer in self.leaves() for s in layer.params)

    def buffer_count(self) -> int:
        return sum(math.prod(s) for layer in self.leaves() for s in layer.buffers)


def _indrnn(cfg: TrainConfig, M: int, head: str):
    """build_indrnn's layers (``bidirectional``: each recurrent unit a pair, its output twice as wide)."""
    widths = cfg.layer_widths()
    bn, T, backend = cfg.bn, cfg.T, cfg.backend
    k = 2 if cfg.bidirectional else 1

    def norm(width):
        return _BatchNorm(width, bn, T, backend)

    def pair(make):
        return _Bidirectional(make) if cfg.bidirectional else make()

    layers: list[_Layer] = []
    if not cfg.residual:
        for i, width in enumerate(widths):
            m_in = M if i == 0 else k * widths[i - 1]
            if bn != "none" and cfg.bn_position == "before":

                def unit(m_in=m_in, width=width):
                    return [_Dense(m_in, width, bias=False), norm(width), _Recurrence(width)]

                layers += [_Bidirectional(lambda unit=unit: _Seq(unit()))] if cfg.bidirectional else unit()
            else:
                layers.append(pair(lambda m_in=m_in, width=width: _IndRNN(m_in, width, backend)))
                if bn != "none":
                    layers.append(norm(k * width))
            if cfg.dropout > 0:
                layers.append(_Dropout())
        N = k * widths[-1]
    else:
        C = k * widths[-1]  # the residual stream
        layers.append(pair(lambda: _IndRNN(M, widths[-1], backend)))
        if cfg.dropout > 0:
            layers.append(_Dropout())
        for _ in range(2, len(widths) + 1):
            body: list[_Layer] = []
            for j in (1, 2):
                if bn != "none":
                    body.append(norm(C))
                body += [pair(lambda: _Recurrence(C)), _Dense(k * C, C, bias=not (j == 1 and bn != "none"))]
            layers.append(_Residual(_Seq(body, masks=False)))
            if cfg.dropout > 0:
                layers.append(_Dropout())
        if bn != "none":
            layers.append(norm(C))
        layers.append(pair(lambda: _Recurrence(C)))
        N = k * C
    bn_head = bn != "none" and (cfg.residual or cfg.bn_position == "before")
    if head == "last":
        layers.append(_LastStep(split=N // 2 if cfg.bidirectional else None))
        if bn_head:
            layers.append(_BatchNorm(N, "time", T, backend))
    elif bn_head:
        layers.append(norm(N))
    return layers, N


def _dense(cfg: TrainConfig, M: int, head: str = "last"):
    """build_dense_indrnn's layers."""
    bn, T, backend, k = cfg.bn, cfg.T, cfg.backend, cfg.growth

    def unit(m_in, width):
        layers: list[_Layer] = [_Dense(m_in, width, bias=bn == "none")]
        if bn != "none":
            layers.append(_BatchNorm(width, bn, T, backend))
        return layers + [_Recurrence(width)]

    C = cfg.hidden
    layers: list[_Layer] = [_Seq(unit(M, C))]
    blocks = parse_widths(cfg.dense_blocks, "dense_blocks")
    for i, n_layers in enumerate(blocks, start=1):
        for _ in range(n_layers):
            body = unit(C, 4 * k) + unit(4 * k, k) + ([_Dropout()] if cfg.dropout > 0 else [])
            layers.append(_DenseConnection(_Seq(body, masks=False), C, k))
            C += k
        if i < len(blocks):
            layers.append(_Seq(unit(C, C // 2)))
            C //= 2
    if head == "last":
        layers.append(_LastStep())
        if bn != "none":
            layers.append(_BatchNorm(C, "time", T, backend))
    elif bn != "none":
        layers.append(_BatchNorm(C, bn, T, backend))
    return layers, C


def _baseline(cfg: TrainConfig, M: int, head: str = "last"):
    """build_baseline's layers."""
    widths = cfg.layer_widths()
    kind = _LSTM if cfg.model == "lstm" else _RNN
    layers: list[_Layer] = [kind(M if i == 0 else widths[i - 1], w) for i, w in enumerate(widths)]
    return [*layers, *([_LastStep()] if head == "last" else [])], widths[-1]


# --------------------------------------------------------------------------
# The phases of a run
# --------------------------------------------------------------------------


def task_shape(cfg: TrainConfig) -> tuple[int, int, str]:
    """``(inputs, outputs, head)`` of the task's network, without reading its data (PTB: :data:`PTB_VOCAB`;
    ``arrays``: from the ``.npz`` file, :func:`indrnn_np.tasks.arrays.npz_shape`)."""
    if cfg.task == "arrays":
        s = npz_shape(cfg.data, cfg.task_type)
        return s.inputs, s.outputs, s.head
    if cfg.task == "adding":
        return AddingTask.inputs, AddingTask.outputs, AddingTask.head
    if cfg.task in VARIANTS:
        return VARIANTS[cfg.task][1], MNISTTask.outputs, MNISTTask.head
    return PTB_VOCAB, PTB_VOCAB, "all"


def _adding_set(h: _Heap, T: int, n: int, part: str) -> _Array:
    """adding_batch(T, n): float64 values while x (T, n, 2) is filled; returns x with y (n, 1) folded in."""
    values = h.new((T, n), part, itemsize=8)
    x = h.new((T * n * 2 + n,), part)  # x (T, n, 2) and y (n, 1): the bytes of both, one array to drop
    h.drop(values)
    x.shape = (T, n, 2)
    return x


class _Run:
    """One run's phases on a heap: the data, the model, training steps, evaluations."""

    def __init__(self, cfg: TrainConfig, pool_bytes=None):
        self.cfg = cfg
        self.M, self.O, self.head = task_shape(cfg)
        self.net = _Net(cfg, self.M, self.O, self.head)
        pool = config.BUFFER_POOL_BYTES if pool_bytes is None else pool_bytes
        self.h = _Heap(np.dtype(cfg.dtype).itemsize, pool)
        self.P = self.net.param_count()
        self.test = self.loaded = None
        self.arrays = npz_shape(cfg.data, cfg.task_type) if cfg.task == "arrays" else None
        self.h.lengths = self.arrays is not None  # the arrays task's batches come with lengths

    def phase(self, name: str) -> None:
        self.h.phase = name

    def data(self) -> None:
        """The data set and the test set (task_of)."""
        h, cfg = self.h, self.cfg
        self.phase("reading the data and building the test set")
        if cfg.task == "adding":
            self.test = _adding_set(h, cfg.T, cfg.test_size, "test")
        elif self.arrays is not None:
            self._array_data()
        elif cfg.task in VARIANTS:
            h.new((MNIST_DATA_BYTES,), "data", itemsize=1)
        else:
            h.new((PTB_DATA_BYTES,), "data", itemsize=1)

    def _array_data(self) -> None:
        """task_from_npz: the file's arrays read; x as float64, then padded in the model's dtype (the
        training and test sets, or a held-out part copied out of one); the file's arrays let go."""
        h, s = self.h, self.arrays
        raw = h.new((s.file_bytes,), "data", itemsize=1)
        kept = []
        for (n, T), part in ((s.train, "data"), (s.test, "test")):
            as_float = h.new((n, T, s.inputs), part, itemsize=8)
            kept.append(h.new((n, T, s.inputs), part))
            kept.append(h.new((n * s.y_size,), part, itemsize=s.y_itemsize))
            kept.append(h.new((n,), part, itemsize=8))  # lengths
            h.drop(as_float)
        h.drop(raw)

    def model(self, *, optimizer=True, checkpoint=False) -> None:
        """Parameters (each drawn in float64 first), buffers, the optimizer's state; a checkpoint's arrays."""
        h = self.h
        self.phase("loading the checkpoint" if checkpoint else "building the model")
        opt_arrays = (2 if self.cfg.optimizer == "adam" else 1) if optimizer else 0
        if checkpoint:
            self.loaded = h.new((self.P * (1 + opt_arrays) + self.net.buffer_count(),), "checkpoint")
        for layer in self.net.leaves():
            for shape in layer.params:
                draw = h.new(shape, "params", itemsize=8)
                h.new(shape, "params")
                h.drop(draw)
            for shape in layer.buffers:
                h.new(shape, "params")
        if self.cfg.task in STATEFUL:  # the carried states, (B, N) per recurrent layer
            for layer in self.net.leaves():
                if isinstance(layer, _IndRNN | _Recurrence):
                    h.new((self.cfg.batch, layer.params[-1][0]), "params")
        for _ in range(opt_arrays):
            h.new((self.P,), "opt")

    def done_loading(self) -> None:
        """The checkpoint's arrays are let go once the model holds them (load_model returns)."""
        self.h.drop(self.loaded)
        self.loaded = None

    def batch(self, B: int, part="batch", *, view_of=None) -> _Array:
        """One batch (T, B, M) as the task makes it; ``view_of``: a strided chunk of a test set."""
        h, cfg, T, M = self.h, self.cfg, self.cfg.T, self.M
        if view_of is not None:
            return h.view(view_of, (T, B, M), contiguous=False)
        if h.lengths:  # x[idx, :T_b], samples first, then time-major (train_batch, predict)
            first = h.new((B, T, M), part)
            x = h.new((T, B, M), part)
            h.drop(first)
            return x
        if cfg.task == "adding":
            return _adding_set(h, T, B, part)
        if cfg.task in VARIANTS:  # the images as floats, scaled (and permuted), then time-major
            temps = [h.new((B, 784), part) for _ in range(2 + (cfg.task == "pmnist"))]
            x = h.new((T, B, M), part)
            h.drop(*temps)
            return x
        return h.new((T, B, M), part)  # one-hot characters

    def step(self, B=None, *, extra_per_indrnn=False) -> None:
        """A training step: the batch, forward, loss, backward, the optimizer's update.

        ``extra_per_indrnn``: also ∂J/∂a of every IndRNN layer kept to the end (the neuron analysis).
        """
        h, B = self.h, B or self.cfg.batch
        h.train, h.grads = True, []
        self.phase("training step")
        x = self.batch(B)
        pred, caches = self.net.fwd(h, x)
        dpred, loss_cache = self._loss(pred)
        h.extra = [] if extra_per_indrnn else None
        dx = self.net.bwd(h, dpred, caches, need_dx=False)
        h.drop(dx, dpred, pred, x, *loss_cache, *(h.extra or ()), *h.grads)
        h.drop_all(caches)
        h.extra = None

    def _loss(self, pred: _Array):
        """The gradient the loss sends back and the loss's cache (softmax over every step: (T, B, V) each)."""
        h = self.h
        if self.head == "all":
            shifted = h.new(pred.shape, "work")
            e = h.new(pred.shape, "work")
            h.drop(e)
            log_p = h.new(pred.shape, "work")
            h.drop(shifted)
            d = h.new(pred.shape, "work")
            out = h.new(pred.shape, "work")
            h.drop(d)
            return out, [log_p]
        return h.new(pred.shape, "work"), []

    def evaluate(self, chunk: int | None = None, n: int | None = None) -> None:
        """The task's evaluation: the test set ``chunk`` sequences at a time (its default), inference mode."""
        h, cfg = self.h, self.cfg
        h.train = False
        self.phase("evaluation")
        if self.arrays is not None:
            h.drop(self._predict(self.arrays.test[0], ARRAYS_EVAL_CHUNK))
            h.train = True
            return
        if cfg.task == "adding":
            n = n or cfg.test_size
            chunk = chunk or ADDING_EVAL_CHUNK
        elif cfg.task in VARIANTS:
            n, chunk = n or cfg.test_size, chunk or MNIST_EVAL_CHUNK
        else:
            n, chunk = PTB_EVAL_STREAMS, PTB_EVAL_STREAMS
        # a second chunk of the same size can peak higher than the first: by then the pool holds every
        # array of the chunk while the forward pass makes its unpooled ones (residual sums)
        sizes = [chunk] * min(2, n // chunk) + ([n % chunk] if n % chunk else [])
        for b in sizes:
            x = self.batch(b, "evaluation", view_of=self.test if cfg.task == "adding" else None)
            out, caches = self.net.fwd(h, x)
            h.drop(out, x)
            h.drop_all(caches)
        h.train = True

    def _predict(self, n: int, chunk: int, part: str = "evaluation") -> _Array:
        """tasks.arrays.predict over n sequences, ``chunk`` at a time: the outputs (n, K) or (n, T, K),
        each chunk as long as its longest sequence (the first has the longest: T)."""
        h, T, K = self.h, self.cfg.T, self.O
        per_step = self.head == "all"
        out = None
        for b in [chunk] * min(2, n // chunk) + ([n % chunk] if n % chunk else []):
            x = self.batch(b, "evaluation")
            y, caches = self.net.fwd(h, x)
            h.drop_all(caches)
            if per_step:  # (B, T, K) with its padding zeroed
                masked = h.new(y.shape, "evaluation")
                h.drop(masked)
            if out is None:
                out = h.new((n, T, K) if per_step else (n, K), part)
            h.drop(y, x)
        if per_step:  # the real steps' outputs gathered for the metric
            h.drop(h.new((n, T, K), "evaluation"))
        return out

    def runtime(self) -> None:
        self.h.live["runtime"] += RUNTIME_BYTES
        self.h._note()


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
    """

    what: str
    parts: dict
    phase: str
    levers: tuple = ()
    on_device: bool = False

    @property
    def total(self) -> int:
        """Bytes of host memory at the peak (GPU parts excluded)."""
        return sum(v for k, v in self.parts.items() if not (self.on_device and k in _DEVICE_PARTS))

    @property
    def device(self) -> int:
        """Bytes on the GPU at the peak (0 unless ``on_device``)."""
        return sum(v for k, v in self.parts.items() if self.on_device and k in _DEVICE_PARTS)


def _levers(cfg: TrainConfig, parts: dict) -> tuple:
    T = () if cfg.task in FIXED_T or cfg.task == "arrays" else ("--T",)  # arrays: T is the data's
    width = ("--growth",) if cfg.dense_blocks else ("--widths",) if cfg.widths else ("--hidden",)
    depth = () if cfg.widths else ("--layers",)
    by_part = {
        "act": ("--batch", *T, *width),
        "work": ("--batch", *T, *width),
        "pool": ("--batch", *T, *width),
        "grads": (*width, *depth),
        "evaluation": (*T, *width),
        "batch": ("--batch", *T),
        "test": (*(() if cfg.task == "arrays" else ("--test-size",)), *T),
        "params": (*width, *depth),
        "opt": (*width, *depth),
        "checkpoint": (*width, *depth),
    }
    weight: Counter = Counter()
    for part, nbytes in parts.items():
        for rank, option in enumerate(by_part.get(part, ())):
            weight[option] += nbytes / (rank + 1)  # an option that drives a part comes first
    return tuple(o for o, w in weight.most_common() if w > 0)[:3]


def _estimate(what: str, run: _Run) -> MemoryEstimate:
    parts = {k: int(v) for k, v in run.h.at_peak.items() if v > 0}
    return MemoryEstimate(
        what=what,
        parts=dict(sorted(parts.items(), key=lambda kv: list(PARTS).index(kv[0]))),
        phase=run.h.peak_phase,
        levers=_levers(run.cfg, parts),
        on_device=run.cfg.backend == "cuda",
    )


def _label(cfg: TrainConfig) -> str:
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
    run = _Run(cfg)
    run.runtime()
    run.data()
    for _ in range(extra_models):
        run.model(optimizer=False)
    run.model(checkpoint=resume)
    run.done_loading()
    run.step()
    run.evaluate()
    run.step()
    return _estimate(f"training {_label(cfg)}", run)


def estimate_evaluation(cfg: TrainConfig) -> MemoryEstimate:
    """The peak memory of ``evaluate``: the checkpoint loaded, the full test set evaluated."""
    run = _Run(cfg)
    run.runtime()
    run.data()
    run.model(checkpoint=True)
    run.done_loading()
    run.evaluate()
    return _estimate(f"evaluating {_label(cfg)}", run)


def estimate_prediction(cfg: TrainConfig, n: int, T: int, M: int) -> MemoryEstimate:
    """The peak memory of ``predict``: the file's x (n, T, M) read and padded, the run's checkpoint and
    task loaded, the n sequences predicted :data:`ARRAYS_EVAL_CHUNK` at a time, the predictions kept."""
    run = _Run(dataclasses.replace(cfg, T=T))
    h = run.h
    run.runtime()
    run.phase("reading the sequences")
    h.new((n, T, M), "data", itemsize=8)  # as read (at most float64)
    h.new((n, T, M), "data")  # padded, in the model's dtype
    run.data()
    run.model(checkpoint=True, optimizer=True)
    run.done_loading()
    h.lengths, h.train = True, False
    run.phase("prediction")
    run._predict(n, ARRAYS_EVAL_CHUNK, "evaluation")
    return _estimate(f"predicting {n} sequences of up to {T} steps with a {cfg.task} run", run)


def estimate_neurons(cfg: TrainConfig, fit_size: int = 2000) -> MemoryEstimate:
    """The peak memory of ``neurons``: the checkpoint, the states and gradients of :data:`NEURONS_CHUNK`
    test sequences at a time, and ``fit_size`` fresh sequences for the one-neuron model's output layer."""
    cfg = dataclasses.replace(cfg, backend="cpu")
    run = _Run(cfg)
    run.runtime()
    run.data()
    run.model(checkpoint=True)
    run.done_loading()
    chunk = min(NEURONS_CHUNK, cfg.test_size)
    run.evaluate(chunk=chunk)
    run.step(chunk, extra_per_indrnn=True)
    run.phase("fresh sequences for the output layer")
    fit = _adding_set(run.h, cfg.T, fit_size, "test")
    run.evaluate(chunk=min(NEURONS_CHUNK, fit_size), n=fit_size)
    run.h.drop(fit)
    return _estimate(f"the neuron analysis of {_label(cfg)}", run)


def estimate_layer_bench(T: int, B: int, M: int, N: int, itemsize: int) -> MemoryEstimate:
    """The peak memory of ``bench layer``: x and ∂J/∂h drawn in float64, forward and backward of one layer
    (the previous call's h and cache alive during the next)."""
    cfg = TrainConfig(T=T, batch=B, hidden=N, layers=1, dtype="float32" if itemsize == 4 else "float64")
    run = _Run(cfg)
    h = run.h
    run.runtime()
    run.phase("forward and backward of one layer")
    inputs = []
    for shape in ((T, B, M), (T, B, N)):
        draw = h.new(shape, "batch", itemsize=8)
        inputs.append(h.new(shape, "batch"))
        h.drop(draw)
    layer = _IndRNN(M, N)
    previous = []
    for _ in range(2):
        out, cache = layer.fwd(h, inputs[0])
        h.grads = []
        h.drop(layer.bwd(h, inputs[1], cache, True), *h.grads)
        h.drop_all(previous)
        previous = [out, cache]
    return dataclasses.replace(
        _estimate(f"bench layer, T = {T}, B = {B}, M = {M}, N = {N}", run), levers=("--T", "--B", "--N")
    )


def estimate_batchnorm_bench(T: int, B: int, N: int, layers: int) -> MemoryEstimate:
    """The peak memory of ``bench batchnorm``: two BN outputs kept, and a training step of the
    ``layers`` x ``N`` pixel-MNIST network with the NumPy batch norm."""
    cfg = TrainConfig(
        task="mnist", T=784, batch=B, hidden=N, layers=layers, bn="time", dropout=0.1, backend="numpy"
    )
    cfg = dataclasses.replace(cfg, T=T)
    run = _Run(cfg)
    run.runtime()
    h = run.h
    for _ in range(4):  # x, dy and the two backends' outputs
        h.new((T, B, N), "batch")
    run.model(optimizer=False)
    run.step()
    return dataclasses.replace(
        _estimate(f"bench batchnorm, T = {T}, B = {B}, N = {N}", run), levers=("--T", "--B", "--N")
    )


def estimate_step_bench(cfg: TrainConfig) -> MemoryEstimate:
    """The peak memory of ``bench train``: the model, the optimizer and training steps (no test set)."""
    run = _Run(dataclasses.replace(cfg, test_size=1))
    run.runtime()
    run.data()
    run.model()
    run.step()
    run.step()
    return dataclasses.replace(
        _estimate(f"bench train, {_label(cfg)}", run), levers=("--T", "--B", "--hidden")
    )


def param_count(cfg: TrainConfig) -> int:
    """The parameter count of ``cfg``'s model, without building it (the estimate's mirror of it)."""
    M, n_out, head = task_shape(cfg)
    return _Net(cfg, M, n_out, head).param_count()


def layer_kinds(cfg: TrainConfig) -> list[str]:
    """The kinds of the mirrored model's leaf layers, in order (IndRNN, Dense, BatchNorm, ...)."""
    M, n_out, head = task_shape(cfg)
    return [layer.kind for layer in _Net(cfg, M, n_out, head).leaves()]


# --------------------------------------------------------------------------
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


def check_fits(estimate: MemoryEstimate, available: Available | None = None) -> None:
    """Raise :class:`MemoryTooLarge` (one line: the estimate, what is available, what to lower) when the
    estimated peak exceeds the memory available; nothing when the check is off or nothing is known."""
    if not config.MEMORY_CHECK:
        return
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


def fits(estimate: MemoryEstimate, available: Available | None = None) -> bool:
    """False when the estimated peak exceeds what is available (:func:`check_fits` would refuse it,
    the check on); True when it fits or nothing is known of the memory."""
    available = available or available_memory()
    return available.bytes is None or estimate.total <= available.bytes + available.held


def describe(estimate: MemoryEstimate, available: Available | None = None) -> str:
    """The estimate, part by part, and what is available: what ``train ... --dry-run`` prints."""
    available = available or available_memory()
    lines = [f"{estimate.what}: about {_size(estimate.total)} of memory at its peak ({estimate.phase})"]
    width = max(len(PARTS[k]) for k in estimate.parts)
    for k, v in estimate.parts.items():
        where = " (on the GPU, not counted above)" if estimate.on_device and k in _DEVICE_PARTS else ""
        lines.append(f"  {PARTS[k]:<{width}}  {_size(v):>10}{where}")
    if available.bytes is None:
        lines.append(f"available: {available.source} (no check)")
    else:
        room = available.bytes + available.held
        verdict = "fits" if estimate.total <= room else "does NOT fit: the run would be refused"
        lines.append(f"available: {_size(room)} ({available.source}); {verdict}")
        if estimate.total > room and estimate.levers:
            lines.append(f"lower {_options(estimate.levers)}")
    return "\n".join(lines)
