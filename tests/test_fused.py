"""The fused small-input kernels (``W x_t`` inside the recurrence): the same layer as the GEMM path.

For M <= config.FUSE_MAX_M the CPU and CUDA layer ops run ``fused_forward``/``fused_backward`` (no
(T, B, N) array of W x_t or of ∂J/∂a). Every claim is checked against the unfused path of the same
backend (the GEMM and the recurrence kernels, forced with FUSE_MAX_M = 0), which the rest of the suite
checks against the NumPy reference and finite differences; and the fused path gets its own finite
differences. The NumPy backend never fuses (it is the plain path, the specification): under the name
"numpy" here run the fused reference twins, the specification of the CPU and CUDA fused kernels,
against that plain path.
CUDA runs in Numba's simulator on tiny shapes, with 8-thread blocks so that the backward's neuron
chunks, its partial groups of FUSED_STEPS steps and its threads past N all occur.
"""

import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from conftest import assert_close, tolerance

from indrnn_np import IndRNNGrads, config, cuda_available, indrnn_backward, indrnn_forward
from indrnn_np.config import cuda_launch_config
from indrnn_np.gradcheck import check_gradients
from indrnn_np.kernels import ACTIVATIONS, cpu
from indrnn_np.kernels import reference as ref
from indrnn_np.ops.sequences import mask_padding

ACTS = list(ACTIVATIONS)
SMALL = dict(threads_per_block=8, gemm_tile=4)
#: Host shapes: B = 40 rows of N = 40 neurons make 4 CPU tasks of 12, 12, 12 and 4 rows.
HOST_SHAPE = dict(T=9, B=40, N=40)
#: Simulator shapes: N = 20 in 8-thread blocks (3 chunks, 4 idle threads in the last); each thread is a
#: Python thread, so T is short here (test_kernel_twins_agree_and_skip_dx runs T > FUSED_STEPS).
CUDA_SHAPE = dict(T=7, B=2, N=20)
LENGTHS = {2: np.array([7, 3]), 40: np.array([9, 1, 5, 7] * 10)}


def _backends():
    marks = [] if cuda_available() else [pytest.mark.skip(reason="the CUDA backend cannot load here")]
    return ["numpy", "cpu", pytest.param("cuda", marks=[pytest.mark.cudasim, *marks])]


def _inputs(T, B, M, N, dtype=np.float64, seed=0):
    """x, W, u, b, h0, dh; u spans [-1.3, 1.3] (u < 0 and u > 1 both present), h0 != 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, M))
    W = rng.standard_normal((M, N)) / np.sqrt(M)
    u = np.linspace(-1.3, 1.3, N)
    b = 0.1 * rng.standard_normal(N)
    h0 = rng.standard_normal((B, N))
    dh = rng.standard_normal((T, B, N))
    return [a.astype(dtype) for a in (x, W, u, b, h0, dh)]


def _layer(backend, x, W, u, b, h0, dh, activation, *, fused, lengths=None, need_dx=True):
    """h and the gradients through the fused path, or (fused=False) through the GEMM path; with
    backend "numpy", the fused path is the reference twins (:func:`_reference_fused`)."""
    if backend == "numpy" and fused:
        return _reference_fused(x, W, u, b, h0, dh, activation, lengths, need_dx)
    saved = config.FUSE_MAX_M
    config.FUSE_MAX_M = 64 if fused else 0
    try:
        with cuda_launch_config(**SMALL):
            h, cache = indrnn_forward(x, W, u, b, h0, activation=activation, backend=backend, lengths=lengths)
            return h, indrnn_backward(dh, cache, need_dx=need_dx)
    finally:
        config.FUSE_MAX_M = saved


def _reference_fused(x, W, u, b, h0, dh, activation, lengths=None, need_dx=True):
    """The fused reference twins run as the op runs the CPU's: the padding of x and dh zeroed, the
    kernels, h's padding zeroed, the per-row sums of dW, du and db summed over the batch."""
    act = ACTIVATIONS[activation]
    (T, B, M), N = x.shape, W.shape[1]
    if lengths is not None:
        x, dh = mask_padding(x, lengths), mask_padding(dh, lengths)
    h = np.empty((T, B, N), x.dtype)
    steps = np.full(B, T) if lengths is None else np.asarray(lengths)
    ref.fused_forward(x, W, u, b, h0, act, h, steps, False)
    if lengths is not None:
        mask_padding(h, lengths, copy=False)
    dx = np.empty_like(x) if need_dx else None
    dW_part = np.empty((B, M, N), x.dtype)
    dh0, du_part, db_part = np.empty_like(h0), np.empty_like(h0), np.empty_like(h0)
    ref.fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0, steps, False)
    return h, IndRNNGrads(dx, dW_part.sum(axis=0), du_part.sum(axis=0), db_part.sum(axis=0), dh0)


