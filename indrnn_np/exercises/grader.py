"""The grader of the learner's file: each function against the project's own code, with hints.

Each exercise is run on a few cases: a first, diagnostic one in float64 (shapes drawn from the
seed, T >= 3 and B >= 2), then float32 and the edges (T = 1, B = 1). The reference is the
project's own code (:func:`indrnn_np.ops.indrnn_forward` and :func:`~indrnn_np.ops.indrnn_backward`
on the NumPy backend, :func:`indrnn_np.nn.project_u`, :func:`indrnn_np.gradcheck.numerical_gradient`,
:func:`indrnn_np.kernels.scan.reference.compose`); the gradients of exercise 2 are also compared with
centred finite differences in float64.

Where an answer is wrong, the grader looks for the usual mistake that explains it: each mistake is a
small function below that computes the reference *with that mistake*; when the learner's answer
matches it (and the right answer does not), its hint is printed. Nothing here guesses from the
learner's source: only what the functions return is read.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from .template import EXERCISES

#: Normwise relative error ``max|a - b| / max(1, max|a| + max|b|)``-style tolerance per dtype:
#: 4096 ε (float64 9.1e-13, float32 4.9e-4): different but right orders of operations stay far below.
TOLERANCE_EPS = 4096

#: Seconds each of the learner's functions may run, its calls on all its cases together (the
#: grader's own work not counted), before it is reported as failed: ``check --time-limit``.
TIME_LIMIT = 60.0


class Grade(NamedTuple):
    """What the grader says about one function.

    Attributes
    ----------
    number : int
        The exercise's number (1-5).
    name : str
        The function's name.
    status : {"passed", "failed", "not done", "missing"}
    message : str
        One line: the cases passed, or what is wrong and on which case.
    hint : str or None
        The usual mistake that explains it, when one does.
    """

    number: int
    name: str
    status: str
    message: str
    hint: str | None = None


class _Failed(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


class _NotDone(Exception):
    pass


class _TimedOut(BaseException):
    """Raised in the learner's code by SIGALRM: not an Exception, so `except Exception` lets it by."""


class _Clock:
    """The time the function being graded has left: ``None`` for no limit."""

    limit: float | None = None
    left: float | None = None


def time_limit_applies() -> bool:
    """Whether the time limit can be enforced here: SIGALRM and setitimer (Unix), in the main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _limited():
    """Run the block within what is left of :class:`_Clock`; past it, :class:`_TimedOut` is raised
    in the running (Python) code. No limit where SIGALRM is unavailable (:func:`time_limit_applies`)."""
    left = _Clock.left
    if left is None or not time_limit_applies():
        yield
        return
    if left <= 0:
        raise _TimedOut()
    armed = [True]

    def alarm(signum, frame):
        if armed[0]:
            raise _TimedOut()

    old = signal.signal(signal.SIGALRM, alarm)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, left)
    try:
        yield
    finally:
        try:
            armed[0] = False
        finally:  # even when the alarm went off on the way out
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old if old is not None else signal.SIG_DFL)
            _Clock.left = max(0.0, left - (time.monotonic() - start))


# --------------------------------------------------------------------------
# Calling the learner's code, comparing arrays
# --------------------------------------------------------------------------


def line_in_file(exc: BaseException, path: str | None) -> str:
    """`` (line N of your file)`` for the deepest frame of ``exc`` in the learner's file."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if path is not None and frame.filename == path:
            line = frame.lineno
    return f" (line {line} of your file)" if line is not None else ""


def _call(fn, *args, path=None, where=""):
    """``fn(*args)`` within the time left (:class:`_Clock`): NotImplementedError is 'not done yet',
    running past the limit or any other error one line."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), _limited():
            warnings.simplefilter("ignore")
            return fn(*args)
    except NotImplementedError:
        raise _NotDone() from None
    except _TimedOut:
        raise _Failed(
            f"{where}ran past the time limit of {_Clock.limit:g} s (its calls on every case together; "
            "check --time-limit SECONDS sets it)",
            "a loop that never ends (a while whose condition stays true, a counter never moved), or far "
            "more work than these small cases need: each takes well under a second",
        ) from None
    except (Exception, SystemExit) as exc:  # the learner's bug, whatever it is: one line, not a traceback
        text = " ".join(str(exc).split())
        raise _Failed(
            f"{where}raised {type(exc).__name__}: {text}{line_in_file(exc, path)}",
            _hint_for_exception(exc),
        ) from None


def _hint_for_exception(exc: Exception) -> str | None:
    text = str(exc)
    if isinstance(exc, ValueError) and ("matmul" in text or "shapes" in text or "broadcast" in text):
        return (
            "a shape does not fit: x[t] is (B, M), W is (M, N), so W x_t is x[t] @ W, (B, N); "
            "u and b are (N,) and broadcast over the batch"
        )
    return None


def _tolerance(dtype) -> float:
    return TOLERANCE_EPS * float(np.finfo(dtype).eps)


def _error(yours, ref) -> float:
    """Normwise relative error, NaN or inf where one has them and the other does not: inf."""
    yours, ref = np.asarray(yours, np.float64), np.asarray(ref, np.float64)
    if yours.shape != ref.shape:
        return math.inf
    if yours.size == 0:
        return 0.0
    if not np.array_equal(np.isfinite(yours), np.isfinite(ref)):
        return math.inf
    finite = np.isfinite(ref)
    if not np.array_equal(yours[~finite], ref[~finite], equal_nan=True):
        return math.inf
    y, r = yours[finite], ref[finite]
    if y.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(y)) + np.max(np.abs(r))))
    return float(np.max(np.abs(y - r)) / scale)


def _err_text(err: float) -> str:
    """``max rel. error 3.2e-01``, or where the values are not finite."""
    if math.isinf(err):
        return "NaN or inf where the right values are finite"
    return f"max rel. error {err:.1e}"


def _array(value, what: str, where: str = "", returned: bool = False) -> np.ndarray:
    """``value`` as an array of numbers; a value that is not a NumPy array (a list, a float, None),
    or one of other things than numbers, fails first, before its dtype or shape are judged.

    ``returned``: ``value`` is the function's whole result (``returned a list``), else one of its parts
    (``dx is a list``)."""
    if value is None:
        raise _Failed(
            f"{where}returned None" + ("" if returned else f" for {what}"),
            "the function must return its result: add `return ...`",
        )
    if not isinstance(value, np.ndarray | np.generic):
        kind = _a(type(value).__name__)
        raise _Failed(
            f"{where}returned {kind}, not a NumPy array"
            if returned
            else f"{where}{what} is {kind}, not a NumPy array",
            _NOT_AN_ARRAY,
        )
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise _Failed(f"{where}{what} is an array of {arr.dtype}, not of numbers")
    return arr


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


_NOT_AN_ARRAY = (
    "return NumPy arrays: fill one made with np.empty, np.zeros or np.*_like, or compute it with NumPy "
    "operations; .tolist(), list(...) and Python numbers are not arrays (np.asarray turns them into one)"
)


def _in_place_hint(name: str) -> str:
    return (
        f"leave the inputs as they were: `a = {name}` gives {name} a second name, not a copy, so "
        f"a[...] = ..., a += ... or out=a write into {name}; compute new arrays (a = a * u + b, "
        f"np.empty_like({name})) or write into a copy ({name}.copy())"
    )


def _unchanged(given: dict, originals: dict, where: str, hint=None) -> None:
    """Fail naming every input the learner's function changed in place: ``given`` are the copies it was
    called with, ``originals`` what they held; ``hint``: a text, or a function of the first changed
    input's name (default :func:`_in_place_hint`)."""
    changed = [k for k in originals if not _same(given[k], originals[k])]
    if changed:
        names = changed[0] if len(changed) == 1 else ", ".join(changed[:-1]) + " and " + changed[-1]
        verb = "was" if len(changed) == 1 else "were"
        hint = hint or _in_place_hint
        raise _Failed(f"{where}{names} {verb} changed in place", hint(changed[0]) if callable(hint) else hint)


