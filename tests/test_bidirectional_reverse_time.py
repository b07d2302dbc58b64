"""The recurrence in reverse time (``reverse_time``) against the reversed copies it replaces.

A bidirectional layer's backward direction used to read each sequence's real steps reversed
(:func:`indrnn_np.ops.reverse_padded`), run forward, and reverse its output back; backward
reversed dy and dx the same way. Now its recurrences run from each sequence's last real step
down to step 0 themselves. These tests hold the new path to the copies: the ops and the kernel
twins (reference, Numba CPU, CUDA in the simulator; the GEMM path and the fused small-input
path), whole bidirectional models (outputs and every gradient, with and without lengths, relu
and tanh), the float64 finite-difference check with lengths, and the cases that keep the
copies (frame-wise batch norm, the scan).
"""

from __future__ import annotations

import numpy as np
import pytest

from indrnn_np import indrnn_backward, indrnn_forward
from indrnn_np.config import cuda_launch_config
from indrnn_np.gradcheck import check_model_gradients
from indrnn_np.kernels import ACTIVATIONS
from indrnn_np.kernels import reference as ref
from indrnn_np.nn import build_indrnn
from indrnn_np.nn.layers import Bidirectional
from indrnn_np.ops import (
    indrnn_recurrence_backward,
    indrnn_recurrence_forward,
    mse_backward,
    mse_forward,
    reverse_padded,
)

T, B = 9, 4
LENGTHS = np.array([9, 3, 1, 6])
BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=pytest.mark.cudasim)]
TOL = 1e-12  # float64: the two paths differ only in the order of the GEMMs' and batch norm's sums


def _close(a, b, name):
    scale = max(1.0, float(np.max(np.abs(b))))
    assert float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) <= TOL * scale, name


def _inputs(M, N, seed):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((T, B, M)),
        rng.standard_normal((M, N)) * 0.5,
        rng.uniform(-1.0, 1.0, N),
        rng.standard_normal(N) * 0.1,
        rng.standard_normal((B, N)),
        rng.standard_normal((T, B, N)),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["whole", "lengths"])
@pytest.mark.parametrize("M", [3, 12], ids=["fused", "gemm"])
def test_layer_op_in_reverse_time_equals_the_reversed_copies(backend, activation, lengths, M):
    x, W, u, b, h0, dh = _inputs(M, 5, seed=M)
    L = np.full(B, T) if lengths is None else lengths
    kw = dict(activation=activation, backend=backend, lengths=lengths)
    h, cache = indrnn_forward(x, W, u, b, h0, reverse_time=True, **kw)
    g = indrnn_backward(dh, cache)
    h_rev, cache_rev = indrnn_forward(reverse_padded(x, L), W, u, b, h0, **kw)
    g_rev = indrnn_backward(reverse_padded(dh, L), cache_rev)
    _close(h, reverse_padded(h_rev, L), "h")
    if lengths is not None:
        assert np.all(h[np.arange(T)[:, None] >= L[None, :]] == 0)  # the padding stays 0
    _close(g.dx, reverse_padded(g_rev.dx, L), "dx")
    for name in ("dW", "du", "db", "dh0"):
        _close(getattr(g, name), getattr(g_rev, name), name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["whole", "lengths"])
def test_recurrence_op_in_reverse_time_equals_the_reversed_copies(backend, activation, lengths):
    _, _, u, b, h0, dh = _inputs(3, 5, seed=7)
    xw = np.random.default_rng(8).standard_normal((T, B, 5))
    L = np.full(B, T) if lengths is None else lengths
    kw = dict(activation=activation, backend=backend, lengths=lengths)
    h, cache = indrnn_recurrence_forward(xw, u, b, h0, reverse_time=True, **kw)
    g = indrnn_recurrence_backward(dh, cache)
    h_rev, cache_rev = indrnn_recurrence_forward(reverse_padded(xw, L), u, b, h0, **kw)
    g_rev = indrnn_recurrence_backward(reverse_padded(dh, L), cache_rev)
    _close(h, reverse_padded(h_rev, L), "h")
    _close(g.dxw, reverse_padded(g_rev.dxw, L), "dxw")
    for name in ("du", "db", "dh0"):
        _close(getattr(g, name), getattr(g_rev, name), name)


