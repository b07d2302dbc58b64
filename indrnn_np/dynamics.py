"""Why IndRNN gradients behave: Eq. 4 in closed form and the bounds on u.

For an objective J that depends on the last step T, the gradient reaching
step t of neuron n is (Li et al. 2018, Eq. 4, bias ignored)

    ∂J/∂h_{n,t} = ∂J/∂h_{n,T} · Π_{k=t}^{T-1} σ'_{n,k+1} u_n
                = ∂J/∂h_{n,T} · u_n^{T-t} · Π_{k=t+1}^{T} σ'_{n,k}

a scalar power of u_n times the activation derivatives. With a linear
activation it is exactly ``u_n^{T-t}``: ``|u_n| > 1`` explodes and ``|u_n| < 1`` vanishes,
geometrically in T - t. A conventional RNN instead multiplies by
``diag(σ') Uᵀ`` at every step, whose growth follows U's spectrum and which
mixes every neuron into every other.

Indexing. This module uses the paper's steps 0..T: h_0 is the initial state
(``h0`` of :func:`indrnn_np.indrnn_forward`) and h_t for t ≥ 1 is ``h[t - 1]``
of that function. So the closed form's entry 0 is ``indrnn_backward(...).dh0``
and its entry t ≥ 1 is the total ∂J/∂h_t that BPTT carries into step t - 1.
"""

from __future__ import annotations

import numpy as np

from .ops import rnn_backward, rnn_forward

# --------------------------------------------------------------------------
# Eq. 4 in closed form
# --------------------------------------------------------------------------


def indrnn_gradient_through_time(u, T: int, dJ_dhT=1.0, sigma_prime=None) -> np.ndarray:
    """Closed-form ``∂J/∂h_t`` for t = 0..T when J depends on step T (Eq. 4).

    Parameters
    ----------
    u : array_like, (N,)
        Recurrent weights.
    T : int
        Number of steps (≥ 1).
    dJ_dhT : float or array_like broadcastable to (..., N)
        ``∂J/∂h_T``.
    sigma_prime : array_like, (T, ..., N), optional
        ``σ'`` of steps 1..T along the path (``sigma_prime[k - 1]`` is σ'_k),
        e.g. ``h > 0`` from a ReLU forward pass. Default all ones (linear).

    Returns
    -------
    ndarray, (T + 1, ..., N)
        Entry t is ``∂J/∂h_T · u^{T-t} · Π_{k=t+1}^{T} σ'_k``. A gradient that
        overflows float64 is returned as ±inf, never raised; where the σ'
        product is 0 (a ReLU that was off), the gradient is 0 whatever u is.
    """
    if not isinstance(T, int | np.integer) or T < 1:
        raise ValueError(f"T must be a positive int; got {T!r}")
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 1:
        raise ValueError(f"u must have shape (N,); got {u.shape}")
    powers = np.arange(T, -1, -1, dtype=np.float64)  # T - t for t = 0..T
    if sigma_prime is None:
        sp_tail = np.ones((T + 1, u.size))
    else:
        sp = np.asarray(sigma_prime, dtype=np.float64)
        if sp.shape[0] != T or sp.shape[-1] != u.size:
            raise ValueError(
                f"sigma_prime must have shape (T, ..., N) = ({T}, ..., {u.size}); got {sp.shape}"
            )
        # Π_{k=t+1}^{T} σ'_k for t = 0..T: reversed cumulative product, 1 at t = T.
        tail = np.cumprod(sp[::-1], axis=0)[::-1]
        sp_tail = np.concatenate([tail, np.ones((1, *sp.shape[1:]))], axis=0)
    extra = sp_tail.ndim - 2
    u_pow_shape = (T + 1,) + (1,) * extra + (u.size,)
    with np.errstate(over="ignore", invalid="ignore"):
        u_pow = np.power(u, powers.reshape(-1, *([1] * (extra + 1))))  # (T+1, 1.., N)
        grad = np.asarray(dJ_dhT, dtype=np.float64) * u_pow.reshape(u_pow_shape) * sp_tail
    return np.where(sp_tail == 0, 0.0, grad)


def rnn_gradient_through_time(U, T: int, dJ_dhT=None, sigma_prime=None) -> np.ndarray:
    """``∂J/∂h_t`` for t = 0..T through a conventional RNN, ``h_t = σ(W x_t + h_{t-1} U + b)``.

    Each step back multiplies by ``diag(σ'_{t+1}) Uᵀ``: ``g_t = (g_{t+1} ⊙ σ'_{t+1}) Uᵀ``.

    Parameters
    ----------
    U : array_like, (N, N)
    T : int
    dJ_dhT : array_like, (N,), optional
        Default the unit vector e_0: all the gradient on neuron 0, so the
        result shows how U spreads it to the other neurons.
    sigma_prime : array_like, (T, N), optional
        Default all ones (linear).

    Returns
    -------
    ndarray, (T + 1, N)
    """
    U = np.asarray(U, dtype=np.float64)
    N = U.shape[0]
    if U.shape != (N, N):
        raise ValueError(f"U must be square (N, N); got {U.shape}")
    g = np.zeros((T + 1, N))
    g[T] = np.eye(N)[0] if dJ_dhT is None else np.asarray(dJ_dhT, dtype=np.float64)
    sp = np.ones((T, N)) if sigma_prime is None else np.asarray(sigma_prime, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T - 1, -1, -1):
            g[t] = (g[t + 1] * sp[t]) @ U.T
    return g


