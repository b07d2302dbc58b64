"""The learner's file: five functions of IndRNN with their bodies left blank.

:data:`EXERCISES` is the table of contents (the order, the names, one line each); :func:`template_text`
writes the file, with the blank bodies or with bodies given (the tests fill in the solutions of
:mod:`.solutions`). The docstrings are the specification the grader (:mod:`.grader`) checks against.
"""

from __future__ import annotations

from typing import NamedTuple


class Exercise(NamedTuple):
    """One function of the learner's file."""

    number: int
    name: str
    what: str  # one line: what the function computes
    signature: str
    docstring: str


#: The name of the file ``python -m indrnn_np exercises DIR`` writes.
FILE_NAME = "indrnn_exercises.py"

_HEADER = '''"""IndRNN exercises: fill in the five functions below, then grade them.

    python -m indrnn_np check {file_name}

runs each function on random inputs (float32 and float64, T = 1 and B = 1 included) against the
project's own implementation, checks the gradients against centred finite differences in float64,
and prints, per function, "passed" or what is wrong with a hint. Run it as often as you like:
a function still raising NotImplementedError is reported as not done yet.

Notation (Li et al., "Independently Recurrent Neural Network (IndRNN)", CVPR 2018): arrays are
time-major, T time steps, B sequences in the batch, M input features, N neurons; x is (T, B, M),
h is (T, B, N). W x_t in the paper is x[t] @ W here, with W of shape (M, N). Use NumPy only.

Where each exercise is derived: tutorials 1 (forward), 2 (BPTT, finite differences),
3 (the bound on u) and 9 (the scan over time) of the project's tutorials/ folder.
"""

import numpy as np
'''

_FORWARD = """Exercise 1: the forward pass of one IndRNN layer (ReLU) over a whole sequence.

    For t = 0, 1, ..., T-1 (Eq. 2 of the paper)::

        a_t = W x_t + u ⊙ h_{t-1} + b
        h_t = relu(a_t) = max(a_t, 0)          with h_{t-1} = h0 at t = 0

    u is a vector: neuron n only sees its own past, u_n h_{n,t-1} (no N×N matrix).

    Parameters
    ----------
    x : ndarray, (T, B, M)
        The input sequence, time-major: x[t] is step t of every sequence, (B, M).
    W : ndarray, (M, N)
        Input weights (W x_t is ``x[t] @ W``, (B, N)).
    u : ndarray, (N,)
        Recurrent weights, one per neuron.
    b : ndarray, (N,)
        Bias.
    h0 : ndarray, (B, N)
        The initial state, h_{t-1} of step t = 0.

    Returns
    -------
    h : ndarray, (T, B, N)
        h[t] is the state after step t, so h[0] = relu(x[0] @ W + u * h0 + b) and h[T-1] is the
        last state. The same dtype as x (float32 or float64).
    """

_BACKWARD = """Exercise 2: backpropagation through time (BPTT) of exercise 1.

    ``dh[t]`` is what the layers above send to h_t: ∂J/∂h_t directly, for every t. Step t+1 sends
    back more through its recurrent term u ⊙ h_t, so going back from t = T-1 down to 0::

        ∂J/∂h_t = dh[t] + u ⊙ ∂J/∂a_{t+1}        (nothing comes from after the last step)
        ∂J/∂a_t = ∂J/∂h_t ⊙ relu'(a_t)          relu'(a_t) = 1 where h_t > 0, else 0

    relu'(a_t), the ReLU mask, is recomputed from the saved h: the forward pass keeps no a_t.
    Unrolled, the gradient reaching step t is ∂J/∂h_T · u^{T-t} · Π relu' (Eq. 4 of the paper).
    Every step uses the same W, u and b, so their gradients add up over the steps; and over the
    sequences of the batch too (u and b have one entry per neuron, not per sequence).

    Parameters
    ----------
    dh : ndarray, (T, B, N)
        ∂J/∂h_t from above, for every step.
    x : ndarray, (T, B, M)
    W : ndarray, (M, N)
    u : ndarray, (N,)
    h0 : ndarray, (B, N)
    h : ndarray, (T, B, N)
        The forward pass's states (exercise 1's output).

    Returns
    -------
    dx : ndarray, (T, B, M)
        ∂J/∂x.
    dW : ndarray, (M, N)
        ∂J/∂W, summed over steps and batch.
    du : ndarray, (N,)
        ∂J/∂u = Σ_t Σ_batch ∂J/∂a_t ⊙ h_{t-1} (h_{t-1} = h0 at t = 0).
    db : ndarray, (N,)
        ∂J/∂b, summed over steps and batch.
    dh0 : ndarray, (B, N)
        ∂J/∂h0: what step 0 sends back to the initial state.

    All five in the inputs' dtype.
    """

