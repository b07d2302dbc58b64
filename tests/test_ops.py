"""The IndRNN layer ops: backends agree, dtypes are kept, bad input is refused."""

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close, tolerance
from hypothesis import given, settings
from hypothesis import strategies as st

from indrnn_np import (
    IndRNNGrads,
    indrnn_backward,
    indrnn_forward,
    indrnn_step_backward,
    indrnn_step_forward,
    rel_error,
)
from indrnn_np.gradcheck import indrnn_check_inputs
from indrnn_np.nn import IndRNN

ACTIVATIONS = ["relu", "tanh", "identity"]


def _inputs(T, B, M, N, activation="relu", seed=0, dtype=np.float64):
    inp = indrnn_check_inputs(T, B, M, N, activation=activation, seed=seed, margin=0.0)
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in inp.items()}


def _run(inp, dh, backend):
    h, cache = indrnn_forward(**inp, backend=backend)
    return h, indrnn_backward(dh, cache)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_cpu_matches_numpy_float64(activation, rng):
    T, B, M, N = 40, 5, 6, 33
    inp = _inputs(T, B, M, N, activation)
    dh = rng.standard_normal((T, B, N))
    h_ref, g_ref = _run(inp, dh, "numpy")
    h, g = _run(inp, dh, "cpu")
    assert rel_error(h, h_ref) < 1e-12
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        assert rel_error(a, r) < 1e-12, name


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_against_float64_reference(backend, activation, rng):
    T, B, M, N = 100, 4, 8, 16
    inp32 = _inputs(T, B, M, N, activation, dtype=np.float32)
    dh32 = rng.standard_normal((T, B, N)).astype(np.float32)
    inp64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in inp32.items()}
    h_ref, g_ref = _run(inp64, dh32.astype(np.float64), "numpy")
    h, g = _run(inp32, dh32, backend)
    tol = tolerance(np.float32, T * B)
    assert h.dtype == np.float32
    assert_close(h, h_ref, tol, "h")
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        assert a.dtype == np.float32, name
        assert_close(a, r, tol, name)