def matrix_with_spectral_radius(N: int, rho: float, seed: int = 0) -> np.ndarray:
    """A random orthogonal (N, N) matrix scaled by ``rho``: every eigenvalue has modulus ρ.

    Through a linear RNN with this U, a gradient's norm is exactly ρ^{T-t},
    the matrix counterpart of IndRNN's u^{T-t}, but its direction rotates over
    all the neurons at every step.
    """
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((N, N)))
    return rho * q * np.sign(np.diag(r))


def rnn_gradient_by_backprop(U, T: int, seed: int = 0) -> np.ndarray:
    """The same quantity as :func:`rnn_gradient_through_time` for a linear RNN, from real BPTT.

    Runs :func:`indrnn_np.ops.rnn_forward`/``rnn_backward`` with one unit
    gradient on neuron 0 at the last step and returns ``∂J/∂h0`` (N,).
    """
    U = np.asarray(U, dtype=np.float64)
    N = U.shape[0]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, 1, 2))
    h, cache = rnn_forward(x, rng.standard_normal((2, N)), U, np.zeros(N), activation="identity")
    dh = np.zeros_like(h)
    dh[-1, 0, 0] = 1.0
    return rnn_backward(dh, cache).dh0[0]


def classify(magnitude: float, epsilon: float, gamma: float, rtol: float = 1e-9) -> str:
    """'exploded' (> γ or inf/NaN), 'vanished' (< ε) or 'within' [ε, γ].

    The ends are compared with a relative tolerance ``rtol``, so that a u set
    exactly to a bound, whose power lands on the bound up to rounding, counts
    as within it.
    """
    if not np.isfinite(magnitude) or magnitude > gamma * (1 + rtol):
        return "exploded"
    if magnitude < epsilon * (1 - rtol):
        return "vanished"
    return "within"


# --------------------------------------------------------------------------
# Bounds on u (Section 3.1)
# --------------------------------------------------------------------------


def u_bounds(
    T: int, t: int = 0, *, epsilon: float = 0.0, gamma: float = 2.0, sigma_prime_product: float = 1.0
):
    """The paper's range for ``|u_n|`` that keeps ∂J/∂h_t within [ε, γ] over T - t steps.

    ``[ (ε / Πσ')^{1/(T-t)}, (γ / Πσ')^{1/(T-t)} ]``: below the lower bound the
    gradient from T no longer reaches t with at least ε (memory is lost),
    above the upper bound it exceeds γ (it explodes).

    Parameters
    ----------
    T, t : int
        Objective at step T, gradient wanted at step t < T.
    epsilon : float
        Smallest useful gradient ε (0 gives the ReLU relaxation's lower bound 0).
    gamma : float
        Largest tolerated gradient γ (> 0).
    sigma_prime_product : float
        ``Π_{k=t+1}^{T} σ'_k`` along the path (1 for an active ReLU path).

    Returns
    -------
    (lower, upper) : tuple of float
    """
    if T - t < 1:
        raise ValueError(f"need t < T; got T={T}, t={t}")
    if gamma <= 0 or epsilon < 0 or sigma_prime_product <= 0:
        raise ValueError(
            f"need gamma > 0, epsilon >= 0, sigma_prime_product > 0; got {gamma}, {epsilon}, {sigma_prime_product}"
        )
    n = T - t
    return (epsilon / sigma_prime_product) ** (1.0 / n), (gamma / sigma_prime_product) ** (1.0 / n)


def relu_u_max(T: int, gamma: float = 2.0) -> float:
    """The ReLU relaxation's upper bound ``γ^{1/T}`` (the range is [0, γ^{1/T}]).

    The adding problem uses γ = 2: 2^{1/100} = 1.00696, 2^{1/1000} = 1.000693,
    2^{1/5000} = 1.000139.
    """
    return u_bounds(T, 0, epsilon=0.0, gamma=gamma)[1]


def relu_u_min(T: int, gamma: float = 2.0) -> float:
    """``(1/γ)^{1/T}``: the lower end of the last layer's initialisation U(u_min, u_max)."""
    return (1.0 / gamma) ** (1.0 / T)