def _shape(backend):
    return CUDA_SHAPE if backend == "cuda" else HOST_SHAPE


def _assert_same(out, ref_out, tol):
    """h and every gradient of ``out`` within ``tol`` of ``ref_out`` (relative, see assert_close)."""
    (h, g), (h_ref, g_ref) = out, ref_out
    assert_close(h, h_ref, tol, "h")
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        if r is None:
            assert a is None, name
        else:
            assert_close(a, r, tol, name)


@pytest.mark.parametrize("M", [1, 2, 3])
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("backend", _backends())
def test_fused_equals_unfused_float64(backend, activation, M):
    s = _shape(backend)
    x, W, u, b, h0, dh = _inputs(s["T"], s["B"], M, s["N"])
    fused = _layer(backend, x, W, u, b, h0, dh, activation, fused=True)
    assert fused[0].dtype == np.float64 and all(a.dtype == np.float64 for a in fused[1])
    _assert_same(fused, _layer(backend, x, W, u, b, h0, dh, activation, fused=False), 1e-12)


@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("backend", _backends())
def test_fused_with_lengths_and_without_dx(backend, need_dx):
    """Padding holds NaN and 1e30 in x and dh: none of it may reach a real value."""
    s = _shape(backend)
    x, W, u, b, h0, dh = _inputs(s["T"], s["B"], 2, s["N"], seed=1)
    lengths = LENGTHS[s["B"]]
    for a in (x, dh):
        for i, n in enumerate(lengths):
            a[n:, i] = np.nan if i % 2 else 1e30
    kw = dict(lengths=lengths, need_dx=need_dx)
    fused = _layer(backend, x, W, u, b, h0, dh, "tanh", fused=True, **kw)
    unfused = _layer(backend, x, W, u, b, h0, dh, "tanh", fused=False, **kw)
    _assert_same(fused, unfused, 1e-12)
    assert (fused[1].dx is None) == (not need_dx)
    assert np.all(np.isfinite(fused[0])) and all(np.all(np.isfinite(a)) for a in fused[1] if a is not None)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("backend", _backends())
def test_fused_float32_against_float64(backend, activation):
    s = _shape(backend)
    arrays = _inputs(s["T"], s["B"], 2, s["N"], dtype=np.float32, seed=2)
    h, g = _layer(backend, *arrays, activation, fused=True)
    ref_out = _layer("numpy", *(a.astype(np.float64) for a in arrays), activation, fused=False)
    assert h.dtype == np.float32 and all(a.dtype == np.float32 for a in g)
    _assert_same((h, g), ref_out, tolerance(np.float32, s["T"] * s["B"]))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("backend", ["cpu"])