def _same(a, b) -> bool:
    a = np.asarray(a)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _case_text(case: dict) -> str:
    return f"{np.dtype(case['dtype']).name}, " + " ".join(f"{k}={case[k]}" for k in "TBMN" if k in case)


def _dtype_check(arr: np.ndarray, dtype, what: str) -> None:
    if arr.dtype != np.dtype(dtype):
        raise _Failed(
            f"{what} is {arr.dtype} for {np.dtype(dtype).name} inputs",
            "keep the inputs' dtype: np.zeros(shape) and np.empty(shape) are float64; "
            "np.zeros_like(x), np.empty_like(x) or dtype=x.dtype keep it",
        )


#: The hint when no usual mistake alone gives the learner's numbers.
NO_MATCH = (
    "no single usual mistake gives your numbers: there may be more than one; check each line against "
    "the docstring's equation"
)


def _explain(yours: dict, ref: dict, variants, tol: float):
    """The first mistake whose outputs match ``yours`` on every array where yours is wrong, else
    :data:`NO_MATCH`.

    ``variants`` yields ``(hint, outputs)``; an output matches where its error against ``yours`` is
    within ``tol`` and it differs from the reference there (the mistake shows on this case)."""
    wrong = [k for k in ref if _error(yours[k], ref[k]) > tol]
    for hint, outputs in variants:
        if all(
            k in outputs and _error(yours[k], outputs[k]) <= tol and _error(outputs[k], ref[k]) > tol
            for k in wrong
        ):
            return hint
    return NO_MATCH


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------


def _layer_cases(rng) -> list[dict]:
    """The diagnostic case (float64, T >= 3, B >= 2, M != N), float32, T = 1, B = 1."""
    T, B = int(rng.integers(4, 9)), int(rng.integers(2, 5))
    M = int(rng.integers(2, 6))
    N = int(rng.choice([n for n in range(3, 8) if n != M]))
    return [
        dict(dtype=np.float64, T=T, B=B, M=M, N=N),
        dict(dtype=np.float32, T=int(rng.integers(3, 8)), B=int(rng.integers(2, 5)), M=N, N=M),
        dict(dtype=np.float64, T=1, B=int(rng.integers(2, 4)), M=M, N=N),
        dict(dtype=np.float32, T=int(rng.integers(3, 6)), B=1, M=M, N=N),
        dict(dtype=np.float64, T=1, B=1, M=1, N=1),
    ]


def _layer_inputs(case: dict, seed: int) -> dict:
    """x, W, u, b, h0 with pre-activations away from ReLU's kink, some neurons on and some off."""
    from ..gradcheck import indrnn_check_inputs
    from ..ops import indrnn_forward

    T, B, M, N = (case[k] for k in "TBMN")
    for attempt in range(100):
        inp = indrnn_check_inputs(T, B, M, N, seed=seed + 1000 * attempt, margin=1e-2)
        inp.pop("activation")
        h, _ = indrnn_forward(**inp, activation="relu", backend="numpy")
        mixed = T * B * N == 1 or (0 < np.count_nonzero(h) < h.size)
        if mixed and np.all(np.abs(inp["h0"]) > 0.1):
            return {k: v.astype(case["dtype"]) for k, v in inp.items()}
    raise RuntimeError(f"no inputs with neurons both on and off at {case}")  # pragma: no cover


# --------------------------------------------------------------------------
# Exercise 1: the forward pass
# --------------------------------------------------------------------------


