"""Worked solutions of the five exercises, written out in NumPy as a learner would write them.

The grader does not use these: it checks a learner's file against the project's own code
(:mod:`.grader`). The tests fill these bodies into the template (:func:`solved_text`) and expect
every exercise to pass; they also break them one line at a time, the usual mistakes, and expect
each to fail with its hint. Each body is written for the learner's file: NumPy as ``np`` only.
"""

from __future__ import annotations

import ast
import inspect
import sys

import numpy as np


def indrnn_forward(x, W, u, b, h0):
    T, B, M = x.shape
    h = np.empty((T, B, W.shape[1]), dtype=x.dtype)  # (T, B, N)
    h_prev = h0  # h_{t-1} of step 0
    for t in range(T):
        # h_t = relu(W x_t + u ⊙ h_{t-1} + b)      (Eq. 2)
        h[t] = np.maximum(x[t] @ W + u * h_prev + b, 0)
        h_prev = h[t]
    return h


def indrnn_backward(dh, x, W, u, h0, h):
    T = dh.shape[0]
    dx = np.empty_like(x)  # (T, B, M)
    dW = np.zeros_like(W)  # (M, N)
    du = np.zeros_like(u)  # (N,)
    db = np.zeros_like(u)  # (N,)
    carry = np.zeros_like(h0)  # u ⊙ ∂J/∂a_{t+1}, what step t+1 sends back to h_t
    for t in range(T - 1, -1, -1):
        g = dh[t] + carry  # ∂J/∂h_t
        da = g * (h[t] > 0)  # ∂J/∂a_t: the ReLU mask
        h_prev = h[t - 1] if t > 0 else h0
        dx[t] = da @ W.T  # (B, M)
        dW += x[t].T @ da  # (M, N)
        du += (da * h_prev).sum(axis=0)  # (N,): over the batch, and over time by +=
        db += da.sum(axis=0)  # (N,)
        carry = u * da
    return dx, dW, du, db, carry


def project_u(u, T, gamma=2.0):
    u_max = gamma ** (1 / T)
    return np.clip(u, -u_max, u_max)


def numerical_gradient(f, x, dout, eps=1e-6):
    x = np.array(x, dtype=np.float64)  # a float64 copy: the caller's x is never touched
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        j_plus = np.sum(f(x) * dout)
        x[i] = old - eps
        j_minus = np.sum(f(x) * dout)
        x[i] = old
        grad[i] = (j_plus - j_minus) / (2 * eps)
    return grad


def compose(first, second):
    a1, c1, lo1, hi1 = first
    a2, c2, lo2, hi2 = second
    # a2 clamp(y, lo1, hi1) + c2 = clamp(a2 y + c2, ends): the bounds move with the map
    with np.errstate(invalid="ignore"):  # 0 · inf: replaced just below
        end_lo, end_hi = a2 * lo1 + c2, a2 * hi1 + c2
    end_lo = np.where(a2 == 0, c2, end_lo)  # a slope of 0 maps everything to c2
    end_hi = np.where(a2 == 0, c2, end_hi)
    e1, e2 = np.where(a2 < 0, end_hi, end_lo), np.where(a2 < 0, end_lo, end_hi)  # a2 < 0 swaps them
    # two clamps in a row are one: clamp the ends into [lo2, hi2]
    lo, hi = np.clip(e1, lo2, hi2), np.clip(e2, lo2, hi2)
    return a2 * a1, a2 * c1 + c2, lo, hi


def solution_bodies() -> dict[str, str]:
    """Each solution's body, as source text without its indentation (function name -> body)."""
    from .template import EXERCISES

    source = inspect.getsource(sys.modules[__name__])
    lines = source.splitlines()
    names = {ex.name for ex in EXERCISES}
    return {
        node.name: "\n".join(line[4:] for line in lines[node.body[0].lineno - 1 : node.body[-1].end_lineno])
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name in names
    }


def solved_text() -> str:
    """The learner's file with every body filled in from these solutions."""
    from .template import template_text

    return template_text(solution_bodies())