def test_fused_path_matches_finite_differences(backend, activation):
    assert 2 <= config.FUSE_MAX_M  # M = 2 below runs the fused kernels
    rng = np.random.default_rng(3)
    T, B, M, N = 6, 3, 2, 5
    inputs = dict(
        x=rng.standard_normal((T, B, M)),
        W=rng.standard_normal((M, N)),
        u=rng.uniform(-1.2, 1.2, N),
        b=0.1 * rng.standard_normal(N),
        h0=rng.standard_normal((B, N)),
    )
    if activation == "relu":  # the kink at 0: inputs whose pre-activations stay away from it
        h, _ = indrnn_forward(**inputs, activation="relu", backend="numpy")
        h_prev = np.concatenate([inputs["h0"][None], h[:-1]])
        a = inputs["x"] @ inputs["W"] + inputs["u"] * h_prev + inputs["b"]
        assert np.min(np.abs(a)) > 1e-4

    def forward(**kw):
        return indrnn_forward(**kw, activation=activation, backend=backend)

    for r in check_gradients(forward, indrnn_backward, inputs, seed=4):
        assert r.rel_error < 1e-7, (r.name, r.rel_error)


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="the CUDA backend cannot load here")
def test_fused_cuda_matches_finite_differences():
    """Tiny: each perturbed forward pass is simulated thread by thread."""
    rng = np.random.default_rng(5)
    T, B, M, N = 3, 1, 2, 3
    inputs = dict(
        x=rng.standard_normal((T, B, M)),
        W=rng.standard_normal((M, N)),
        u=rng.uniform(-1.2, 1.2, N),
        b=0.1 * rng.standard_normal(N),
        h0=rng.standard_normal((B, N)),
    )

    def forward(**kw):
        with cuda_launch_config(threads_per_block=2):
            return indrnn_forward(**kw, activation="tanh", backend="cuda")

    def backward(dh, cache):
        with cuda_launch_config(threads_per_block=2):
            return indrnn_backward(dh, cache)

    for r in check_gradients(forward, backward, inputs, seed=6):
        assert r.rel_error < 1e-7, (r.name, r.rel_error)


def test_fused_cpu_does_not_depend_on_the_thread_count():
    x, W, u, b, h0, dh = _inputs(20, 40, 3, 40, dtype=np.float32, seed=7)
    before = numba.get_num_threads()
    runs = []
    try:
        for n in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n)
            runs.append(_layer("cpu", x, W, u, b, h0, dh, "relu", fused=True))
    finally:
        numba.set_num_threads(before)
    (h1, g1), (h2, g2) = runs
    np.testing.assert_array_equal(h1, h2)
    for a, c in zip(g1, g2, strict=True):
        np.testing.assert_array_equal(a, c)


def _kernel_modules():
    mods = [ref, cpu]
    if cuda_available():
        from indrnn_np.kernels import cuda as ck

        mods.append(ck)
    return mods


@pytest.mark.cudasim
@pytest.mark.parametrize("N", [5, 20])
@pytest.mark.parametrize("act", list(ACTIVATIONS.values()))
def test_kernel_twins_agree_and_skip_dx(act, N):
    """The three modules' kernels, called directly with the shared signature, dx None included.

    T = 35 > FUSED_STEPS: the CUDA backward adds one full group of steps into dx and one partial; in
    8-thread blocks N = 5 is one chunk (dx written directly), N = 20 three (dx_part, then their sum)."""
    T, B, M = 35, 2, 3
    x, W, u, b, h0, dh = _inputs(T, B, M, N, seed=8)
    results = []
    for k in _kernel_modules():
        with cuda_launch_config(**SMALL):
            h = np.empty((T, B, N))
            k.fused_forward(x, W, u, b, h0, act, h, np.full(B, T), False)
            outs = [np.empty((T, B, M)), np.empty((B, M, N)), *(np.empty((B, N)) for _ in range(3))]
            k.fused_backward(dh, x, h, W, u, h0, act, *outs, np.full(B, T), False)
            no_dx = [np.empty((B, M, N)), *(np.empty((B, N)) for _ in range(3))]
            k.fused_backward(dh, x, h, W, u, h0, act, None, *no_dx, np.full(B, T), False)
        for a, c in zip(outs[1:], no_dx, strict=True):
            np.testing.assert_array_equal(a, c)  # dx None changes nothing else
        results.append((h, *outs))
    for other in results[1:]:
        for a, r in zip(other, results[0], strict=True):
            assert_close(a, r, 1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_fused_larger_shapes(dtype):
    """On a real GPU, default launch sizes: N = 130 is two chunks of FUSED_WIDTH (the second two
    neurons wide), T = 300 many groups of FUSED_STEPS; against the CPU's GEMM path in float64."""
    T, B, M, N = 300, 37, 2, 130
    x, W, u, b, h0, dh = _inputs(T, B, M, N, seed=9)
    u = np.clip(u, -1.0, 1.0)  # 300 steps: no growth
    h_ref, g_ref = _layer("cpu", x, W, u, b, h0, dh, "relu", fused=False)
    cast = [a.astype(dtype) for a in (x, W, u, b, h0, dh)]
    h, cache = indrnn_forward(*cast[:5], activation="relu", backend="cuda")
    g = indrnn_backward(cast[5], cache)
    _assert_same((h, g), (h_ref, g_ref), 1e-11 if dtype == np.float64 else tolerance(np.float32, T * B))


def test_fuse_max_m_chooses_the_path(monkeypatch):
    """On the CPU, M <= FUSE_MAX_M runs the fused kernels, larger M (and FUSE_MAX_M = 0) the GEMM path;
    the NumPy backend always runs the GEMM path (the plain path, the specification)."""
    calls = []
    for module in (ref, cpu):
        monkeypatch.setattr(module, "fused_forward", lambda *a, m=module: calls.append(("fused", m)))
        monkeypatch.setattr(module, "recurrence_forward", lambda *a, m=module: calls.append(("gemm", m)))
    x, W, u, b, *_ = _inputs(2, 1, 3, 4)
    for knob, expected in ((3, "fused"), (2, "gemm"), (0, "gemm")):
        monkeypatch.setattr(config, "FUSE_MAX_M", knob)
        indrnn_forward(x, W, u, b, backend="cpu")
        assert calls.pop() == (expected, cpu), knob
        indrnn_forward(x, W, u, b, backend="numpy")
        assert calls.pop() == ("gemm", ref), knob


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="the CUDA backend cannot load here")
def test_fused_launch_arithmetic():
    from indrnn_np.kernels import cuda as ck

    assert ck.fused_launch(50, 128) == (50, 128, 1)  # the adding problem: a block per batch row
    assert ck.fused_launch(50, 40) == (50, 64, 1)  # N rounded up to whole warps
    assert ck.fused_launch(3, 1000) == (3 * 8, 128, 8)  # wider layers: chunks of FUSED_WIDTH
    with cuda_launch_config(threads_per_block=8):
        assert ck.fused_launch(2, 20) == (6, 8, 3)
    assert ck.fused_launch(10**6, 128)[0] == ck.MAX_STRIDE_BLOCKS  # grid-stride over the rest