def forward_reference(x, W, u, b, h0):
    """Eq. 2 by the project's own op (the NumPy backend): h (T, B, N)."""
    from ..ops import indrnn_forward

    return indrnn_forward(x, W, u, b, h0, activation="relu", backend="numpy")[0]


def forward_with_mistake(x, W, u, b, h0, mistake: str):
    """Eq. 2 written with one of the usual mistakes (:data:`FORWARD_MISTAKES`)."""
    T, B, N = x.shape[0], x.shape[1], W.shape[1]
    h = np.zeros((T, B, N), x.dtype)
    h_prev = np.zeros_like(h0) if mistake in ("h0_ignored", "skips_step_0") else h0
    for t in range(1 if mistake in ("skips_step_0", "starts_at_1") else 0, T):
        a = x[t] @ W + u * h_prev + (0 if mistake == "no_bias" else b)
        h[t] = {"no_relu": a, "tanh": np.tanh(a)}.get(mistake, np.maximum(a, 0))
        h_prev = h[t]
    if mistake == "one_step_late":
        h = np.concatenate([h0[None], h[:-1]])
    return h


_SKIPPED_STEP_0 = (
    "off by one in time: step t = 0 was skipped (h[0] is 0); the loop runs over t = 0 .. T-1, "
    "with h_{t-1} = h0 at t = 0"
)

#: The forward pass's usual mistakes and their hints, in the order they are tried.
FORWARD_MISTAKES = {
    "no_relu": "the ReLU is missing: h_t = relu(a_t) = np.maximum(a_t, 0), not a_t",
    "tanh": "this layer's activation is ReLU, np.maximum(a_t, 0), not tanh",
    "h0_ignored": "h0 ignored: h_{t-1} of step 0 is the initial state h0, not zeros",
    "no_bias": "the bias b is missing from a_t = W x_t + u ⊙ h_{t-1} + b",
    "one_step_late": (
        "off by one in time: h[t] is the state after step t, so h[0] = relu(x[0] @ W + u * h0 + b); "
        "yours is one step late (h[0] holds h0)"
    ),
    "skips_step_0": _SKIPPED_STEP_0,  # the loop from t = 1, reading h[t - 1] = h[0] = 0
    "starts_at_1": _SKIPPED_STEP_0,  # the loop from t = 1, carrying h_prev = h0 into it
}


def _grade_forward(fn, cases, seed, path):
    for i, case in enumerate(cases):
        inp = _layer_inputs(case, seed + i)
        ref = forward_reference(**inp)
        where = f"on {_case_text(case)}: "
        given = {k: inp[k].copy() for k in ("x", "W", "u", "b", "h0")}
        h = _array(_call(fn, *given.values(), path=path, where=where), "h", where, returned=True)
        _unchanged(given, inp, where)
        T, B, N = ref.shape
        if h.shape != ref.shape:
            hint = None
            if h.shape == (B, N):
                hint = "return the state of every step, h (T, B, N), not only the last one"
            elif h.shape == (T + 1, B, N):
                hint = "h holds the T states after each step: h[0] is the state after step 0, not h0"
            raise _Failed(f"{where}h has shape {h.shape}; expected (T, B, N) = {ref.shape}", hint)
        tol = _tolerance(case["dtype"])
        err = _error(h, ref)
        if err > tol:
            variants = (
                (hint, {"h": forward_with_mistake(**inp, mistake=name)})
                for name, hint in FORWARD_MISTAKES.items()
            )
            raise _Failed(
                f"{where}h differs from Eq. 2 ({_err_text(err)})",
                _explain({"h": h}, {"h": ref}, variants, tol),
            )
        _dtype_check(h, case["dtype"], "h")
    return f"{len(cases)} cases ({_cases_summary(cases)})"


def _cases_summary(cases) -> str:
    first = cases[0]
    return f"{_case_text(first)}; float32; T = 1; B = 1"


# --------------------------------------------------------------------------
# Exercise 2: BPTT
# --------------------------------------------------------------------------

GRAD_NAMES = ("dx", "dW", "du", "db", "dh0")


def backward_reference(dh, x, W, u, h0, h) -> dict:
    """BPTT by the project's own op: dx, dW, du, db, dh0."""
    from ..ops import IndRNNCache, indrnn_backward

    g = indrnn_backward(dh, IndRNNCache(x, W, u, h0, h, "relu", "numpy"))
    return dict(zip(GRAD_NAMES, g, strict=True))


def backward_with_mistake(dh, x, W, u, h0, h, mistake: str) -> dict:
    """BPTT written with one of the usual mistakes (:data:`BACKWARD_MISTAKES`)."""
    T = dh.shape[0]
    da = np.zeros_like(h)
    parts = np.zeros_like(h)  # ∂J/∂a_t ⊙ h_{t-1}, every (t, b, n): du is their sum
    carry = np.zeros_like(h0)
    times = range(T) if mistake == "forward_in_time" else range(T - 1, -1, -1)
    for t in times:
        direct = dh[t] if (mistake != "last_dh_only" or t == T - 1) else 0
        g = direct + carry
        da[t] = g if mistake == "no_mask" else g * (h[t] > 0)
        if t > 0:
            h_prev = h[t - 1]
        else:
            h_prev = {"h0_ignored": np.zeros_like(h0), "wraps_to_last": h[-1]}.get(mistake, h0)
        if mistake == "du_uses_h_t":
            h_prev = h[t]
        parts[t] = da[t] * h_prev
        back = g if mistake == "carry_unmasked" else da[t]
        carry = back if mistake == "carry_without_u" else u * back
    out = dict(
        dx=da @ W.T,
        dW=np.einsum("tbm,tbn->mn", x, da),
        du=parts.sum(axis=(0, 1)),
        db=da.sum(axis=(0, 1)),
        dh0={"dh0_zero": np.zeros_like(h0), "dh0_without_u": da[0]}.get(mistake, carry),
    )
    return out