@settings(max_examples=40, deadline=None)
@given(
    T=st.integers(1, 60),
    B=st.integers(1, 8),
    M=st.integers(1, 8),
    N=st.integers(1, 40),
    activation=st.sampled_from(ACTIVATIONS),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_property_backends_agree_on_random_shapes(T, B, M, N, activation, dtype, seed):
    inp = _inputs(T, B, M, N, activation, seed=seed, dtype=dtype)
    dh = np.random.default_rng(seed).standard_normal((T, B, N)).astype(dtype)
    h_ref, g_ref = _run(inp, dh, "numpy")
    h, g = _run(inp, dh, "cpu")
    tol = tolerance(dtype, T * max(B, M))
    assert h.shape == (T, B, N) and h.dtype == dtype
    assert_close(h, h_ref, tol, "h")
    shapes = dict(dx=(T, B, M), dW=(M, N), du=(N,), db=(N,), dh0=(B, N))
    for name, a, r in zip(IndRNNGrads._fields, g, g_ref, strict=True):
        assert a.shape == shapes[name] and a.dtype == dtype, name
        assert_close(a, r, tol, name)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("T", [1, 7, 100, 1000])
def test_linear_dh0_is_exactly_u_to_the_T(backend, T):
    """Identity activation, one upstream gradient of 1 at the last step: ∂J/∂h0 = u^T.

    u holds powers of two (and 0, ±1), so u**T is exact in float64 and the
    repeated products of BPTT must reproduce it bit for bit.
    """
    u = np.array([0.5, 1.0, -1.0, 2.0, 0.0, -0.5, 0.25, 1.0])
    if T == 1000:
        u = np.array([0.5, 1.0, -1.0, 0.0, -0.5, 1.0, 0.5, -1.0])  # 2**1000 would still fit, but keep it tame
    N, B, M = u.size, 2, 3
    rng = np.random.default_rng(T)
    x = rng.standard_normal((T, B, M))
    W = rng.standard_normal((M, N))
    b = rng.standard_normal(N)
    h, cache = indrnn_forward(x, W, u, b, activation="identity", backend=backend)
    dh = np.zeros((T, B, N))
    dh[-1] = 1.0
    g = indrnn_backward(dh, cache)
    np.testing.assert_array_equal(g.dh0, np.broadcast_to(u**T, (B, N)))


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_noncontiguous_inputs(backend, rng):
    T, B, M, N = 9, 3, 4, 5
    inp = _inputs(T, B, M, N)
    # Fortran order, strided and transposed views of the same values.
    x_nc = np.asfortranarray(inp["x"])
    W_nc = np.ascontiguousarray(inp["W"].T).T
    u_nc = np.repeat(inp["u"], 2)[::2]
    b_nc = np.repeat(inp["b"], 3)[::3]
    h0_nc = np.asfortranarray(inp["h0"])
    dh = rng.standard_normal((T, N, B)).transpose(0, 2, 1)
    h_ref, g_ref = _run(inp, np.ascontiguousarray(dh), "numpy")
    h, cache = indrnn_forward(x_nc, W_nc, u_nc, b_nc, h0_nc, backend=backend)
    g = indrnn_backward(dh, cache)
    assert rel_error(h, h_ref) < 1e-12
    for a, r in zip(g, g_ref, strict=True):
        assert rel_error(a, r) < 1e-12


def test_h0_defaults_to_zeros():
    inp = _inputs(6, 2, 3, 4)
    h_none, _ = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"])
    h_zero, _ = indrnn_forward(inp["x"], inp["W"], inp["u"], inp["b"], np.zeros((2, 4)))
    np.testing.assert_array_equal(h_none, h_zero)


def test_inputs_are_not_modified():
    inp = _inputs(6, 2, 3, 4)
    saved = {k: v.copy() for k, v in inp.items() if isinstance(v, np.ndarray)}
    dh = np.ones((6, 2, 4))
    for backend in ("numpy", "cpu"):
        h, cache = indrnn_forward(**inp, backend=backend)
        indrnn_backward(dh, cache)
    for k, v in saved.items():
        np.testing.assert_array_equal(inp[k], v)
    np.testing.assert_array_equal(dh, 1.0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_step_pair_composes_into_the_sequence_ops(activation, rng):
    """Looping the step pair by hand gives the same h and gradients as the layer op."""
    T, B, M, N = 8, 3, 4, 5
    inp = _inputs(T, B, M, N, activation)
    dh = rng.standard_normal((T, B, N))
    h_ref, g_ref = _run(inp, dh, "numpy")
    x, W, u, b, h0 = (inp[k] for k in ("x", "W", "u", "b", "h0"))
    h_prev, caches, hs = h0, [], []
    for t in range(T):
        h_prev, c = indrnn_step_forward(x[t], h_prev, W, u, b, activation)
        hs.append(h_prev)
        caches.append(c)
    np.testing.assert_allclose(np.stack(hs), h_ref, rtol=1e-13, atol=1e-13)
    dW, du, db = np.zeros_like(W), np.zeros_like(u), np.zeros_like(b)
    dx = np.zeros_like(x)
    carry = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        g = indrnn_step_backward(dh[t] + carry, caches[t])
        dx[t], carry = g.dx_t, g.dh_prev
        dW += g.dW
        du += g.du
        db += g.db
    for a, r in zip((dx, dW, du, db, carry), g_ref, strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input


def _good():
    inp = _inputs(5, 2, 3, 4)
    inp.pop("activation")
    return inp


@pytest.mark.parametrize(
    "change, exc, pattern",
    [
        (dict(x=np.zeros((5, 2))), ValueError, r"x must have 3 dimensions; got shape \(5, 2\)"),
        (
            dict(W=np.zeros((7, 4))),
            ValueError,
            r"W must have shape \(M, N\) with M = x.shape\[2\] = 3; got \(7, 4\)",
        ),
        (dict(u=np.zeros(5)), ValueError, r"u must have shape \(N,\) = \(4,\); got \(5,\)"),
        (
            dict(u=np.zeros((4, 1))),
            ValueError,
            r"u must have shape \(N,\) = \(4,\): u holds one recurrent weight",
        ),
        (dict(b=np.zeros(3)), ValueError, r"b must have shape \(N,\) = \(4,\); got \(3,\)"),
        (dict(h0=np.zeros((3, 4))), ValueError, r"h0 must have shape \(B, N\) = \(2, 4\); got \(3, 4\)"),
        (dict(x=np.zeros((0, 2, 3))), ValueError, r"x must not have an empty axis"),
        (
            dict(x=np.zeros((5, 2, 3), dtype=np.int64)),
            TypeError,
            r"x must have dtype float32 or float64; got int64",
        ),
        (
            dict(W=np.zeros((3, 4), dtype=np.float32)),
            TypeError,
            r"W must have the same dtype as x \(float64\); got float32",
        ),
        (dict(u=[0.5, 0.5, 0.5, 0.5]), TypeError, r"u must be a NumPy array; got list"),
        (
            dict(activation="sigmoid"),
            ValueError,
            r"activation must be one of 'identity', 'relu', 'tanh'; got 'sigmoid'",
        ),
        (dict(backend="gpu"), ValueError, r"backend must be one of 'numpy', 'cpu', 'cuda'; got 'gpu'"),
    ],
)
def test_bad_forward_input(change, exc, pattern):
    kw = {**_good(), **change}
    with pytest.raises(exc, match=pattern):
        indrnn_forward(**kw)


@pytest.mark.parametrize("shape", [(4, 4), (1, 4), (4, 1)])
def test_a_2d_u_is_refused_saying_it_holds_one_weight_per_neuron(shape):
    # a reader coming from conventional RNNs passes an (N, N) recurrent matrix: the message names the
    # argument, says what u holds, and gives the expected and the actual shapes
    kw = {**_good(), "u": np.eye(4)[: shape[0], : shape[1]].copy()}
    pattern = (
        r"^u must have shape \(N,\) = \(4,\): u holds one recurrent weight per neuron .*"
        rf"; got shape \({shape[0]}, {shape[1]}\)$"
    )
    for call in (
        lambda: indrnn_forward(**kw),
        lambda: indrnn_step_forward(kw["x"][0], np.zeros((2, 4)), kw["W"], kw["u"], kw["b"]),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()
    with pytest.raises(ValueError, match="u holds one recurrent weight per neuron"):
        IndRNN.from_arrays(kw["W"], kw["u"], kw["b"])


def test_bad_backward_input():
    h, cache = indrnn_forward(**_good())
    with pytest.raises(ValueError, match=r"dh must have shape \(T, B, N\) = \(5, 2, 4\); got \(5, 2, 3\)"):
        indrnn_backward(np.zeros((5, 2, 3)), cache)
    with pytest.raises(
        TypeError, match=r"dh must have the same dtype as the forward inputs \(float64\); got float32"
    ):
        indrnn_backward(np.zeros((5, 2, 4), np.float32), cache)
    with pytest.raises(TypeError, match="cache must be the IndRNNCache"):
        indrnn_backward(np.zeros((5, 2, 4)), (1, 2))


def test_bad_step_input():
    inp = _good()
    with pytest.raises(ValueError, match=r"h_prev must have shape \(B, N\) = \(2, 4\); got \(2, 5\)"):
        indrnn_step_forward(inp["x"][0], np.zeros((2, 5)), inp["W"], inp["u"], inp["b"])
    h, c = indrnn_step_forward(inp["x"][0], inp["h0"], inp["W"], inp["u"], inp["b"])
    with pytest.raises(ValueError, match=r"dh_t must have 2 dimensions; got shape \(4,\)"):
        indrnn_step_backward(np.zeros(4), c)


def _debugger_steps():
    """benchmarks/debugger_steps.py, the counting code the issue's numbers were taken with."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    try:
        import debugger_steps
    finally:
        sys.path.pop(0)
    return debugger_steps


@pytest.mark.parametrize("M", [1, 16])
def test_a_debugger_reaches_the_loop_of_eq_2_within_10_calls(M):
    """Stepping into indrnn_forward(..., backend="numpy") at (T, B, N) = (5, 2, 3), at most 10 of the
    project's functions are entered before the first line of the loop under Eq. 2 runs, at M = 1 as at
    M = 16, and it is the plain path's loop (recurrence_forward, after the GEMM), never the fused one;
    the same for indrnn_backward and its BPTT loop (recurrence_backward)."""
    steps = _debugger_steps()
    for direction, (n, names) in steps.counts(M).items():
        assert n <= 10, (direction, n, names)
        assert names[-1] == f"kernels/recurrence/reference.py:recurrence_{direction}", (direction, names)
        assert names[0] == f"ops/indrnn.py:indrnn_{direction}", (direction, names)
