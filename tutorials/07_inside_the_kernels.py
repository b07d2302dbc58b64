# %% [markdown]
# # 7. Inside the kernels: NumPy, Numba CPU, Numba CUDA
#
# The layer splits into a GEMM, $W x_t$ for all T steps at once (BLAS does
# it best), and the recurrence $h_t = \sigma(xw_t + u \odot h_{t-1} + b)$.
# Because $u$ is a vector, the recurrence is N·B independent scalar
# sequences, one per (b, n) column. Three implementations of it sit side by
# side in `indrnn_np/kernels/`, with the same names and arguments.
#
# This tutorial runs the CUDA kernels in Numba's simulator when there is no
# GPU: the switch has to be set before Numba is imported.

# %%
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # set NUMBA_ENABLE_CUDASIM=0 to use a real GPU

import inspect  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from indrnn_np import cuda_available, indrnn_backward, indrnn_forward  # noqa: E402
from indrnn_np.config import cuda_launch_config  # noqa: E402
from indrnn_np.experiments.tutorial import FAST, check, save  # noqa: E402
from indrnn_np.kernels import RELU, cpu, reference  # noqa: E402

# %% [markdown]
# ## 1. The reference: a Python loop over time, vectorised over (B, N)

# %%
print(inspect.getsource(reference.recurrence_forward).split('"""')[-1])

# %% [markdown]
# ## 2. The Numba CPU kernel: `prange` over blocks of columns, time inside
#
# Each task takes a block of batch rows (all N neurons), runs the whole time
# loop for it, and the tasks run in parallel. Inside, the innermost loop
# walks contiguous memory, so it vectorises. (The GPU's layout, one column
# per thread walking down time, jumps a whole (B, N) slice per load on a CPU:
# 4–5× slower there.)

# %%
print(inspect.getsource(cpu.recurrence_forward.py_func).split('"""')[-1])

# %%
rng = np.random.default_rng(0)
T, B, N = (200, 16, 64) if FAST else (1000, 50, 128)
xw = rng.standard_normal((T, B, N)).astype(np.float32)
u = rng.uniform(0, 1, N).astype(np.float32)
b = np.zeros(N, np.float32)
h0 = np.zeros((B, N), np.float32)
h_ref, h_cpu = np.empty_like(xw), np.empty_like(xw)
reference.recurrence_forward(xw, u, b, h0, RELU, h_ref)
cpu.recurrence_forward(xw, u, b, h0, RELU, h_cpu)  # first call compiles (or loads the cache)
# float32 against float32: the two differ by rounding (the Numba loop fuses multiply-adds), and a
# rounding error carried through T steps is relative to the largest state, not to each entry (an h
# near 0 that sits next to states of 27 may differ in its fifth digit). So the tolerance is a few
# float32 epsilons of the largest |h|: 6.5 of them measured at the full size.
err = float(np.abs(h_cpu - h_ref).max())
scale = float(np.abs(h_ref).max())
eps32 = np.finfo(np.float32).eps
print(f"largest difference {err:.2g} = {err / (eps32 * scale):.1f} float32 eps x max|h| ({scale:.3g})")
check(
    "the CPU kernel = the NumPy loop, float32",
    h_cpu,
    h_ref,
    rtol=0,
    atol=32 * eps32 * scale,
)


def best_of(fn, n=5):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_ref = best_of(lambda: reference.recurrence_forward(xw, u, b, h0, RELU, h_ref))
t_cpu = best_of(lambda: cpu.recurrence_forward(xw, u, b, h0, RELU, h_cpu))
print(f"T={T} B={B} N={N}: NumPy {1e3 * t_ref:.2f} ms, Numba {1e3 * t_cpu:.2f} ms ({t_ref / t_cpu:.1f}x)")

# %% [markdown]
# ## 3. The CUDA kernel: one thread per (b, n) column
#
# Thread `col` takes batch row `col // N` and neuron `col % N`. Neighbouring
# threads take neighbouring neurons, so at every step a warp of 32 threads
# reads 32 consecutive floats of `xw[t]`: one coalesced load. There is no
# synchronisation inside the loop: no thread needs another's column. The
# loop over `col` is a grid-stride loop: any B·N fits in a capped grid.