_PROJECT = """Exercise 3: project the recurrent weights into the range that keeps gradients bounded.

    The gradient that reaches back T steps is scaled by u_n^T (Eq. 4). To keep it below γ (the
    largest gradient tolerated) the paper bounds every recurrent weight, for ReLU, by
    |u_n| ∈ [0, γ^{1/T}] (Section 3.1): with u_max = γ^{1/T}, that is -u_max ≤ u_n ≤ u_max.
    γ = 2 for the adding problem: 2^{1/100} = 1.00696, 2^{1/1000} = 1.000693. Training clamps the
    stored u into this range after every optimizer step (the project: ``indrnn_np.nn.project_u``).

    Parameters
    ----------
    u : ndarray, (N,)
        Recurrent weights, any values.
    T : int
        The number of steps the gradient must cross.
    gamma : float
        γ, the largest gradient tolerated (>= 1).

    Returns
    -------
    ndarray, (N,)
        u clamped into [-u_max, u_max], u_max = γ^{1/T}: an entry above u_max becomes u_max, one
        below -u_max becomes -u_max, the others stay. A new array of u's dtype: u itself is left
        as it was.
    """

_GRADIENT = """Exercise 4: the centred finite-difference gradient, to check a backward pass.

    For the scalar J(x) = Σ f(x) ⊙ dout (dout: a random upstream gradient, so that every output
    of f counts), nudge one entry x_i at a time::

        ∂J/∂x_i ≈ (J(x + ε e_i) - J(x - ε e_i)) / (2ε)

    The error of this centred difference is O(ε²), of a one-sided one O(ε). Compute in float64
    whatever x's dtype: in float32 rounding errors of about 1e-7 · |J| / ε swamp the difference.
    (``indrnn_np.gradcheck.numerical_gradient`` is the project's, with an f that reads x.)

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray`` shaped like dout; it may be called with a copy of x of any float dtype.
    x : ndarray, any shape
        The point where the gradient is taken. It must come back unchanged.
    dout : ndarray
        The upstream gradient, shaped like f(x).
    eps : float
        ε, the nudge.

    Returns
    -------
    ndarray, float64, shaped like x
        ∂J/∂x.
    """

_COMPOSE = """Exercise 5: compose two clamped affine maps, the step of the scan over time.

    A map f = (a, c, lo, hi) stands for::

        f(h) = min(max(a h + c, lo), hi)          lo <= hi; lo = -inf or hi = +inf: no bound

    One ReLU step of Eq. 2, h ↦ max(u h + z_t, 0) with z_t = W x_t + b, is the map
    (u, z_t, 0, +inf); an identity step is (u, z_t, -inf, +inf). The composition of two such
    maps is again one (tutorial 9 derives it), so the whole recurrence can be computed as a scan
    over time (``algorithm="scan"``; the project's rule is
    ``indrnn_np.kernels.scan.reference.compose``).
    Hints: multiplying by a2 and adding c2 moves the first clamp's bounds (a negative a2 swaps
    them); two clamps in a row are one clamp; a slope a2 = 0 (a u = 0 step) maps every value to c2.

    Parameters
    ----------
    first, second : tuple of 4 ndarrays
        (a, c, lo, hi), elementwise: each part an array of the same shape (one map per entry).

    Returns
    -------
    tuple of 4 ndarrays
        (a, c, lo, hi) of the map ``second ∘ first``: h ↦ second(first(h)), in the inputs' dtype.
        It is checked by what it does to many values of h, so any (a, c, lo, hi) that computes
        the same function passes.
    """

#: The five exercises, in the order of the file.
EXERCISES = (
    Exercise(1, "indrnn_forward", "the forward pass of Eq. 2", "(x, W, u, b, h0)", _FORWARD),
    Exercise(
        2, "indrnn_backward", "BPTT: the ReLU mask, du and db summed", "(dh, x, W, u, h0, h)", _BACKWARD
    ),
    Exercise(3, "project_u", "the projection of u into [-γ^{1/T}, γ^{1/T}]", "(u, T, gamma=2.0)", _PROJECT),
    Exercise(4, "numerical_gradient", "centred finite differences", "(f, x, dout, eps=1e-6)", _GRADIENT),
    Exercise(5, "compose", "two clamped affine maps of the scan", "(first, second)", _COMPOSE),
)


def blank_body(exercise: Exercise) -> str:
    """The body of a function not done yet: one ``raise NotImplementedError`` line."""
    return f'raise NotImplementedError("exercise {exercise.number}: {exercise.what}")'


def template_text(bodies: dict[str, str] | None = None) -> str:
    """The learner's file.

    Parameters
    ----------
    bodies : dict of str to str, optional
        Function name -> the source of its body (unindented); the others are left blank
        (:func:`blank_body`).

    Returns
    -------
    str
        The whole file, a Python module.
    """
    bodies = bodies or {}
    parts = [_HEADER.format(file_name=FILE_NAME)]
    for ex in EXERCISES:
        body = bodies.get(ex.name, blank_body(ex))
        indented = "\n".join(
            ("    " + line) if line.strip() else "" for line in body.strip("\n").splitlines()
        )
        parts.append(f'\ndef {ex.name}{ex.signature}:\n    """{ex.docstring}"""\n{indented}\n')
    return "\n".join(parts)
