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
from _common import FAST, save  # noqa: E402

from indrnn_np import cuda_available, indrnn_backward, indrnn_forward  # noqa: E402
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
np.testing.assert_allclose(h_cpu, h_ref, rtol=1e-5, atol=1e-6)


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
# synchronisation inside the loop: no thread needs another's column.

# %%
from indrnn_np.kernels import cuda as cuda_kernels  # noqa: E402

print(inspect.getsource(cuda_kernels._forward_kernel.py_func))

# %% [markdown]
# Backward runs the same loop in reverse, recomputing the ReLU mask from h,
# and keeps each column's sums for du and db in registers; a second kernel
# adds the B rows of each neuron in a fixed order, so results are identical
# from run to run. Under the simulator each GPU thread is a Python thread:
# tiny shapes only.

# %%
from indrnn_np.config import cuda_launch_config  # noqa: E402

assert cuda_available(), "numba-cuda is needed for this part: pip install 'indrnn-np[test]'"
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
np.testing.assert_allclose(h_gpu, h_np, rtol=1e-12)
for a, r in zip(g_gpu, g_np, strict=True):
    np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)
where = "Numba's CUDA simulator" if cuda_kernels.simulator_enabled() else "the GPU"
print(f"CUDA kernels on {where} agree with the NumPy reference (forward and every gradient)")

# %% [markdown]
# ## 4. The tiled GEMM
#
# Each block computes one TILE×TILE tile of C. Its threads load one tile of A
# and one of B into shared memory, wait (`syncthreads`), multiply, wait again
# before the next tiles overwrite them. Outside the matrix they load zeros,
# so shapes need not be multiples of the tile.

# %%
print(inspect.getsource(cuda_kernels._gemm_kernel).split("@cuda.jit")[1])
from numba import cuda  # noqa: E402

A, Bm = rng.standard_normal((7, 5)), rng.standard_normal((5, 9))
with cuda_launch_config(gemm_tile=4):
    C = cuda_kernels.gemm(cuda.to_device(A), cuda.to_device(Bm)).copy_to_host()
np.testing.assert_allclose(C, A @ Bm, rtol=1e-12)
print("7x5 @ 5x9 with 4x4 tiles: matches A @ B")

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(["NumPy loop", "Numba CPU"], [1e3 * t_ref, 1e3 * t_cpu])
ax.set_ylabel("forward recurrence (ms)")
ax.set_title(f"T={T}, B={B}, N={N}, float32")
save(fig, "07_cpu_kernels.png")