def _kernel_modules():
    from indrnn_np.kernels import cpu

    modules = [ref, cpu]
    try:
        from indrnn_np.kernels import cuda as ck

        modules.append(ck)
    except Exception:  # pragma: no cover - no CUDA target at all
        pass
    return modules


@pytest.mark.cudasim
@pytest.mark.parametrize("act", [ACTIVATIONS["relu"], ACTIVATIONS["tanh"]])
def test_fused_kernel_twins_agree_in_reverse_time_over_several_groups_of_steps(act):
    """T = 35 > the CUDA fused backward's FUSED_STEPS: its dx groups are filled by loop step, which in
    reverse time is not the time index; 8-thread blocks make N = 20 three chunks."""
    Tl, Bl, M, N = 35, 3, 2, 20
    rng = np.random.default_rng(3)
    x, W = rng.standard_normal((Tl, Bl, M)), rng.standard_normal((M, N)) * 0.3
    u, b, h0 = rng.uniform(-1, 1, N), rng.standard_normal(N) * 0.1, rng.standard_normal((Bl, N))
    dh = rng.standard_normal((Tl, Bl, N))
    lengths = np.array([35, 17, 2])
    results = []
    for k in _kernel_modules():
        with cuda_launch_config(threads_per_block=8, gemm_tile=4):
            h = np.zeros((Tl, Bl, N))
            k.fused_forward(x, W, u, b, h0, act, h, lengths, True)
            outs = [np.zeros((Tl, Bl, M)), np.zeros((Bl, M, N)), *(np.zeros((Bl, N)) for _ in range(3))]
            k.fused_backward(dh, x, h, W, u, h0, act, *outs, lengths, True)
        results.append((h, *outs))
    for other in results[1:]:
        for a, c in zip(results[0], other, strict=True):
            np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)


def _copies(monkeypatch):
    """Make every Bidirectional take today's reversed copies."""
    monkeypatch.setattr(Bidirectional, "_reverse_in_time", lambda self: None)


def _fit_step(model, x, y, lengths):
    pred, caches = model.forward(x, train=True, lengths=lengths)
    loss, lc = mse_forward(pred, y, lengths=lengths)
    dx, grads = model.backward(mse_backward(1.0, lc), caches)
    return np.asarray(pred), dx, grads


