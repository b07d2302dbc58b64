"""Finite-difference gradient checks for any forward/backward pair.

The recipe (CS231n ``gradient_check``): draw a random upstream gradient
``dout``, define the scalar ``J = Σ forward(inputs) ⊙ dout``, and compare the
backward pass's ``∂J/∂input`` with centered differences::

    ∂J/∂x_i ≈ (J(x + ε e_i) - J(x - ε e_i)) / (2 ε)

one element at a time, in float64. The error is reported normwise::

    rel_error(a, n) = max_i |a_i - n_i| / max(1e-8, max_i |a_i| + max_i |n_i|),

so that entries whose gradient is tiny (an early step of a long sequence whose
gradient has vanished) do not turn rounding noise into a large ratio. About
1e-10 is typical in float64; above 1e-6 is a bug.

ReLU has a kink at 0, where the derivative jumps: a finite difference that
crosses it measures neither side. :func:`indrnn_check_inputs` therefore draws
inputs whose pre-activations all lie at least ``margin`` away from 0, far more
than ε moves them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

#: Relative error above which a check fails (float64).
DEFAULT_TOLERANCE = 1e-6


class LowPrecisionGradCheckWarning(UserWarning):
    """A gradient check of arrays in less than float64, where rounding swamps the finite differences."""


def _warn_low_precision(where: str, arrays: Mapping, fix: str) -> None:
    """Warn when any float array of ``arrays`` is not float64 (float32: errors near 1e-1 for right gradients)."""
    low = {
        name: np.dtype(a.dtype)
        for name, a in arrays.items()
        if hasattr(a, "dtype") and np.dtype(a.dtype).kind == "f" and np.dtype(a.dtype) != np.float64
    }
    if low:
        listed = ", ".join(f"{name} ({dtype})" for name, dtype in list(low.items())[:3])
        listed += f" and {len(low) - 3} more" if len(low) > 3 else ""
        warnings.warn(
            f"{where} on {listed}: centered differences in less than float64 are dominated by "
            "rounding (correct float32 gradients show relative errors near 1e-1), so the results "
            f"do not tell right from wrong; {fix}",
            LowPrecisionGradCheckWarning,
            stacklevel=3,
        )


class GradCheckResult(NamedTuple):
    """One checked array."""

    name: str
    rel_error: float
    max_abs_error: float
    analytic: np.ndarray
    numeric: np.ndarray

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.rel_error) and self.rel_error < DEFAULT_TOLERANCE)


def rel_error(a: np.ndarray, n: np.ndarray) -> float:
    """Normwise relative error ``max|a - n| / max(1e-8, max|a| + max|n|)``."""
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"a and n must have the same shape; got {a.shape} and {n.shape}")
    if a.size == 0:
        return 0.0
    scale = max(1e-8, float(np.max(np.abs(a)) + np.max(np.abs(n))))
    return float(np.max(np.abs(a - n)) / scale)


def numerical_gradient(f: Callable[[], np.ndarray], x: np.ndarray, dout, eps: float = 1e-6) -> np.ndarray:
    """Centered-difference gradient of ``J = Σ f() ⊙ dout`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        Takes no arguments and reads ``x`` (which is perturbed in place, one
        element at a time, and restored).
    x : ndarray, any shape
        The array to differentiate with respect to; must be writable.
    dout : ndarray or float
        Upstream gradient, shaped like ``f()``.
    eps : float
        Step ε.

    Returns
    -------
    ndarray, shaped like ``x``
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        j_plus = float(np.sum(f() * dout))
        x[i] = old - eps
        j_minus = float(np.sum(f() * dout))
        x[i] = old
        grad[i] = (j_plus - j_minus) / (2 * eps)
    return grad


def _grad_of(grads, name: str):
    if isinstance(grads, Mapping):
        return grads[name] if name in grads else grads["d" + name]
    return getattr(grads, "d" + name)


def check_gradients(
    forward: Callable,
    backward: Callable,
    inputs: Mapping[str, np.ndarray],
    *,
    wrt=None,
    dout=None,
    eps: float = 1e-6,
    seed: int = 0,
    on_array: Callable[[str], None] | None = None,
) -> list[GradCheckResult]:
    """Check ``backward`` against finite differences of ``forward``.

    Parameters
    ----------
    forward : callable
        ``forward(**inputs) -> (out, cache)``.
    backward : callable
        ``backward(dout, cache) -> grads``, where ``grads`` is a named tuple or
        mapping whose gradient for input ``k`` is field/key ``"d" + k``
        (a mapping may also use ``k`` itself).
    inputs : mapping of str to ndarray
        Keyword arguments of ``forward``. Arrays are copied; the caller's are
        not touched. Non-array entries (an activation name, say) are passed
        through unchanged.
    wrt : iterable of str, optional
        Names to check; default every float array in ``inputs``.
    dout : ndarray, optional
        Upstream gradient; default standard normal of the output's shape
        (1.0 for a scalar output).
    eps : float
        Finite-difference step.
    seed : int
        Seed of the random ``dout``.
    on_array : callable, optional
        Called with each name of ``wrt`` before its finite differences start (progress).

    Returns
    -------
    list of GradCheckResult, in the order of ``wrt``.

    Warns
    -----
    LowPrecisionGradCheckWarning
        A float array of ``inputs`` is not float64 (the check is only meaningful in float64).
    """
    _warn_low_precision(
        "check_gradients",
        {k: v for k, v in inputs.items() if isinstance(v, np.ndarray)},
        "cast the inputs with .astype(np.float64)",
    )
    inputs = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}
    if wrt is None:
        wrt = [k for k, v in inputs.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    for name in wrt:
        if name not in inputs or not isinstance(inputs[name], np.ndarray):
            raise ValueError(f"wrt names {name!r}, which is not an array in inputs ({sorted(inputs)})")
    out, cache = forward(**inputs)
    if dout is None:
        rng = np.random.default_rng(seed)
        dout = rng.standard_normal(np.shape(out)).astype(np.asarray(out).dtype) if np.ndim(out) else 1.0
    grads = backward(dout, cache)
    results = []
    for name in wrt:
        if on_array is not None:
            on_array(name)
        analytic = np.asarray(_grad_of(grads, name), dtype=np.float64)
        numeric = numerical_gradient(lambda: forward(**inputs)[0], inputs[name], dout, eps)
        results.append(_result(name, analytic, numeric))
    return results


def _result(name, analytic, numeric) -> GradCheckResult:
    return GradCheckResult(
        name, rel_error(analytic, numeric), float(np.max(np.abs(analytic - numeric))), analytic, numeric
    )


def indrnn_check_inputs(
    T: int,
    B: int,
    M: int,
    N: int,
    *,
    activation: str = "relu",
    dtype=np.float64,
    seed: int = 0,
    margin: float = 1e-3,
    max_tries: int = 1000,
) -> dict:
    """Random inputs for an IndRNN gradient check, with ReLU kinks avoided.

    x ~ N(0, 1), W ~ N(0, 1/M), u ~ U(-1, 1) (negative u too: the maths does
    not need u ≥ 0), b ~ N(0, 0.1²), h0 ~ N(0, 1). For ``relu``, inputs are
    redrawn until every pre-activation a_t satisfies ``|a_t| >= margin``, so
    that no finite difference of size ε ≪ margin crosses the kink at 0.

    Returns
    -------
    dict with x (T, B, M), W (M, N), u (N,), b (N,), h0 (B, N), activation.
    """
    from .ops import indrnn_forward

    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        inp = dict(
            x=rng.standard_normal((T, B, M)),
            W=rng.standard_normal((M, N)) / np.sqrt(M),
            u=rng.uniform(-1, 1, N),
            b=0.1 * rng.standard_normal(N),
            h0=rng.standard_normal((B, N)),
        )
        inp = {k: v.astype(dtype) for k, v in inp.items()}
        if activation != "relu":
            return {**inp, "activation": activation}
        # Recompute a_t for ReLU to test the margin: a_t = W x_t + u ⊙ h_{t-1} + b.
        h_relu, _ = indrnn_forward(**inp, activation="relu", backend="numpy")
        h_prev = np.concatenate([inp["h0"][None], h_relu[:-1]], axis=0)
        a = inp["x"] @ inp["W"] + inp["u"] * h_prev + inp["b"]
        if np.min(np.abs(a)) >= margin:
            return {**inp, "activation": activation}
    raise RuntimeError(f"no kink-free relu inputs found in {max_tries} tries; lower margin or the shape")


def check_indrnn(
    backend: str = "cpu",
    activation: str = "relu",
    *,
    T: int = 12,
    B: int = 3,
    M: int = 4,
    N: int = 5,
    seed: int = 0,
    eps: float = 1e-6,
    on_array: Callable[[str], None] | None = None,
) -> list[GradCheckResult]:
    """Gradient-check every input of one IndRNN layer (x, W, u, b, h0) in float64.

    ``on_array`` (optional) is called with each array's name before its finite differences start.
    """
    from .ops import indrnn_backward, indrnn_forward

    inputs = indrnn_check_inputs(T, B, M, N, activation=activation, seed=seed)

    def forward(**kw):
        return indrnn_forward(**kw, backend=backend)

    return check_gradients(
        forward,
        indrnn_backward,
        inputs,
        wrt=["x", "W", "u", "b", "h0"],
        eps=eps,
        seed=seed + 1,
        on_array=on_array,
    )


def closed_form_check(
    backend: str = "cpu", *, T: int = 12, B: int = 3, M: int = 4, N: int = 5, seed: int = 0
):
    """Eq. 4, BPTT and finite differences side by side, for the linear case.

    With the identity activation and ``∂J/∂h_T = 1`` at the last step only,
    Eq. 4 says ``∂J/∂h_0 = u^T`` for every neuron. This returns, per neuron,
    u, the closed form, what :func:`indrnn_backward` gives for ``dh0`` and
    the centered finite difference, plus the largest relative error between
    each pair.

    Returns
    -------
    rows : list of dict
        ``neuron, u, closed_form, bptt, finite_difference``.
    errors : dict
        ``bptt_vs_closed_form``, ``fd_vs_closed_form``, ``fd_vs_bptt``.
    """
    from .dynamics import indrnn_gradient_through_time
    from .ops import indrnn_backward, indrnn_forward

    inp = indrnn_check_inputs(T, B, M, N, activation="identity", seed=seed)
    dh = np.zeros((T, B, N))
    dh[-1] = 1.0
    _, cache = indrnn_forward(**inp, backend=backend)
    bptt = indrnn_backward(dh, cache).dh0  # (B, N)
    closed = np.broadcast_to(indrnn_gradient_through_time(inp["u"], T)[0], (B, N))
    h0 = inp["h0"].copy()
    fd = numerical_gradient(lambda: indrnn_forward(**{**inp, "h0": h0}, backend=backend)[0], h0, dh)
    rows = [
        dict(
            neuron=n,
            u=float(inp["u"][n]),
            closed_form=float(closed[0, n]),
            bptt=float(bptt[0, n]),
            finite_difference=float(fd[0, n]),
        )
        for n in range(N)
    ]
    errors = dict(
        bptt_vs_closed_form=rel_error(bptt, closed),
        fd_vs_closed_form=rel_error(fd, closed),
        fd_vs_bptt=rel_error(fd, bptt),
    )
    return rows, errors


def check_model_gradients(
    model,
    x,
    y,
    loss_forward,
    loss_backward,
    *,
    names=None,
    eps: float = 1e-6,
    check_input: bool = True,
    lengths=None,
) -> list[GradCheckResult]:
    """Gradient-check a whole model (a :class:`indrnn_np.models.Sequential`) end to end.

    The scalar is the loss itself; each parameter array in ``model.params``
    (or those in ``names``) is perturbed in place one element at a time and
    restored. Layers must be deterministic in training mode (no dropout).

    A model on the GPU (:func:`indrnn_np.nn.to_device`) is checked as it
    runs there: each parameter is copied to the host, perturbed there and
    copied back before every forward pass, and the device loss and gradients
    are copied to the host to be compared.

    ``lengths`` (B,): x is a padded batch of variable-length sequences; the
    model and the loss get them (``loss_forward(pred, y, lengths=lengths)``).

    Returns
    -------
    list of GradCheckResult, one per parameter (and ``"x"`` when ``check_input``).

    Warns
    -----
    LowPrecisionGradCheckWarning
        ``x`` or a parameter is not float64: build the model with ``dtype=np.float64``.
    """
    from .ops.device import assign, is_device, to_host

    _warn_low_precision(
        "check_model_gradients",
        {"x": x, **model.params},
        "build the model with dtype=np.float64 and cast x with x.astype(np.float64)",
    )

    kw = {} if lengths is None else {"lengths": lengths}

    def loss_of():
        pred, _ = model.forward(x, train=True, **kw)
        return float(np.asarray(to_host(loss_forward(pred, y, **kw)[0])).reshape(-1)[0])

    pred, caches = model.forward(x, train=True, **kw)
    _, lcache = loss_forward(pred, y, **kw)
    dx, grads = model.backward(loss_backward(1.0, lcache), caches)
    targets = dict(model.params)
    if names is not None:
        targets = {k: targets[k] for k in names}
    if check_input:
        targets = {"x": x, **targets}
        grads = {"x": dx, **grads}
    results = []
    for name, arr in targets.items():
        if is_device(arr):
            host = arr.copy_to_host()

            def perturbed(arr=arr, host=host):
                assign(arr, host)
                return np.asarray(loss_of())

            numeric = numerical_gradient(perturbed, host, 1.0, eps)
            assign(arr, host)
        else:
            numeric = numerical_gradient(lambda: np.asarray(loss_of()), arr, 1.0, eps)
        results.append(_result(name, np.asarray(to_host(grads[name]), dtype=np.float64), numeric))
    return results


# --------------------------------------------------------------------------
# The report of ``python -m indrnn_np gradcheck``
# --------------------------------------------------------------------------

#: Eq. 4's closed form against BPTT: both are exact, so only rounding separates them.
CLOSED_FORM_TOLERANCE = 1e-12

#: The layer's shape in the report's checks.
REPORT_SHAPE = dict(T=12, B=3, M=4, N=5)

#: The shape of backend ``cuda`` in Numba's CUDA simulator, where every GPU thread is a Python thread and
#: every checked element costs two simulated forward passes: at :data:`REPORT_SHAPE` one simulated
#: forward pass took about 1 s on 2 cores and the report needs over a thousand; at this shape an
#: activation's check took 4-7 s.
SIMULATOR_SHAPE = dict(T=3, B=2, M=2, N=3)

#: Launch sizes in the simulator: few Python threads a block, and still two blocks of the recurrence
#: (B·N = 6 columns) and partial GEMM tiles at :data:`SIMULATOR_SHAPE`.
SIMULATOR_LAUNCH = dict(threads_per_block=4, gemm_tile=4)


def available_backends() -> list[str]:
    """The backends that can run here: numpy and cpu always, cuda when a target is found."""
    from .ops import cuda_available

    return ["numpy", "cpu"] + (["cuda"] if cuda_available() else [])


def _shape_text(shape) -> str:
    return " ".join(f"{k}={v}" for k, v in shape.items())


def _in_simulator(backend) -> bool:
    from .ops.backend import resolve

    return resolve(backend).in_simulator()


def gradcheck_report(backends=None, seed: int = 0, progress=None) -> tuple[str, int]:
    """Every gradient of the IndRNN layer on each backend, and Eq. 4 three ways.

    Backend ``cuda`` in Numba's CUDA simulator is checked at :data:`SIMULATOR_SHAPE` with
    :data:`SIMULATOR_LAUNCH`; every other backend at :data:`REPORT_SHAPE`.

    Parameters
    ----------
    backends : list of str, optional
        Default: every backend that can run here.
    seed : int
        Seed of the inputs.
    progress : text file, optional
        Where to write what is being checked as it goes (``sys.stderr`` on the command line): a
        line per backend and activation, the arrays' names as their finite differences start, a
        note when Numba compiles, and each line's seconds.

    Returns
    -------
    (text, failed) : (str, int)
        The Markdown report and the number of failed checks.

    Raises
    ------
    CudaUnavailableError
        ``"cuda"`` asked for where no CUDA target can run (before any check).
    """
    import contextlib
    import time

    from .compiling import CompileWatch
    from .config import cuda_launch_config
    from .ops import require_cuda
    from .report import format_table

    backends = list(backends or available_backends())
    if "cuda" in backends:
        require_cuda()

    def say(text: str) -> None:
        if progress is not None:
            progress.write(text)
            progress.flush()

    def checked(backend: str, label: str, run):
        """``run(on_array)`` with the progress line ``label: x W u b h0 (seconds)`` around it."""
        say(f"{label}:")
        t0 = time.perf_counter()
        from .ops.backend import resolve

        watch = CompileWatch(lambda: say(" compiling the kernels..."), cuda=resolve(backend).on_device)
        launch = (
            cuda_launch_config(**SIMULATOR_LAUNCH) if _in_simulator(backend) else contextlib.nullcontext()
        )
        with watch, launch:
            out = run(lambda name: say(f" {name}"))
        say(f" ({time.perf_counter() - t0:.1f} s)\n")
        return out

    shapes = {b: SIMULATOR_SHAPE if _in_simulator(b) else REPORT_SHAPE for b in backends}
    notes = [
        f"backend cuda runs in Numba's CUDA simulator, where every GPU thread is a Python thread: checked at "
        f"{_shape_text(SIMULATOR_SHAPE)} with {SIMULATOR_LAUNCH['threads_per_block']} threads a block and "
        f"GEMM tiles of {SIMULATOR_LAUNCH['gemm_tile']}."
        for b in backends
        if _in_simulator(b)
    ]
    say(f"gradient check of {', '.join(backends)}, 3 activations each, then Eq. 4 three ways\n")
    for note in notes:
        say(note + "\n")
    rows = []
    for backend in backends:
        for act in ("relu", "tanh", "identity"):
            results = checked(
                backend,
                f"{backend} {act}",
                lambda on_array, backend=backend, act=act: check_indrnn(
                    backend, act, seed=seed, on_array=on_array, **shapes[backend]
                ),
            )
            rows += [
                dict(
                    backend=backend,
                    activation=act,
                    array=r.name,
                    rel_error=r.rel_error,
                    result="pass" if r.passed else "FAIL",
                )
                for r in results
            ]
    failed = sum(r["result"] != "pass" for r in rows)
    cols = [("backend", "backend", "s"), ("activation", "activation", "s"), ("array", "array", "s")]
    cols += [("rel_error", "max rel. error", ".2e"), ("result", "result", "s")]
    lines = [
        f"IndRNN layer gradient check: float64, {_shape_text(REPORT_SHAPE)}, centered differences (eps=1e-6),",
        f"normwise relative error max|a-n| / (max|a| + max|n|), pass below {DEFAULT_TOLERANCE:g}.",
        *notes,
        "",
        format_table(rows, cols),
        "",
        "Eq. 4 three ways: identity activation, ∂J/∂h_T = 1 at the last step only,",
        "so the closed form is ∂J/∂h_0 = u^T for every neuron (batch row 0 shown).",
        "",
    ]
    cf_cols = [("neuron", "neuron", "d"), ("u", "u", ".6f"), ("closed_form", "closed form u^T", ".12e")]
    cf_cols += [("bptt", "BPTT dh0", ".12e"), ("finite_difference", "finite difference", ".12e")]
    for backend in backends:
        cf_rows, e = checked(
            backend,
            f"{backend} Eq. 4",
            lambda on_array, backend=backend: closed_form_check(backend, seed=seed, **shapes[backend]),
        )
        ok = e["bptt_vs_closed_form"] < CLOSED_FORM_TOLERANCE and e["fd_vs_closed_form"] < DEFAULT_TOLERANCE
        failed += not ok
        lines += [
            f"backend {backend} (T={shapes[backend]['T']}):",
            format_table(cf_rows, cf_cols),
            f"rel. error: BPTT vs closed form {e['bptt_vs_closed_form']:.2e}, finite difference vs closed form "
            f"{e['fd_vs_closed_form']:.2e}, finite difference vs BPTT {e['fd_vs_bptt']:.2e}: "
            f"{'pass' if ok else 'FAIL'}",
            "",
        ]
    lines.append(f"{len(rows) + len(backends) - failed} passed, {failed} failed")
    return "\n".join(lines), failed