# Numba disables inspection of code loaded from its cache: the kernels compile afresh in a subprocess.
_PROBE = textwrap.dedent(
    """
    import json, re
    import numpy as np
    from indrnn_np.kernels import cpu
    out = {}
    pattern = r"fpext float[^\\n]* to double|(fadd|fsub|fmul|fdiv|fcmp)[a-z ]* (<\\d+ x )?double|<\\d+ x double>"
    for dt in (np.float32, np.float64):
        T, B, M, N = 5, 3, 2, 4
        x = np.random.rand(T, B, M).astype(dt); W = np.random.rand(M, N).astype(dt)
        u = np.random.rand(N).astype(dt); b = np.zeros(N, dt); h0 = np.zeros((B, N), dt)
        h = np.empty((T, B, N), dt)
        cpu.fused_forward(x, W, u, b, h0, 1, h, np.full(B, T), False)
        parts = [np.empty((B, M, N), dt)] + [np.empty((B, N), dt) for _ in range(3)]
        cpu.fused_backward(h, x, h, W, u, h0, 1, np.empty_like(x), *parts, np.full(B, T), False)
        cpu.fused_backward(h, x, h, W, u, h0, 1, None, *parts, np.full(B, T), False)
    for k in (cpu.fused_forward, cpu.fused_backward, cpu._dot):
        for sig, ir in k.inspect_llvm().items():
            key = k.__name__ + ":" + str(sig[0].dtype) + (":no_dx" if len(sig) > 7 and str(sig[7]) == "none" else "")
            # not the CPython wrapper, which boxes _dot's float32 result as a Python float (a double)
            body = [f for f in ir.split("\\ndefine ") if "@_ZN7cpython" not in f.split("\\n", 1)[0]]
            out[key] = sum(len(re.findall(pattern, f)) for f in body)
    print(json.dumps(out))
    """
)


def test_float32_fused_cpu_kernels_have_no_double_precision_arithmetic(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["fused_forward:float64"] > 0 and counts["fused_backward:float64"] > 0  # the detector works
    assert counts["_dot:float64"] > 0
    assert {k: v for k, v in counts.items() if ":float32" in k and v} == {}
    assert len(counts) == 2 * 4  # forward, backward with and without dx, _dot; both dtypes