MODELS = {
    "indrnn": dict(),  # bidirectional IndRNN pairs, two layers
    "dense-bn-recurrence": dict(bn="time"),  # pairs of Sequential(Dense, BatchNorm over time, Recurrence)
    "residual": dict(residual=True, bn="time", layers=3),  # Recurrence pairs inside residual blocks
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["whole", "lengths"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_bidirectional_model_in_reverse_time_equals_the_reversed_copies(
    backend, activation, lengths, kind, monkeypatch
):
    """Outputs, the input's gradient and every parameter's gradient of a whole bidirectional model."""
    rng = np.random.default_rng(5)
    M = 3
    kw = dict(hidden=4, head="all", bidirectional=True, activation=activation, w_std=None, dtype=np.float64)
    kw.setdefault("layers", 2)
    kw.update(MODELS[kind])
    x, y = rng.standard_normal((T, B, M)), rng.standard_normal((T, B, 2))
    model = build_indrnn(T, M, 2, backend=backend, **kw)
    bidirectional = [layer for layer in _walk(model) if isinstance(layer, Bidirectional)]
    assert bidirectional and all(layer._reverse_in_time() for layer in bidirectional)
    pred, dx, grads = _fit_step(model, x, y, lengths)
    with monkeypatch.context() as m:
        _copies(m)
        pred_c, dx_c, grads_c = _fit_step(model, x, y, lengths)
    _close(pred, pred_c, "output")
    _close(np.asarray(dx), np.asarray(dx_c), "dx")
    assert set(grads) == set(grads_c)
    for name in grads:
        _close(np.asarray(grads[name]), np.asarray(grads_c[name]), name)


def _walk(layer):
    yield layer
    for _, child in getattr(layer, "layers", []):
        yield from _walk(child)
    body = getattr(layer, "body", None)
    if body is not None:
        yield from _walk(body)


def test_frame_wise_batch_norm_and_the_scan_keep_the_copies():
    """Frame-wise batch norm has statistics per step index, and the scan runs forward only: their
    backward directions read reversed copies (the results stay those of the copies)."""
    frame = build_indrnn(T, 3, 2, hidden=4, bidirectional=True, bn="frame", dtype=np.float64)
    scan = build_indrnn(T, 3, 2, hidden=4, bidirectional=True, algorithm="scan", dtype=np.float64)
    plain = build_indrnn(T, 3, 2, hidden=4, bidirectional=True, dtype=np.float64)
    for model, native in ((frame, False), (scan, False), (plain, True)):
        layers = [layer for layer in _walk(model) if isinstance(layer, Bidirectional)]
        assert layers and all((layer._reverse_in_time() is not None) == native for layer in layers)
    x = np.random.default_rng(2).standard_normal((T, B, 3))
    y, _ = frame.forward(x, lengths=np.array([9, 9, 5, 6]))  # two real sequences at every step
    assert np.all(np.isfinite(np.asarray(y)))
    with pytest.raises(ValueError, match="reverse_time=True runs the sequential loop only"):
        indrnn_forward(x, np.ones((3, 2)), np.ones(2), np.zeros(2), reverse_time=True, algorithm="scan")
    with pytest.raises(TypeError, match="reverse_time must be True or False"):
        indrnn_forward(x, np.ones((3, 2)), np.ones(2), np.zeros(2), reverse_time=1)


def test_no_flag_is_left_set_after_a_forward_pass():
    model = build_indrnn(T, 3, 2, hidden=4, bidirectional=True, bn="time", dtype=np.float64)
    model.forward(np.zeros((T, B, 3)), lengths=LENGTHS)
    assert not any(getattr(layer, "reverse_time", False) for layer in _walk(model))


@pytest.mark.parametrize(
    ("kind", "activation"),
    # tanh with batch norm: relu's kinks after a normalisation put some of gamma's differences across
    # one (3.9e-5 at this seed, the same with the reversed copies)
    [("indrnn", "relu"), ("indrnn", "tanh"), ("dense-bn-recurrence", "tanh")],
)
def test_bidirectional_model_with_lengths_matches_finite_differences(kind, activation):
    rng = np.random.default_rng(11)
    M = 2
    kw = dict(
        MODELS[kind], hidden=3, layers=2, head="all", bidirectional=True, w_std=None, activation=activation
    )
    model = build_indrnn(T, M, 2, dtype=np.float64, **kw)
    x, y = rng.standard_normal((T, B, M)), rng.standard_normal((T, B, 2))
    results = check_model_gradients(model, x, y, mse_forward, mse_backward, lengths=LENGTHS)
    assert all(r.rel_error < 1e-6 for r in results), [(r.name, r.rel_error) for r in results]


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["whole", "lengths"])
@pytest.mark.parametrize("kind", ["indrnn", "dense-bn-recurrence"])
def test_first_layer_param_grads_equal_backwards_without_the_input_gradient(lengths, kind, monkeypatch):
    """Training skips the first layer's input gradient: Bidirectional.param_grads gives backward's
    parameter gradients, in reverse time and with the copies."""
    rng = np.random.default_rng(6)
    model = build_indrnn(T, 3, 2, hidden=4, head="all", bidirectional=True, dtype=np.float64, **MODELS[kind])
    x, y = rng.standard_normal((T, B, 3)), rng.standard_normal((T, B, 2))
    for copies in (False, True):
        with monkeypatch.context() as m:
            if copies:
                _copies(m)
            pred, caches = model.forward(x, train=True, lengths=lengths)
            d = mse_backward(1.0, mse_forward(pred, y, lengths=lengths)[1])
            _, full = model.backward(d, caches)
            dx, params_only = model.backward(d, caches, input_grad=False)
        assert dx is None and set(full) == set(params_only)
        for name in full:
            np.testing.assert_array_equal(params_only[name], full[name], err_msg=name)