#: BPTT's usual mistakes and their hints, in the order they are tried.
BACKWARD_MISTAKES = {
    "no_mask": (
        "the ReLU mask is missing or masks nothing: ∂J/∂a_t = ∂J/∂h_t ⊙ relu'(a_t), and relu'(a_t) is "
        "1 where h_t > 0, else 0: write h[t] > 0 (h[t] >= 0 is true everywhere, since h = max(a, 0) is "
        "never negative)"
    ),
    "carry_unmasked": (
        "what step t sends back to h_{t-1} is u ⊙ ∂J/∂a_t, after the ReLU mask, not u ⊙ ∂J/∂h_t"
    ),
    "carry_without_u": "what step t sends back to h_{t-1} is u ⊙ ∂J/∂a_t: the factor u is missing",
    "du_uses_h_t": (
        "off by one in time: a_t = W x_t + u ⊙ h_{t-1} + b, so du sums ∂J/∂a_t ⊙ h_{t-1} (h0 at t = 0), "
        "not ∂J/∂a_t ⊙ h_t"
    ),
    "wraps_to_last": (
        "at t = 0, h[t - 1] is h[-1]: Python's last state, not the one before step 0; use h0 there"
    ),
    "h0_ignored": "h0 ignored: at t = 0, h_{t-1} is h0, so du gets ∂J/∂a_0 ⊙ h0 too",
    "last_dh_only": ("dh[t] arrives at every step, not only the last: ∂J/∂h_t = dh[t] + u ⊙ ∂J/∂a_{t+1}"),
    "forward_in_time": "BPTT runs backwards in time: from t = T-1 down to 0, carrying u ⊙ ∂J/∂a_{t+1}",
    "dh0_zero": "dh0 is what step 0 sends back to h0: u ⊙ ∂J/∂a_0 (the last carry of the loop)",
    "dh0_without_u": (
        "dh0 is what step 0 sends back to h0: u ⊙ ∂J/∂a_0 (the last carry of the loop); the factor u "
        "is missing (yours is ∂J/∂a_0)"
    ),
}

_SUM_HINT = {
    "time": "{name} not summed over time: every step uses the same {param}, so {name} adds up every step's "
    "contribution ({name} += ... in the loop)",
    "batch": "{name} not summed over the batch: {param} has one entry per neuron, (N,), shared by every "
    "sequence, so {name} sums over the batch too (.sum(axis=0))",
    "both": "{name} must be summed over time and batch: {param} is one (N,) vector shared by every step "
    "and every sequence",
    "one_step": "{name} holds one step's contribution only: add every step's ({name} += ..., not {name} = ...)",
    "mean": "{name} is averaged over the batch; the gradient of a sum is summed (.sum(axis=0), not .mean)",
}


def _reduction_hint(name: str, yours: np.ndarray, parts: np.ndarray, tol: float) -> str | None:
    """du or db summed the wrong way: ``parts`` (T, B, N) are its per-step, per-sequence terms."""
    T, B, N = parts.shape
    param = {"du": "u", "db": "b"}[name]
    candidates = {
        "batch": parts.sum(axis=0),  # (B, N)
        "time": parts.sum(axis=1),  # (T, N)
        "both": parts,
        "one_step": [parts[0].sum(axis=0), parts[-1].sum(axis=0)],
        "mean": parts.sum(axis=(0, 1)) / B,
    }
    for kind, values in candidates.items():
        for value in values if isinstance(values, list) else [values]:
            if yours.shape == value.shape and _error(yours, value) <= tol:
                if kind == "one_step" and _error(value, parts.sum(axis=(0, 1))) <= tol:
                    continue
                if kind == "mean" and B == 1:
                    continue
                return _SUM_HINT[kind].format(name=name, param=param)
    return None


def _numerical_grads(inp: dict, dh: np.ndarray) -> dict:
    """Centred finite differences in float64 of J = Σ h ⊙ dh, for x, W, u, b, h0."""
    from ..gradcheck import numerical_gradient

    arrays = {k: inp[k].astype(np.float64) for k in ("x", "W", "u", "b", "h0")}
    out = {}
    for k in arrays:
        out["d" + k] = numerical_gradient(lambda: forward_reference(**arrays), arrays[k], dh, eps=1e-6)
    return out


