"""The fused small-input layer in Numba CUDA: the twins of :mod:`.reference` (same names and arguments).

Twins of reference.fused_forward and fused_backward (W x_t inside the recurrence; no (T, B, N) array
of W x_t or of ∂J/∂a). Forward keeps the recurrence's layout, one thread per (b, n) column, and adds
W x_t's M multiply-adds in the thread (x_t[b, m] is the same for every thread of a row: one broadcast
load). Backward also needs ∂J/∂x_t[b, m] = Σ_n ∂J/∂a_t[b, n] W[m, n], a sum across the threads of a
row, so a block takes one batch row and a chunk of at most FUSED_WIDTH neurons, one thread a neuron.
Each thread leaves its ∂J/∂a_t of the last FUSED_STEPS steps in shared memory; every FUSED_STEPS
steps the block synchronises once and its threads share out the (step, m) outputs, each summing over
the chunk's neurons in order (deterministic, no atomics, two syncthreads per FUSED_STEPS steps rather
than a tree of them per step). A chunk's sums go to dx_part (chunks, T, B, M), added over the chunks
in order when N needs more than one. dW: each thread sums its column's x_t[b, m] ∂J/∂a_t[b, n] into
dW_part[b, m, n], reduced over the batch as du and db are. Checked in the simulator and compiled to
PTX, not yet timed on a GPU (config.FUSE_MAX_M comes from CPU measurements).

In reverse time (``reverse``, a bidirectional layer's backward direction; see
:mod:`..recurrence.reference`) each column maps its loop's step to its row's time index; the backward
fills its shared-memory groups by loop step, so a group's dx rows are mapped back to time the same way.
"""

from __future__ import annotations

from numba import cuda

from ... import config
from .._cuda import ZERO, device_array
from ..elementwise.cuda import sum_splits
from ..launch import MAX_STRIDE_BLOCKS, blocks, check_launch_config
from ..recurrence.cuda import activate, derivative, time_of, whole_lengths

#: The fused backward's shared-memory sizes, from the config module (compile-time constants).
FUSED_STEPS = config.CUDA_FUSED_STEPS
FUSED_WIDTH = config.CUDA_FUSED_WIDTH
STEPS = FUSED_STEPS
PADDED = FUSED_WIDTH + 1  # compile-time constants, as shared array shapes must be


@cuda.jit
def forward(x, W, u, b, h0, act, h, lengths, reverse):
    T, B, M = x.shape
    N = W.shape[1]
    for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
        bi = col // N
        n = col % N
        un = u[n]
        bn = b[n]
        h_prev = h0[bi, n]
        L = lengths[bi]
        for s_ in range(T):
            t = time_of(s_, L, reverse)
            # W x_t: M multiply-adds
            s = ZERO
            for m in range(M):
                s += x[t, bi, m] * W[m, n]
            # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
            h_prev = activate(s + un * h_prev + bn, act)
            h[t, bi, n] = h_prev