# %%
from indrnn_np.kernels import cuda as cuda_kernels  # noqa: E402
from indrnn_np.kernels.recurrence import cuda as recurrence_cuda  # noqa: E402

# a CUDA kernel is a module-level definition: its Python source is the function Numba compiles
print(inspect.getsource(recurrence_cuda.forward.py_func))

# %% [markdown]
# **The dtype pitfall.** The same kernel is compiled once per dtype (Numba
# compiles a new version for each signature it is launched with), and every
# constant in it is a float32 (`ZERO, ONE = np.float32(0), np.float32(1)` in
# `indrnn_np.kernels._cuda`): float32 in a float32 kernel, and widened exactly
# in a float64 one. Written the obvious way,
# `max(a, 0)` or `1 - h * h` or `acc = 0.0`, Numba types the Python number
# as float64, and `float32 op float64` is float64: the whole column's state
# would be carried in double precision, at a fraction of a GPU's float32
# speed. The simulator would never show it (it computes in NumPy, in the
# arrays' dtype); the compiled code does. With NVVM installed (the `cuda`
# extra) this counts the double-precision instructions in the PTX of the
# float32 kernel, and of a deliberately wrong one:

# %%
import re  # noqa: E402


def f64_in_ptx(py_func, sig):
    from numba.cuda.cudadrv import nvvm  # noqa: F401

    ptx, _ = cuda_kernels.cuda.compile_ptx(py_func, sig, cc=(9, 0))
    return len(re.findall(r"\.f64\b", ptx))


def relu_with_a_literal(x, out):  # the pitfall: max(x[i], 0) mixes float32 with an int
    for i in range(x.size):
        out[i] = max(x[i], 0) * 0.5


try:
    if cuda_kernels.simulator_enabled():
        raise RuntimeError("the simulator compiles nothing: run with NUMBA_ENABLE_CUDASIM=0 to count")
    sig = "void(float32[:, :, ::1], float32[::1], float32[::1], float32[:, ::1], int64, float32[:, :, ::1])"
    print(
        "forward, float32:",
        f64_in_ptx(recurrence_cuda.forward.py_func, sig),
        ".f64",
    )
    print(
        "relu with a literal 0:", f64_in_ptx(relu_with_a_literal, "void(float32[::1], float32[::1])"), ".f64"
    )
except Exception as exc:  # no NVVM here, or the simulator is on
    print("PTX not compiled here:", exc)

# %% [markdown]
# **Launch arithmetic.** A GPU refuses a block of more than 1024 threads and
# a grid of more than 65,535 blocks along y or z (2^31 - 1 along x). The
# launch sizes are checked before a launch, the recurrence kernels loop over
# their columns with a stride of the whole grid, and the GEMM puts its row
# tiles, T·B of them, on grid.x:

# %%
print("1e9 columns, 256 threads a block ->", cuda_kernels.launch_1d(10**9, 256), "(blocks, threads)")
print("GEMM of 4096·128 rows x 512 columns, tile 8 ->", cuda_kernels.gemm_grid(4096 * 128, 512, 8))
print(
    "dW of the adding problem (M=2, N=128, K=T·B=524,288): split into",
    cuda_kernels.split_k(524288, 2, 128, 16),
)
try:
    with cuda_launch_config(gemm_tile=64):
        pass
except ValueError as exc:
    print("refused:", exc)

# %% [markdown]
# Backward runs the same loop in reverse, recomputing the ReLU mask from h,
# and keeps each column's sums for du and db in registers; a second kernel
# adds the B rows of each neuron in a fixed order, so results are identical
# from run to run. Under the simulator each GPU thread is a Python thread:
# tiny shapes only.

# %%
assert cuda_available(), (
    "this part needs Numba's simulator (NUMBA_ENABLE_CUDASIM=1) or a GPU: pip install 'indrnn-np[cuda]'"
)
Ts, Bs, Ms, Ns = 6, 3, 4, 5
xs = rng.standard_normal((Ts, Bs, Ms))
Ws = rng.standard_normal((Ms, Ns))
us, bs = rng.uniform(-1, 1, Ns), rng.standard_normal(Ns)
dh = rng.standard_normal((Ts, Bs, Ns))
with cuda_launch_config(threads_per_block=8, gemm_tile=4):  # several blocks even at this size
    h_gpu, cache = indrnn_forward(xs, Ws, us, bs, backend="cuda")
    g_gpu = indrnn_backward(dh, cache)
