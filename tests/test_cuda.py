"""CUDA kernels, checked against the NumPy reference exactly as the CPU kernels are.

By default (conftest) these run in Numba's CUDA simulator on tiny shapes, with
the launch sizes turned down so that several blocks run. On a machine with a
GPU, ``NUMBA_ENABLE_CUDASIM=0 python -m pytest -m "cudasim or gpu"`` runs the
same tests on the device, plus the ``gpu``-marked ones at larger sizes.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import assert_close, ptx_compile_missing, tolerance

from indrnn_np import IndRNNGrads, config, cuda_available, indrnn_backward, indrnn_forward
from indrnn_np.config import cuda_launch_config
from indrnn_np.gradcheck import check_indrnn, indrnn_check_inputs
from indrnn_np.ops import device

pytestmark = pytest.mark.cudasim

if not cuda_available():  # pragma: no cover - numba-cuda missing
    pytest.skip("the CUDA backend cannot be loaded here (numba-cuda missing?)", allow_module_level=True)

from numba import cuda  # noqa: E402

from indrnn_np.kernels import cuda as ck  # noqa: E402

ACTIVATIONS = ["relu", "tanh", "identity"]
SMALL = dict(threads_per_block=8, gemm_tile=4)  # several blocks even at these shapes


def _inputs(T, B, M, N, activation, dtype, seed=0):
    inp = indrnn_check_inputs(T, B, M, N, activation=activation, seed=seed, margin=0.0)
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in inp.items()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_cuda_matches_reference(activation, dtype):
    T, B, M, N = 7, 3, 5, 6  # B*N = 18 columns -> 3 blocks of 8 threads; GEMM edges not multiples of 4
    inp = _inputs(T, B, M, N, activation, dtype)
    dh = np.random.default_rng(1).standard_normal((T, B, N)).astype(dtype)
    inp64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in inp.items()}
    h_ref, c_ref = indrnn_forward(**inp64, backend="numpy")
    g_ref = indrnn_backward(dh.astype(np.float64), c_ref)
    with cuda_launch_config(**SMALL):
        h, cache = indrnn_forward(**inp, backend="cuda")
        g = indrnn_backward(dh, cache)
    tol = 1e-12 if dtype == np.float64 else tolerance(np.float32, T * B)
    assert isinstance(h, np.ndarray) and h.dtype == dtype and h.shape == (T, B, N)
    assert_close(h, h_ref, tol, "h")
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        assert isinstance(a, np.ndarray) and a.dtype == dtype, name
        assert_close(a, r, tol, name)


def test_cuda_gradients_float64():
    """Finite differences straight through the CUDA backend (ReLU only, tiny: each
    of the 2 x 21 perturbed forward passes is simulated thread by thread; the
    other activations are covered by the agreement with the checked reference)."""
    with cuda_launch_config(threads_per_block=2, gemm_tile=2):
        results = check_indrnn("cuda", "relu", T=3, B=1, M=2, N=3, seed=4)
    for r in results:
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


@pytest.mark.parametrize("tile", [3, 8])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_tiled_gemm_edges(tile, trans_a, trans_b, rng):
    """Shapes that are not multiples of the tile: the edge tiles are zero padded."""
    R, K, S = 7, 5, 9
    A = rng.standard_normal((K, R) if trans_a else (R, K))
    B = rng.standard_normal((S, K) if trans_b else (K, S))
    with cuda_launch_config(gemm_tile=tile):
        C = device.gemm(cuda.to_device(A), cuda.to_device(B), trans_a=trans_a, trans_b=trans_b).copy_to_host()
    expected = (A.T if trans_a else A) @ (B.T if trans_b else B)
    np.testing.assert_allclose(C, expected, rtol=1e-12, atol=1e-12)


def test_tiled_gemm_float32_and_bad_shapes(rng):
    A = rng.standard_normal((6, 3)).astype(np.float32)
    B = rng.standard_normal((3, 2)).astype(np.float32)
    with cuda_launch_config(gemm_tile=2):
        C = device.gemm(cuda.to_device(A), cuda.to_device(B)).copy_to_host()
    assert C.dtype == np.float32
    np.testing.assert_allclose(C, A @ B, rtol=1e-5)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        device.gemm(cuda.to_device(A), cuda.to_device(A))


def test_device_arrays_stay_on_the_device():
    T, B, M, N = 4, 2, 3, 5
    inp = _inputs(T, B, M, N, "relu", np.float64)
    dev = {k: (cuda.to_device(v) if isinstance(v, np.ndarray) else v) for k, v in inp.items()}
    dh = np.random.default_rng(2).standard_normal((T, B, N))
    with cuda_launch_config(**SMALL):
        h, cache = indrnn_forward(**dev, backend="cuda")
        g = indrnn_backward(cuda.to_device(dh), cache)
    assert not isinstance(h, np.ndarray) and hasattr(h, "copy_to_host")
    assert all(not isinstance(a, np.ndarray) for a in g)
    h_ref, c_ref = indrnn_forward(**inp, backend="numpy")
    g_ref = indrnn_backward(dh, c_ref)
    assert_close(h.copy_to_host(), h_ref, 1e-12, "h")
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        assert_close(a.copy_to_host(), r, 1e-12, name)


def test_two_stage_and_atomic_reductions_agree(monkeypatch):
    monkeypatch.setattr(config, "FUSE_MAX_M", 0)  # the atomic variant is the GEMM path's (M = 3 would fuse)
    T, B, M, N = 5, 4, 3, 6
    inp = _inputs(T, B, M, N, "relu", np.float64)
    dh = np.random.default_rng(3).standard_normal((T, B, N))
    out = {}
    for mode in ("two_stage", "atomic"):
        monkeypatch.setattr(config, "CUDA_REDUCTION", mode)
        with cuda_launch_config(**SMALL):
            h, cache = indrnn_forward(**inp, backend="cuda")
            out[mode] = indrnn_backward(dh, cache)
    for a, r in zip(out["atomic"], out["two_stage"], strict=True):
        assert_close(a, r, 1e-12)


def test_two_stage_reduction_is_bitwise_reproducible():
    inp = _inputs(6, 5, 3, 7, "tanh", np.float32)
    dh = np.random.default_rng(4).standard_normal((6, 5, 7)).astype(np.float32)
    runs = []
    for _ in range(2):
        with cuda_launch_config(**SMALL):
            _, cache = indrnn_forward(**inp, backend="cuda")
            runs.append(indrnn_backward(dh, cache))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cuda_bad_inputs():
    inp = _inputs(4, 2, 3, 5, "relu", np.float64)
    with pytest.raises(ValueError, match=r"u must have shape \(N,\) = \(5,\); got \(4,\)"):
        indrnn_forward(**{**inp, "u": np.zeros(4)}, backend="cuda")
    with pytest.raises(TypeError, match=r"W must have the same dtype as x \(float64\); got float32"):
        indrnn_forward(**{**inp, "W": inp["W"].astype(np.float32)}, backend="cuda")
    with pytest.raises(TypeError, match="x must be a NumPy array; got"):
        indrnn_forward(**{**inp, "x": cuda.to_device(inp["x"])}, backend="cpu")
    _, cache = indrnn_forward(**inp, backend="cuda")
    with pytest.raises(ValueError, match=r"dh must have shape \(T, B, N\) = \(4, 2, 5\)"):
        indrnn_backward(np.zeros((4, 2, 4)), cache)


def test_no_gpu_and_no_simulator_gives_one_clear_error():
    code = textwrap.dedent(
        """
        import numpy as np
        import indrnn_np
        from indrnn_np import CudaUnavailableError, indrnn_forward
        if indrnn_np.cuda_available():
            print("AVAILABLE")
        else:
            try:
                indrnn_forward(np.zeros((2, 1, 1)), np.zeros((1, 1)), np.zeros(1), np.zeros(1), backend="cuda")
            except CudaUnavailableError as exc:
                print("ERROR:", exc)
        """
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    if "AVAILABLE" in proc.stdout:
        pytest.skip("a real GPU is present: nothing to refuse")
    assert "ERROR:" in proc.stdout
    assert "pip install 'indrnn-np[cuda]'" in proc.stdout
    assert "NUMBA_ENABLE_CUDASIM=1" in proc.stdout


def test_kernels_compile_to_ptx_and_float32_stays_float32():
    """Compile every kernel for an H100/H200 (sm_90; no driver needed, NVVM is); the float32 PTX has no .f64."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    missing = ptx_compile_missing(env)
    if missing:
        pytest.skip(missing)
    code = textwrap.dedent(
        """
        import json, re
        from numba import cuda
        from indrnn_np.kernels import cuda as ck
        counts = {}
        for dt in ("float32", "float64"):
            for entry in ck.kernel_table(dt):
                ptx, _ = cuda.compile_ptx(entry.kernel.py_func, entry.signature, cc=(9, 0))
                assert ".entry" in ptx
                counts[f"{entry.name}:{dt}"] = len(re.findall(r"\\.f64\\b", ptx))
        print(json.dumps(counts))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["backward:float64"] > 0 and counts["gemm:float64"] > 0  # the detector sees doubles
    assert counts["bn_forward:float64"] > 0 and counts["softmax_xent:float64"] > 0
    assert counts["fused_backward:float64"] > 0
    assert len(counts) == 2 * 39  # every kernel, both dtypes
    assert {k: v for k, v in counts.items() if k.endswith(":float32") and v} == {}


def test_compile_watch_sees_a_cuda_kernel_compile():
    """The training loop's compile line for backend cuda: numba-cuda's kernels broadcast their compiler
    passes in numba-cuda's own event system, which ``CompileWatch(cuda=True)`` listens to."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    missing = ptx_compile_missing(env)
    if missing:
        pytest.skip(missing)
    code = textwrap.dedent(
        """
        from numba import cuda
        from indrnn_np.compiling import CompileWatch

        def kernel(a):
            i = cuda.grid(1)
            if i < a.size:
                a[i] += 1

        seen = []
        with CompileWatch(lambda: seen.append("float32"), cuda=True) as watch:
            cuda.compile_ptx(kernel, "void(float32[::1])", cc=(9, 0))
            cuda.compile_ptx(kernel, "void(float32[::1])", cc=(9, 0))
        print(watch.compiled, seen)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["True", "['float32']"]  # seen, and told once


def test_launch_arithmetic_fits_any_size():
    """Pure functions: sizes no test could launch (T·B past 2^20 rows, 10^9 columns)."""
    from indrnn_np.kernels import cuda as ck

    assert ck.launch_1d(10**9, 256) == (ck.MAX_STRIDE_BLOCKS, 256)  # grid-stride: capped, still covers all
    assert ck.launch_1d(1, 256) == (1, 256)
    # the project's own benchmark size with tile 8 needed 65,536 blocks on grid.y; rows are on grid.x now
    assert ck.gemm_grid(4096 * 128, 512, 8) == (65536, 64, 1)
    assert ck.gemm_grid(8192 * 128 + 1, 128, 16)[0] == 65537
    with pytest.raises(ValueError, match="too large"):
        ck.gemm_grid(16, 16 * 65536, 16)  # columns on grid.y: at most 65,535 tiles
    # dW of the adding problem: 8 output tiles, K = 524,288 -> enough splits to fill a GPU
    assert ck.split_k(524288, 2, 128, 16) == 128
    assert ck.split_k(100, 128, 128, 16) == 1  # short K: no split
    for bad in (dict(threads_per_block=2048), dict(gemm_tile=33), dict(threads_per_block=0)):
        with pytest.raises(ValueError):
            with config.cuda_launch_config(**bad):
                pass


def test_cuda_reduction_setting_is_checked(monkeypatch):
    monkeypatch.setattr(config, "CUDA_REDUCTION", "atomc")
    with pytest.raises(
        ValueError, match="INDRNN_CUDA_REDUCTION .* must be one of two_stage, atomic; got 'atomc'"
    ):
        config.cuda_reduction()


@pytest.mark.cudasim
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_split_k_gemm_with_transposed_operands(trans_a, trans_b):
    """The tiled GEMM with coalesced transposed loads, whole and split over K, against NumPy."""
    from numba import cuda

    rng = np.random.default_rng(0)
    R, K, S = 7, 45, 5
    A = rng.standard_normal((K, R) if trans_a else (R, K))
    B = rng.standard_normal((S, K) if trans_b else (K, S))
    want = (A.T if trans_a else A) @ (B.T if trans_b else B)
    with config.cuda_launch_config(gemm_tile=4):
        for splits in (1, 3, 50):
            got = device.gemm(
                cuda.to_device(A), cuda.to_device(B), trans_a=trans_a, trans_b=trans_b, splits=splits
            )
            np.testing.assert_allclose(got.copy_to_host(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_larger_shapes(dtype):
    """On a real GPU: default launch sizes, a shape with many blocks and partial tiles."""
    T, B, M, N = 300, 37, 19, 130
    inp = _inputs(T, B, M, N, "relu", dtype, seed=9)
    dh = np.random.default_rng(9).standard_normal((T, B, N)).astype(dtype)
    inp64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in inp.items()}
    h_ref, c_ref = indrnn_forward(**inp64, backend="cpu")
    g_ref = indrnn_backward(dh.astype(np.float64), c_ref)
    h, cache = indrnn_forward(**inp, backend="cuda")
    g = indrnn_backward(dh, cache)
    tol = 1e-11 if dtype == np.float64 else tolerance(np.float32, T * B)
    assert_close(h, h_ref, tol, "h")
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        assert_close(a, r, tol, name)


def test_bench_cuda_command_in_the_simulator(tmp_path, capsys):
    """The GPU benchmark command runs end to end (here in the simulator, at a toy size)."""
    import json

    from indrnn_np.cli import main

    path = tmp_path / "cuda.json"
    with cuda_launch_config(threads_per_block=8, gemm_tile=4):
        rc = main(
            [
                "bench",
                "layer",
                "--backend",
                "cuda",
                "--T",
                "3",
                "--B",
                "2",
                "--M",
                "2",
                "--N",
                "3",
                "--repeats",
                "1",
                "--json",
                str(path),
            ]
        )
    assert rc == 0
    out = capsys.readouterr().out
    assert "| T | B | M | N | recurrence fwd+bwd (ms) |" in out and "| 3 | 2 | 2 | 3 |" in out
    row = json.loads(path.read_text())[0]
    assert (row["T"], row["B"], row["M"], row["N"]) == (3, 2, 2, 3)
    # the bandwidth figure is the bytes of the recurrence over its time, as documented
    assert row["recurrence_GBps"] == pytest.approx(5 * 3 * 2 * 3 * 4 / row["recurrence_s"] / 1e9)


@pytest.mark.slow
def test_gradcheck_command_in_the_simulator_is_simulator_sized_and_shows_progress():
    """The command the no-GPU error recommends: it finishes (simulator-sized shapes) and says what it does."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}  # set before numba is imported: a fresh process
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "gradcheck", "--backend", "cuda"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "checked at T=3 B=2 M=2 N=3 with 4 threads a block" in proc.stdout
    for activation in ("relu", "tanh", "identity"):
        for array in ("x", "W", "u", "b", "h0"):
            assert f"| cuda | {activation} | {array} |" in proc.stdout
        assert f"cuda {activation}: x W u b h0 (" in proc.stderr  # progress, as each check runs
    assert "backend cuda (T=3):" in proc.stdout and proc.stdout.rstrip().endswith("16 passed, 0 failed")


@pytest.mark.slow
def test_bench_cuda_command_in_the_simulator_defaults_to_simulator_sizes():
    """With no sizes, the simulator runs toy sizes (the GPU's would take hours), says so, and shows progress."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}  # set before numba is imported: a fresh process
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "bench", "layer", "--backend", "cuda"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "on Numba's CUDA simulator" in proc.stdout and "| 3 | 2 | 2 | 3 |" in proc.stdout
    assert "these times say nothing about a GPU" in proc.stdout
    assert proc.stderr.splitlines() == [
        "measuring the device copy bandwidth",
        "T=3 B=2 M=2 N=3: the recurrence kernels, 2 calls",
        "T=3 B=2 M=2 N=3: the whole layer, 3 calls",
    ]


def test_bench_cuda_refuses_mixed_backends():
    from indrnn_np.cli import main

    assert main(["bench", "layer", "--backend", "cuda", "--backend", "cpu"]) == 2


def test_cuda_train_step_benchmark_in_the_simulator():
    """The GPU check's training-step benchmark runs (tiny sizes in the simulator; no peers there)."""
    from indrnn_np.bench.gpu import bench_cuda_train

    with cuda_launch_config(threads_per_block=8, gemm_tile=4):
        r = bench_cuda_train(T=4, B=2, hidden=3, steps=1, mnist_T=3, mnist_B=2)
    assert r["adding"]["step_s"] > 0 and "simulator" in r["adding"]["torch_note"]
    assert r["pixel_mnist"]["step_s"] > 0 and r["pixel_mnist"]["layers"] == 6


def test_gemm_choice_is_checked(monkeypatch):
    """cuBLAS on a GPU, the tiled kernel in the simulator; a typo is an error, not a default."""
    assert config.cuda_gemm(simulator=True) == "tiled" and config.cuda_gemm(simulator=False) == "cublas"
    monkeypatch.setattr(config, "CUDA_GEMM", "tiled")
    assert config.cuda_gemm(simulator=False) == "tiled"
    monkeypatch.setattr(config, "CUDA_GEMM", "cuBLAS")
    with pytest.raises(ValueError, match="INDRNN_CUDA_GEMM"):
        config.cuda_gemm(simulator=True)


@pytest.mark.gpu
def test_cublas_gemm_matches_the_tiled_gemm():
    """On a GPU: the production GEMM (cuBLAS via CuPy, on Numba device arrays) against the teaching one."""
    rng = np.random.default_rng(5)
    for trans_a, trans_b in ((False, False), (True, False), (False, True)):
        A = rng.standard_normal((300, 70) if not trans_a else (70, 300)).astype(np.float32)
        B = rng.standard_normal((70, 50) if not trans_b else (50, 70)).astype(np.float32)
        outs = []
        for fn in (device.cublas_gemm, ck.tiled_gemm):
            C = cuda.device_array((300, 50), np.float32)
            fn(cuda.to_device(A), cuda.to_device(B), trans_a=trans_a, trans_b=trans_b, out=C)
            outs.append(C.copy_to_host())
        want = (A.T if trans_a else A) @ (B.T if trans_b else B)
        for got in outs:
            assert_close(got, want, tolerance(np.float32, 70) * 8)


@pytest.mark.cudasim
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_kernels_on_the_device_match_the_reference(dtype):
    """The device twins of the fused Adam / SGD update and the gradient sums of squares."""
    from indrnn_np.kernels import reference

    rng = np.random.default_rng(4)
    f = np.dtype(dtype).type
    p, g = rng.standard_normal(37).astype(dtype), 3 * rng.standard_normal(37).astype(dtype)
    m, v = (0.1 * rng.standard_normal(37)).astype(dtype), rng.uniform(0, 0.1, 37).astype(dtype)
    scalars = [f(a) for a in (1.0, 0.5, 0.01, 1e-2, 0.9, 0.999, 1e-8, 1 - 0.9**3, 1 - 0.999**3, -0.3, 0.3)]
    want = [a.copy() for a in (p, g, m, v)]
    reference.adam_update(*want, *scalars)
    dev = [cuda.to_device(a) for a in (p, g, m, v)]
    with cuda_launch_config(threads_per_block=8):
        ck.adam_update(*dev, *scalars)
        got = [d.copy_to_host() for d in dev]
        tol = 1e-12 if dtype == np.float64 else 4 * np.finfo(np.float32).eps
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        vel = rng.standard_normal(37).astype(dtype)
        want_p, want_vel = p.copy(), vel.copy()
        sgd_scalars = [f(a) for a in (1.0, 0.5, 0.01, 0.1, 0.9, -0.3, 0.3)]
        reference.sgd_update(want_p, g.copy(), want_vel, *sgd_scalars)
        dp, dv = cuda.to_device(p), cuda.to_device(vel)
        ck.sgd_update(dp, cuda.to_device(g), dv, *sgd_scalars)
        np.testing.assert_allclose(dp.copy_to_host(), want_p, rtol=tol, atol=tol)
        np.testing.assert_allclose(dv.copy_to_host(), want_vel, rtol=tol, atol=tol)
        raw, clipped = ck.grad_sumsq(cuda.to_device(g), 1.0)
    want_raw, want_clipped = reference.grad_sumsq(g, 1.0)
    assert raw == pytest.approx(want_raw, rel=1e-6) and clipped == pytest.approx(want_clipped, rel=1e-6)