@cuda.jit
def backward(dh, x, h, W, u, h0, act, need_dx, dx_part, dW_part, du_part, db_part, dh0, lengths, reverse):
    T, B, N = dh.shape
    M = x.shape[2]
    width = cuda.blockDim.x
    chunks = (N + width - 1) // width
    j = cuda.threadIdx.x
    # ∂J/∂a of the block's neurons over the last FUSED_STEPS steps; rows padded by one (banks)
    da_steps = cuda.shared.array((STEPS, PADDED), dh.dtype)
    # one (row, chunk) a block, a grid-stride loop over them: every thread of a block takes the same path
    for task in range(cuda.blockIdx.x, B * chunks, cuda.gridDim.x):
        bi = task // chunks
        chunk = task % chunks
        n0 = chunk * width
        n = n0 + j
        live = n < N  # threads past N add zeros to the block's sums
        un = u[n] if live else ZERO
        carry = ZERO  # u ⊙ ∂J/∂a_{t+1}
        du_acc = ZERO
        db_acc = ZERO
        L = lengths[bi]
        # then h_{t-1} of one step is h_t of the next
        h_t = h[time_of(T - 1, L, reverse), bi, n] if live and T > 0 else ZERO
        if live:
            for m in range(M):
                dW_part[bi, m, n] = ZERO
        for s_ in range(T - 1, -1, -1):
            t = time_of(s_, L, reverse)
            g = ZERO
            if live:
                # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t), σ' recomputed from h_t
                g = (dh[t, bi, n] + carry) * derivative(h_t, act)
                h_t = h[time_of(s_ - 1, L, reverse), bi, n] if s_ > 0 else h0[bi, n]  # h_{t-1}
                du_acc += g * h_t  # ∂a_t/∂u = h_{t-1}
                db_acc += g  # ∂a_t/∂b = 1
                carry = un * g  # ∂a_t/∂h_{t-1} = u
                for m in range(M):
                    dW_part[bi, m, n] += x[t, bi, m] * g  # ∂a_t[n]/∂W[m, n] = x_t[m]
            k = (
                s_ % STEPS
            )  # by loop step, not time: in reverse time t runs up (the row's L, shared by the block)
            da_steps[k, j] = g
            if need_dx and k == 0:  # loop steps s_ .. s_ + filled - 1 are all in: add them into dx
                cuda.syncthreads()
                filled = min(STEPS, T - s_)
                cols = min(width, N - n0)
                for o in range(j, filled * M, width):
                    kk = o // M
                    m = o % M
                    # ∂J/∂x_t[m] = Σ_n ∂J/∂a_t[n] W[m, n], over this chunk's neurons in order
                    s = ZERO
                    for c in range(cols):
                        s += da_steps[kk, c] * W[m, n0 + c]
                    dx_part[chunk, time_of(s_ + kk, L, reverse), bi, m] = s
                cuda.syncthreads()  # all read before the next steps overwrite
        if live:
            dh0[bi, n] = carry
            du_part[bi, n] = du_acc
            db_part[bi, n] = db_acc


def fused_launch(B: int, N: int) -> tuple[int, int, int]:
    """(blocks, threads per block, chunks) of the fused backward: a block per (batch row, chunk of
    neurons), a chunk as wide as the block, the block at most the configured size and FUSED_WIDTH, and
    no wider than N rounded up to a warp."""
    width = min(config.CUDA_THREADS_PER_BLOCK, FUSED_WIDTH, max(32, -(-N // 32) * 32))
    check_launch_config(width, 1)
    chunks = max(1, -(-N // width))
    return max(1, min(B * chunks, MAX_STRIDE_BLOCKS)), width, chunks


def fused_forward(x, W, u, b, h0, act, h, lengths=None, reverse=False):
    """The layer's forward with ``W x_t`` inside the recurrence, on the GPU (``reverse``: in reverse
    time); see the reference. Device arrays (or host arrays, copied)."""
    T, B, M = x.shape
    N = W.shape[1]
    grid, tpb = blocks(B * N)
    forward[grid, tpb](x, W, u, b, h0, act, h, whole_lengths(lengths, T, B), bool(reverse))


def fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0, lengths=None, reverse=False):
    """BPTT of :func:`fused_forward` on the GPU; see the reference. ``dx`` None skips ∂J/∂x."""
    T, B, N = dh.shape
    M = x.shape[2]
    grid, width, chunks = fused_launch(B, N)
    if dx is None:
        dx_part = device_array((1, 1, 1, 1), dtype=dh.dtype)  # not written
    elif chunks == 1:
        dx_part = dx.reshape(1, T, B, M)
    else:
        dx_part = device_array((chunks, T, B, M), dtype=dh.dtype)
    backward[grid, width](
        dh,
        x,
        h,
        W,
        u,
        h0,
        act,
        dx is not None,
        dx_part,
        dW_part,
        du_part,
        db_part,
        dh0,
        whole_lengths(lengths, T, B),
        bool(reverse),
    )
    if dx is not None and chunks > 1:  # the chunks' sums added in order
        g, tpb = blocks(T * B * M)
        sum_splits[g, tpb](dx_part.reshape(chunks, T * B, M), dx.reshape(T * B, M))