def _grade_backward(fn, cases, seed, path):
    fd_error = None
    for i, case in enumerate(cases):
        inp = _layer_inputs(case, seed + i)
        rng = np.random.default_rng(seed + 100 + i)
        h = forward_reference(**inp)
        dh = rng.standard_normal(h.shape).astype(case["dtype"])
        args = dict(dh=dh, x=inp["x"], W=inp["W"], u=inp["u"], h0=inp["h0"], h=h)
        ref = backward_reference(**args)
        where = f"on {_case_text(case)}: "
        given = {k: v.copy() for k, v in args.items()}
        out = _call(fn, *given.values(), path=path, where=where)
        if not isinstance(out, tuple | list) or len(out) != 5:
            raise _Failed(
                f"{where}returned {_what_returned(out)}; expected the five gradients (dx, dW, du, db, dh0)",
                "end with `return dx, dW, du, db, dh0`",
            )
        yours = {k: _array(v, k, where) for k, v in zip(GRAD_NAMES, out, strict=True)}
        _unchanged(given, args, where)
        tol = _tolerance(case["dtype"])
        T, B, N = h.shape
        h_prev = np.concatenate([inp["h0"][None], h[:-1]])
        da_t = _da(args)  # the right loop's ∂J/∂a_t: du's and db's terms of every step and sequence
        parts = {"du": da_t * h_prev, "db": da_t}
        for k in GRAD_NAMES:
            if yours[k].shape != ref[k].shape:
                hint = _reduction_hint(k, yours[k], parts[k], tol) if k in parts else None
                if k == "dW" and yours[k].shape == (T, *ref[k].shape):
                    hint = _SUM_HINT["time"].format(name="dW", param="W")
                raise _Failed(f"{where}{k} has shape {yours[k].shape}; expected {ref[k].shape}", hint)
        errors = {k: _error(yours[k], ref[k]) for k in GRAD_NAMES}
        wrong = [k for k in GRAD_NAMES if errors[k] > tol]
        fd = None
        if i == 0:
            numeric = _numerical_grads(inp, dh)
            fd = {k: _error(yours[k], numeric[k]) for k in GRAD_NAMES}
            if not wrong:
                fd_error = max(fd.values())
        if wrong:
            variants = (
                (hint, backward_with_mistake(**args, mistake=m)) for m, hint in BACKWARD_MISTAKES.items()
            )
            hint = _explain(yours, ref, variants, tol)
            if hint is NO_MATCH and len(wrong) == 1 and wrong[0] in parts:
                hint = _reduction_hint(wrong[0], yours[wrong[0]], parts[wrong[0]], tol) or NO_MATCH
            worst = max(wrong, key=errors.get)
            against_fd = f"; {_err_text(fd[worst])} against finite differences in float64" if fd else ""
            raise _Failed(
                f"{where}{', '.join(wrong)} differ{'s' if len(wrong) == 1 else ''} from the project's "
                f"indrnn_backward ({worst}: {_err_text(errors[worst])}{against_fd})",
                hint,
            )
        for k in GRAD_NAMES:
            _dtype_check(yours[k], case["dtype"], k)
    return (
        f"{len(cases)} cases ({_cases_summary(cases)}); finite differences in float64 agree to {fd_error:.1e}"
    )


def _da(args: dict) -> np.ndarray:
    """∂J/∂a_t for every t, by the right loop (for the per-step, per-sequence terms of du and db)."""
    dh, u, h = args["dh"], args["u"], args["h"]
    da = np.zeros_like(h)
    carry = np.zeros_like(args["h0"])
    for t in range(dh.shape[0] - 1, -1, -1):
        da[t] = (dh[t] + carry) * (h[t] > 0)
        carry = u * da[t]
    return da


# --------------------------------------------------------------------------
# Exercise 3: the projection of u
# --------------------------------------------------------------------------


def project_reference(u, T, gamma):
    """The project's projection: ``nn.project_u(u, relu_u_max(T, gamma))``, into [-γ^{1/T}, γ^{1/T}]."""
    from ..dynamics import relu_u_max
    from ..nn.optim import project_u

    return project_u(u, relu_u_max(T, gamma))


def _projection_mistakes(u, T, gamma) -> dict:
    u_max = gamma ** (1 / T)
    wrong_bounds = {
        "gamma ** 1 / T": gamma / T,
        "gamma ** T": gamma**T,
        "gamma": gamma,
        "(1 / gamma) ** (1 / T)": (1 / gamma) ** (1 / T),
        "T ** (1 / gamma)": T ** (1 / gamma),
    }
    out = {
        "upper only": (np.minimum(u, u_max), _ONE_SIDED),
        "lower only": (np.maximum(u, -u_max), _ONE_SIDED),
        "nonnegative": (
            np.clip(u, 0, u_max),
            "the paper bounds |u_n|: |u_n| ∈ [0, γ^{1/T}] means -u_max ≤ u_n ≤ u_max, so a negative u "
            "above -u_max stays as it is (clipping to [0, u_max] is the option nonnegative=True of the "
            "project's nn.project_u, not the default)",
        ),
        "abs": (
            np.clip(np.abs(u), 0, u_max),
            "|u_n| ≤ u_max bounds the size of u, not its sign: keep negative entries negative",
        ),
    }
    for text, bound in wrong_bounds.items():
        hint = f"the bound is u_max = γ^{{1/T}}, gamma ** (1 / T) (2^(1/100) = 1.00696); yours is {text}"
        if text == "gamma ** 1 / T":
            hint += ": ** binds tighter than /, so gamma ** 1 / T is (gamma ** 1) / T"
        if text == "(1 / gamma) ** (1 / T)":
            hint += ", the lower end u_min of the initialisation, not the bound"
        out[text] = (np.clip(u, -bound, bound), hint)
    return out


_ONE_SIDED = (
    "projection one-sided: the range is -u_max ≤ u ≤ u_max, so clamp both ends, "
    "np.clip(u, -u_max, u_max): an entry below -u_max would let u^T explode as surely as one above u_max"
)