h_np, cache_np = indrnn_forward(xs, Ws, us, bs, backend="numpy")
g_np = indrnn_backward(dh, cache_np)
where = "Numba's CUDA simulator" if cuda_kernels.simulator_enabled() else "the GPU"
print(f"CUDA kernels on {where} against the NumPy reference:")
check("h: CUDA = NumPy", h_gpu, h_np, rtol=1e-12)
for name, a, r in zip(g_np._fields, g_gpu, g_np, strict=True):
    check(f"{name}: CUDA = NumPy", a, r, rtol=1e-10, atol=1e-12)

# %% [markdown]
# ## 4. The tiled GEMM
#
# Each block computes one TILE×TILE tile of C. Its threads load one tile of A
# and one of B into shared memory, wait (`syncthreads`), multiply, wait again
# before the next tiles overwrite them. Outside the matrix they load zeros,
# so shapes need not be multiples of the tile. Every load has `threadIdx.x`
# along the array's contiguous axis (a transposed operand is read along its
# rows and stored transposed into a tile padded by one column), and with
# `splits > 1` each block sums one range of K and a second kernel adds the
# ranges in a fixed order (split-K, for dW).

# %%
from indrnn_np.kernels.gemm import cuda as gemm_cuda  # noqa: E402

# the kernel is built once per tile size (the shared tiles' shape is a compile-time constant)
print(inspect.getsource(gemm_cuda.gemm_kernel))
from numba import cuda  # noqa: E402

A, Bm = rng.standard_normal((7, 5)), rng.standard_normal((5, 9))
# (`indrnn_np.ops.device.gemm` runs cuBLAS on a GPU; the teaching kernel is `tiled_gemm`.)
with cuda_launch_config(gemm_tile=4):
    C = cuda_kernels.tiled_gemm(cuda.to_device(A), cuda.to_device(Bm), out=cuda.device_array((7, 9)))
    C = C.copy_to_host()
check("the tiled GEMM = A @ B", C, A @ Bm, rtol=1e-12)
with cuda_launch_config(gemm_tile=4):
    Ct = cuda_kernels.tiled_gemm(
        cuda.to_device(A.T.copy()), cuda.to_device(Bm), trans_a=True, out=cuda.device_array((7, 9)), splits=2
    ).copy_to_host()
check("the tiled GEMM, A stored transposed, K split in two = A @ B", Ct, A @ Bm, rtol=1e-12)

# %% [markdown]
# ## 5. A training step that stays on the device
#
# `to_device` moves a model's parameters (and batch-norm statistics) to the
# GPU once; every layer then runs CUDA kernels on device arrays: the GEMMs,
# the recurrence, batch norm, the loss, the fused Adam update with the u
# projection. The host sends the batch and gets back one small array a step:
# the loss and each gradient's two sums of squares, which decide the
# norm clipping and whether the step was finite.

# %%
from indrnn_np.nn import Adam, build_indrnn, to_device  # noqa: E402
from indrnn_np.ops.device import is_device  # noqa: E402
from indrnn_np.train import train_step  # noqa: E402

net = to_device(build_indrnn(5, 2, 1, hidden=4, bn="time", dtype=np.float32))
opt = Adam(net.params, lr=1e-2, u_max=2 ** (1 / 5), backend="cuda")
xb, yb = rng.random((5, 3, 2)).astype(np.float32), rng.random((3, 1)).astype(np.float32)
with cuda_launch_config(threads_per_block=32, gemm_tile=4):
    losses = [train_step(net, opt, xb, yb, clip_value=10.0).loss for _ in range(3)]
print("parameters on the device:", all(is_device(v) for v in net.params.values()))
print("losses of three steps on one batch:", np.round(losses, 4))
assert losses[-1] < losses[0]

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(["NumPy loop", "Numba CPU"], [1e3 * t_ref, 1e3 * t_cpu])
ax.set_ylabel("forward recurrence (ms)")
ax.set_title(f"T={T}, B={B}, N={N}, float32")
save(
    fig,
    "07_cpu_kernels.png",
    caption=(
        "The forward recurrence on the CPU: the plain NumPy loop over time against the Numba kernel, the "
        "same float32 arithmetic (checked above), in milliseconds (lower is faster)."
    ),
)