def _grade_project(fn, cases, seed, path):
    for i, case in enumerate(cases):
        rng = np.random.default_rng(seed + 200 + i)
        T, gamma, N = case["T"], case["gamma"], case["N"]
        u_max = gamma ** (1 / T)
        # entries above u_max, below -u_max, and inside on both sides of 0
        u = np.concatenate(
            [
                rng.uniform(u_max, 3 * u_max, N // 4 + 1),
                -rng.uniform(u_max, 3 * u_max, N // 4 + 1),
                rng.uniform(-u_max, u_max, N // 2) * 0.9,
            ]
        )
        u = rng.permutation(u).astype(case["dtype"])
        where = f"on {np.dtype(case['dtype']).name} u ({u.size},), T={T}, gamma={gamma:g}: "
        given = u.copy()
        out = _array(
            _call(fn, given, T, gamma, path=path, where=where), "the projected u", where, returned=True
        )
        _unchanged(
            {"u": given},
            {"u": u},
            where,
            "return a new array and leave u as it was: np.clip(u, lo, hi) returns one (out=u would "
            "write into u)",
        )
        ref = project_reference(u, T, gamma)
        if out.shape != ref.shape:
            raise _Failed(f"{where}returned shape {out.shape}; expected u's, {ref.shape}")
        tol = _tolerance(case["dtype"])
        err = _error(out, ref)
        if err > tol:
            variants = ((hint, {"u": value}) for value, hint in _projection_mistakes(u, T, gamma).values())
            raise _Failed(
                f"{where}differs from the projection into [-γ^{{1/T}}, γ^{{1/T}}] ({_err_text(err)})",
                _explain({"u": out}, {"u": ref}, variants, tol),
            )
        _dtype_check(out, case["dtype"], "the projected u")
    return f"{len(cases)} cases (float64 and float32; T = 1; γ = 2 and others)"


def _project_cases(rng) -> list[dict]:
    return [
        dict(dtype=np.float64, T=int(rng.integers(5, 200)), gamma=2.0, N=12),
        dict(dtype=np.float32, T=int(rng.integers(5, 200)), gamma=2.0, N=9),
        dict(dtype=np.float64, T=1, gamma=float(rng.choice([1.5, 3.0, 4.0])), N=8),
        dict(dtype=np.float64, T=1000, gamma=2.0, N=5),
    ]


# --------------------------------------------------------------------------
# Exercise 4: centred finite differences
# --------------------------------------------------------------------------


class _SmoothFunction:
    """f(x) = tanh(x_flat @ A) + 0.1 x_flat[:K]³: smooth and curved, computed in x's dtype."""

    def __init__(self, shape, K, rng):
        n = int(np.prod(shape))
        self.A = rng.standard_normal((n, K)) / math.sqrt(n)
        self.K = K

    def __call__(self, x):
        xf = np.asarray(x).reshape(-1)
        return np.tanh(xf @ self.A.astype(xf.dtype)) + 0.1 * xf[: self.K] ** 3


def gradient_reference(f, x, dout, eps):
    """The project's centred differences (:func:`indrnn_np.gradcheck.numerical_gradient`), on a float64 copy."""
    from ..gradcheck import numerical_gradient

    x64 = np.array(x, dtype=np.float64)
    return numerical_gradient(lambda: f(x64), x64, dout, eps)


def gradient_with_mistake(f, x, dout, eps, mistake: str):
    """Finite differences written with one of the usual mistakes (:data:`GRADIENT_MISTAKES`)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    J = lambda: float(np.sum(f(x) * (1.0 if mistake == "dout_ignored" else dout)))  # noqa: E731
    step = 1e-6 if mistake == "eps_ignored" else eps
    j0 = J()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + step
        j_plus = J()
        x[i] = old - step
        j_minus = J()
        if mistake != "not_restored":
            x[i] = old
        grad[i] = {
            "one_sided": (j_plus - j0) / step,
            "divided_by_eps": (j_plus - j_minus) / step,
        }.get(mistake, (j_plus - j_minus) / (2 * step))
    return grad


GRADIENT_MISTAKES = {
    "one_sided": (
        "one-sided difference: (J(x + ε) - J(x)) / ε is off by O(ε); the centred "
        "(J(x + ε) - J(x - ε)) / (2ε) by O(ε²)"
    ),
    "divided_by_eps": "divide by 2ε: the two nudges are 2ε apart, (J(x + ε) - J(x - ε)) / (2ε)",
    "dout_ignored": "J = Σ f(x) ⊙ dout: multiply f(x) by dout before summing",
    "eps_ignored": "use the eps argument as the nudge (the checks call it with other values than 1e-6)",
    "not_restored": "put x[i] back after nudging it: every later entry saw the earlier ones still nudged",
}

_FLOAT32_HINT = (
    "float32 gradient check: right on float64 x, wrong on float32 x. Copy x to float64 first "
    "(np.array(x, dtype=np.float64)): in float32 the nudge and J are rounded to about 1e-7 relative, and "
    "dividing by 2ε magnifies that to about 1e-7 · |J| / ε, far above float64's 1e-16 · |J| / ε"
)


def _grade_gradient(fn, cases, seed, path):
    passed_float64 = False
    for i, case in enumerate(cases):
        rng = np.random.default_rng(seed + 300 + i)
        shape, K, eps = case["shape"], case["K"], case["eps"]
        f = _SmoothFunction(shape, K, rng)
        x = rng.standard_normal(shape).astype(case["dtype"])
        dout = rng.standard_normal(K)
        where = f"on {np.dtype(case['dtype']).name} x {shape}, eps={eps:g}: "
        given = dict(x=x.copy(), dout=dout.copy())
        out = _array(
            _call(fn, f, *given.values(), eps, path=path, where=where), "the gradient", where, returned=True
        )
        x_hint = "put x[i] back after each nudge (or nudge a copy): x must come back as it was"
        _unchanged(given, dict(x=x, dout=dout), where, x_hint if not _same(given["x"], x) else None)
        ref = gradient_reference(f, x, dout, eps)
        if out.shape != ref.shape:
            raise _Failed(f"{where}the gradient has shape {out.shape}; expected x's, {ref.shape}")
        tol = 1e-8
        err = _error(out, ref)
        if err > tol:
            if case["dtype"] == np.float32 and passed_float64:
                raise _Failed(
                    f"{where}{_err_text(err)} against centred differences in float64", _FLOAT32_HINT
                )
            variants = (
                (hint, {"g": gradient_with_mistake(f, x, dout, eps, m)})
                for m, hint in GRADIENT_MISTAKES.items()
            )
            raise _Failed(
                f"{where}differs from centred differences ({_err_text(err)})",
                _explain({"g": out}, {"g": ref}, variants, 1e-7),
            )
        if out.dtype != np.float64:
            raise _Failed(f"{where}the gradient is {out.dtype}", _FLOAT32_HINT)
        passed_float64 = passed_float64 or case["dtype"] == np.float64
    return f"{len(cases)} cases (float64 and float32 x, 1-D to 3-D)"


def _gradient_cases(rng) -> list[dict]:
    return [
        dict(dtype=np.float64, shape=(int(rng.integers(2, 4)), int(rng.integers(2, 5))), K=4, eps=1e-2),
        dict(dtype=np.float32, shape=(2, 3, 2), K=3, eps=1e-3),
        dict(dtype=np.float64, shape=(5,), K=1, eps=1e-4),
    ]


# --------------------------------------------------------------------------
# Exercise 5: the composition of clamped affine maps
# --------------------------------------------------------------------------


def compose_reference(first, second):
    """The project's rule, :func:`indrnn_np.kernels.scan.reference.compose`."""
    from ..kernels.scan.reference import compose

    return compose(first, second)


def apply_map(f, h):
    """``min(max(a h + c, lo), hi)``."""
    from ..kernels.scan.reference import apply_map as apply

    with np.errstate(all="ignore"):
        return apply(f, h)


def compose_with_mistake(first, second, mistake: str):
    """The composition with one of the usual mistakes (:data:`COMPOSE_MISTAKES`)."""
    if mistake == "reversed":
        return compose_reference(second, first)
    a1, c1, lo1, hi1 = first
    a2, c2, lo2, hi2 = second
    with np.errstate(all="ignore"):
        end_lo, end_hi = a2 * lo1 + c2, a2 * hi1 + c2
        if mistake != "zero_slope_nan":
            end_lo, end_hi = np.where(a2 == 0, c2, end_lo), np.where(a2 == 0, c2, end_hi)
        if mistake == "no_swap":
            e1, e2 = end_lo, end_hi
        else:
            e1, e2 = np.where(a2 < 0, end_hi, end_lo), np.where(a2 < 0, end_lo, end_hi)
        if mistake == "bounds_not_moved":
            e1, e2 = lo1, hi1
        if mistake in ("intersection", "bounds_not_moved"):
            lo, hi = np.maximum(e1, lo2), np.minimum(e2, hi2)
        else:
            lo, hi = np.clip(e1, lo2, hi2), np.clip(e2, lo2, hi2)
        c = {"offsets_added": c1 + c2, "offset_other_way": a1 * c2 + c1}.get(mistake, a2 * c1 + c2)
        return a2 * a1, c, lo, hi


COMPOSE_MISTAKES = {
    "reversed": (
        "the order: compose(first, second) applies first, then second: h ↦ second(first(h)); "
        "yours is first(second(h))"
    ),
    "no_swap": (
        "a negative slope a2 swaps the bounds: a2 · clamp(y, lo1, hi1) + c2 runs from a2·hi1 + c2 up "
        "to a2·lo1 + c2 when a2 < 0"
    ),
    "intersection": (
        "when the moved bounds [e1, e2] lie below lo2 the map is the constant lo2: clamp both ends into "
        "[lo2, hi2] (np.clip(e1, lo2, hi2), np.clip(e2, lo2, hi2)) rather than intersecting the intervals"
    ),
    "bounds_not_moved": (
        "the first clamp's bounds pass through the second map too: they become a2·lo1 + c2 and "
        "a2·hi1 + c2 before meeting [lo2, hi2]"
    ),
    "offsets_added": "the offset of second ∘ first is a2 c1 + c2: a2 (a1 h + c1) + c2",
    "offset_other_way": "the offset of second ∘ first is a2 c1 + c2 (apply first, then second), not a1 c2 + c1",
    "zero_slope_nan": (
        "a slope a2 = 0 (a u = 0 step) with an infinite bound: 0 · inf is NaN in NumPy; such a map "
        "sends every value to c2, so both ends are c2 (np.where(a2 == 0, c2, ...))"
    ),
}


def _random_maps(rng, n, dtype, zero_slope=False):
    """General clamped maps: any slope (zero only when asked), bounds finite or infinite, lo <= hi."""
    slopes = [-2.0, -0.5, 0.5, 1.0, 3.0] + ([0.0] if zero_slope else [])
    a = rng.choice(slopes, n) * rng.uniform(0.5, 1.5, n)
    c = rng.normal(0, 2, n)
    lo = np.where(rng.random(n) < 0.4, -np.inf, rng.normal(-1, 1, n))
    finite_hi = np.where(np.isinf(lo), rng.normal(1, 1, n), lo + rng.exponential(2, n))
    hi = np.where(rng.random(n) < 0.4, np.inf, finite_hi)
    return tuple(np.asarray(p, dtype) for p in (a, c, lo, hi))


def _relu_steps(rng, n, dtype, u=None):
    """ReLU steps (u, z, 0, +inf)."""
    u = rng.choice([-1.5, -0.7, 0.3, 1.0, 1.2], n) if u is None else np.full(n, u)
    return tuple(np.asarray(p, dtype) for p in (u, rng.normal(0, 2, n), np.zeros(n), np.full(n, np.inf)))


def _compose_pairs(case, rng):
    P, dtype = case["P"], case["dtype"]
    if case["kind"] == "zero slope":  # a u = 0 ReLU step after general maps and ReLU steps
        first = tuple(
            np.concatenate(parts)
            for parts in zip(_random_maps(rng, P, dtype), _relu_steps(rng, P, dtype), strict=True)
        )
        second = _relu_steps(rng, 2 * P, dtype, u=0.0)
        return first, second
    pairs = [
        (_random_maps(rng, P, dtype), _random_maps(rng, P, dtype)),
        (_relu_steps(rng, P, dtype), _relu_steps(rng, P, dtype)),
    ]
    return tuple(tuple(np.concatenate([pair[j][k] for pair in pairs]) for k in range(4)) for j in range(2))


def _what_returned(value) -> str:
    """How a refusal names what a learner's function returned: "a tuple of 3", or the type's name."""
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


MAP_PARTS = ("a", "c", "lo", "hi")


def _map_in_place_hint(name: str) -> str:
    which, part = name.split("'s ")
    i = "1" if which == "first" else "2"
    return (
        f"leave the maps as they were: `a{i}, c{i}, lo{i}, hi{i} = {which}` names {which}'s arrays, it does "
        f"not copy them, so {part}{i}[...] = ..., {part}{i} += ... or out={part}{i} write into {which}; "
        "compute new arrays (np.where, np.clip without out=)"
    )


def _map_parts(maps) -> dict:
    """The arrays of the maps (first, second) by name: ``first's a``, ..., ``second's hi``."""
    return {
        f"{which}'s {name}": part
        for which, parts in zip(("first", "second"), maps, strict=True)
        for name, part in zip(MAP_PARTS, parts, strict=True)
    }


def _as_map(value, n, where):
    if not isinstance(value, tuple | list) or len(value) != 4:
        raise _Failed(
            f"{where}returned {_what_returned(value)}; expected a map (a, c, lo, hi)",
            "end with `return a, c, lo, hi`",
        )
    parts = []
    for name, part in zip("a c lo hi".split(), value, strict=True):
        arr = _array(part, name, where)
        try:
            parts.append(np.broadcast_to(arr, (n,)))
        except ValueError:
            raise _Failed(
                f"{where}{name} has shape {arr.shape}; expected one entry per map, ({n},)"
            ) from None
    return tuple(parts)


def _grade_compose(fn, cases, seed, path):
    for i, case in enumerate(cases):
        rng = np.random.default_rng(seed + 400 + i)
        first, second = _compose_pairs(case, rng)
        n = first[0].size
        where = f"on {n} {case['kind']} pairs, {np.dtype(case['dtype']).name}: "
        copies = (tuple(p.copy() for p in first), tuple(p.copy() for p in second))
        yours = _as_map(_call(fn, *copies, path=path, where=where), n, where)
        _unchanged(
            _map_parts(copies),
            _map_parts((first, second)),
            where,
            _map_in_place_hint,
        )
        h = np.linspace(-10, 10, 201, dtype=case["dtype"])[:, None]  # (G, 1) against (n,) maps
        truth = apply_map(second, apply_map(first, h))
        got = apply_map(yours, h)
        tol = _tolerance(case["dtype"])
        err = _error(got, truth)
        if err > tol:
            variants = (
                (hint, {"f": apply_map(compose_with_mistake(first, second, m), h)})
                for m, hint in COMPOSE_MISTAKES.items()
            )
            raise _Failed(
                f"{where}the composed map differs from second(first(h)) ({_err_text(err)}, h in [-10, 10])",
                _explain({"f": got}, {"f": truth}, variants, tol),
            )
        for name, part in zip("a c lo hi".split(), yours, strict=True):
            _dtype_check(part, case["dtype"], name)
    return f"{len(cases)} cases (general maps and ReLU steps, float64 and float32, slope 0)"


def _compose_cases(rng) -> list[dict]:
    return [
        dict(kind="general and ReLU", P=200, dtype=np.float64),
        dict(kind="general and ReLU", P=100, dtype=np.float32),
        dict(kind="zero slope", P=50, dtype=np.float64),
    ]


# --------------------------------------------------------------------------
# All five
# --------------------------------------------------------------------------

#: Exercise name -> (its grader, its cases).
GRADERS: dict[str, tuple[Callable, Callable]] = {
    "indrnn_forward": (_grade_forward, _layer_cases),
    "indrnn_backward": (_grade_backward, _layer_cases),
    "project_u": (_grade_project, _project_cases),
    "numerical_gradient": (_grade_gradient, _gradient_cases),
    "compose": (_grade_compose, _compose_cases),
}


def grade_functions(
    functions: dict, *, seed: int = 0, path: str | None = None, time_limit: float | None = TIME_LIMIT
) -> list[Grade]:
    """Grade the learner's functions.

    Parameters
    ----------
    functions : dict of str to callable
        The learner's functions by name (a missing one is reported missing).
    seed : int
        Seed of the shapes and values of every case.
    path : str, optional
        The learner's file, to point at its line where a function raised.
    time_limit : float or None
        Seconds each function may run, its calls on all its cases together (default
        :data:`TIME_LIMIT`); past it, it fails. None: no limit. Enforced with SIGALRM, so only on Unix
        and in the main thread (:func:`time_limit_applies`); elsewhere no limit applies.

    Returns
    -------
    list of Grade
        One per exercise, in order.

    Raises
    ------
    KeyboardInterrupt
        Ctrl-C, its message naming the function being graded: ``interrupted while grading compose``.
    """
    return list(grade_each(functions, seed=seed, path=path, time_limit=time_limit))


def grade_each(
    functions: dict, *, seed: int = 0, path: str | None = None, time_limit: float | None = TIME_LIMIT
) -> Iterator[Grade]:
    """:func:`grade_functions` one at a time: each function's :class:`Grade` as soon as it is known."""
    for ex in EXERCISES:
        fn = functions.get(ex.name)
        if not callable(fn):
            yield Grade(ex.number, ex.name, "missing", f"no function {ex.name} in the file")
            continue
        grade, cases = GRADERS[ex.name]
        _Clock.limit = _Clock.left = time_limit
        try:
            message = grade(fn, cases(np.random.default_rng([seed, ex.number])), seed, path)
        except _NotDone:
            result = Grade(ex.number, ex.name, "not done", "not done yet")
        except _Failed as exc:
            result = Grade(ex.number, ex.name, "failed", exc.message, exc.hint)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"interrupted while grading {ex.name}") from None
        else:
            result = Grade(ex.number, ex.name, "passed", message)
        finally:
            _Clock.limit = _Clock.left = None
        yield result
