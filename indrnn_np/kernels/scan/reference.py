"""The recurrence as a scan over time, in plain NumPy: the specification of the scan kernels.

The twins: :mod:`.cpu` (Numba) and :mod:`.cuda` (Numba CUDA), same names and arguments.
"""

from __future__ import annotations

import numpy as np

from .. import IDENTITY, RELU
from ..recurrence.reference import activate, activation_derivative

# --------------------------------------------------------------------------
# The recurrence as a scan: parallel over time, exactly
# --------------------------------------------------------------------------
# One ReLU step is the map  h ↦ max(u h + z_t, 0)  with z_t = W x_t + b: a *clamped affine map*
#
#     f(h) = min(max(a h + c, lo), hi)                                     (a, c, lo, hi)
#
# with a = u, c = z_t, lo = 0, hi = +inf (identity: lo = -inf, hi = +inf). Clamped affine maps are
# closed under composition (:func:`compose`), so h_t = f_t ∘ ... ∘ f_0 (h0) can be computed from
# compositions of whole blocks of steps, each block independently of the others: that is a scan.
# tanh is not a clamped affine map, and the composition of tanh steps has no such closed form: the
# scan is for relu and identity only.
#
# The scan here is the chunked ("reduce, then scan, then replay") form, which is work-efficient
# (about three times the sequential work) and keeps the numbers close to the sequential loop's:
#
#   1. the T steps are cut into K chunks of L steps; each chunk composes its L step maps into one
#      map F_k (all chunks and columns at once: independent);
#   2. the carries: the state entering each chunk, s_{k+1} = F_k(s_k) with s_0 = h0, K cheap steps;
#   3. each chunk replays its L steps from its true entering state s_k (independent again),
#      computing h exactly as the sequential loop does.
#
# Depth L + K + L instead of T: with K ≈ L ≈ √T, 3√T dependent steps (T = 100,000: about 950).
# Backpropagation is the same in reverse: δ_t = m_t (g_t + u δ_{t+1}) (m_t = σ'(a_t), g_t = dh_t) is
# the affine map δ ↦ (m_t u) δ + m_t g_t, composed per chunk, carried from the last chunk to the
# first, and replayed. Because padding steps come after a sequence's real steps, they are never
# composed into a real step's prefix: ``lengths`` is handled by the op layer exactly as for the
# sequential loop (equivalently, padding steps are identity maps).
#
# The loop is the specification also where numbers leave the float range, and the scan never
# disagrees with it quietly there. A composed map is exact for a finite state as long as its own
# arithmetic stayed finite; with |u| > 1 its slope Π u or its offset can overflow where the loop's
# state does not (the loop holds h = 100 with u = 2, z = -100; L such steps compose to the offset
# -100 (2^L - 1)), or a s and c can cancel to a state that kept none of their digits (the same h = 100
# with L = 1000: a s = 100 · 2^1000, c rounded). So a carry whose a s + c is not finite (an overflowed
# slope or offset, or an inf or NaN state), or is below |c| / 2^26 (|c| / 2^12 in float32: less than
# half the digits left), steps through its chunk instead, as the loop does. And a state can turn inf or
# NaN inside a chunk whose map stays finite: h beyond the float range, or a NaN or inf input followed
# by a u = 0 step (the constraint u >= 0 projects a negative u to 0), whose constant map forgets it
# where the loop keeps NaN (0 · NaN = NaN). The chunk's replay, the loop's own arithmetic, then ends
# inf or NaN while the next chunk started from a finite carry: a last phase compares each chunk's
# replayed end with the next chunk's carry (K values a column) and, from the first disagreement on,
# replays that column's later chunks from the end of the one before, i.e. runs the loop. Both checks
# cost next to nothing where every number is finite, and leave its results as they were.


def compose(first, second):
    """The clamped affine map ``second ∘ first`` (apply ``first``, then ``second``).

    A map is a tuple ``(a, c, lo, hi)`` of arrays (broadcastable), meaning
    ``f(h) = min(max(a h + c, lo), hi)`` with ``lo <= hi`` (``±inf``: no bound).

    Derivation. Let ``y = a1 h + c1``, so ``first(h) = clamp(y, lo1, hi1)``.

    * Multiplying by ``a2`` and adding ``c2`` is monotone, so it moves the
      clamp's bounds with it: ``a2 clamp(y, lo1, hi1) + c2 = clamp(a2 y + c2,
      e1, e2)`` with the ends ``a2 lo1 + c2`` and ``a2 hi1 + c2``, in that
      order when ``a2 >= 0`` and swapped when ``a2 < 0`` (``a2 = 0``: both
      ends are ``c2``, whatever the bounds, also infinite).
    * Two clamps in a row are one clamp: for ``e1 <= e2`` and
      ``lo2 <= hi2``, ``clamp(clamp(z, e1, e2), lo2, hi2) = clamp(z,
      clamp(e1, lo2, hi2), clamp(e2, lo2, hi2))`` (if the intervals overlap
      this is their intersection; if ``[e1, e2]`` lies below ``lo2`` both new
      bounds are ``lo2`` and every z maps to ``lo2``; above ``hi2``, to ``hi2``).
    * And ``a2 y + c2 = (a2 a1) h + (a2 c1 + c2)``.

    So ``second ∘ first = (a2 a1, a2 c1 + c2, clamp(e1, lo2, hi2), clamp(e2, lo2, hi2))``.
    No sign of u is excluded, and a bound at ±inf stays ±inf or becomes finite as it should.

    Two cases of the arithmetic, exact for every finite input h:

    * ``c2 = ±inf`` (an infinite input ``W x_t``): every finite value maps to ``c2``, so
      both ends are ``c2`` (``a2 · ±inf + c2`` could be ``inf - inf``);
    * a constant map (``lo == hi``, e.g. after a relu step that sends everything to 0)
      is stored as ``(0, lo, lo, lo)``, so that no infinite slope or offset is carried
      into the next composition.

    Parameters
    ----------
    first, second : tuple of 4 ndarrays
        ``(a, c, lo, hi)`` each.

    Returns
    -------
    tuple of 4 ndarrays
    """
    a1, c1, lo1, hi1 = first
    a2, c2, lo2, hi2 = second
    with np.errstate(invalid="ignore", over="ignore"):  # 0 · inf, inf - inf: replaced just below
        end_lo, end_hi = a2 * lo1 + c2, a2 * hi1 + c2
        a, c = a2 * a1, a2 * c1 + c2
    flat = (a2 == 0) | np.isinf(c2)  # every finite value maps to c2
    end_lo, end_hi = np.where(flat, c2, end_lo), np.where(flat, c2, end_hi)
    e1, e2 = np.where(a2 < 0, end_hi, end_lo), np.where(a2 < 0, end_lo, end_hi)
    lo, hi = np.clip(e1, lo2, hi2), np.clip(e2, lo2, hi2)
    constant = lo == hi
    return np.where(constant, 0, a), np.where(constant, lo, c), lo, hi


def apply_map(f, h):
    """``f(h) = min(max(a h + c, lo), hi)`` for the map ``f = (a, c, lo, hi)``."""
    a, c, lo, hi = f
    return np.minimum(np.maximum(a * h + c, lo), hi)


def step_map(u, z, act):
    """The map of one step, ``h ↦ σ(u h + z)``, for relu (lo = 0) or identity (no bound).

    Parameters
    ----------
    u : ndarray, (N,)
    z : ndarray, (B, N)
        ``W x_t + b`` of the step.
    act : int
        ``RELU`` or ``IDENTITY``.
    """
    if act not in (RELU, IDENTITY):
        raise ValueError(f"the scan needs act relu ({RELU}) or identity ({IDENTITY}); got {act!r}")
    a = np.broadcast_to(u, z.shape)
    lo = np.full_like(z, 0 if act == RELU else -np.inf)
    return a, z, lo, np.full_like(z, np.inf)


def identity_map(shape, dtype):
    """``h ↦ h``: ``(1, 0, -inf, inf)``."""
    return (
        np.ones(shape, dtype),
        np.zeros(shape, dtype),
        np.full(shape, -np.inf, dtype),
        np.full(shape, np.inf, dtype),
    )


def scan_chunks(T: int) -> int:
    """K, the number of chunks of the reference scan: ``ceil(√T)`` (so ``K ≈ L ≈ √T``)."""
    return max(1, int(np.ceil(np.sqrt(T))))


def _chunk_bounds(T, K):
    L = -(-T // K)  # steps per chunk (the last one may be shorter)
    return [(k * L, min((k + 1) * L, T)) for k in range(-(-T // L))]


def scan_forward(xw, u, b, h0, act, h):
    """The forward recurrence as a chunked scan: the same ``h`` as :func:`recurrence_forward`.

    Arguments as :func:`recurrence_forward` (relu or identity). Every phase
    below is vectorised over all chunks or columns at once; the Python loops
    run L + K + L ≈ 3√T times instead of T. Where a state or a chunk's map
    leaves the float range, the columns concerned step through as the loop
    does (phases 2 and 4), so that inf and NaN are where the loop has them.
    """
    T, B, N = xw.shape
    chunks = _chunk_bounds(T, scan_chunks(T))
    K, L = len(chunks), chunks[0][1]
    # 1. each chunk's map F_k = f_{t1-1} ∘ ... ∘ f_{t0}, all chunks at once: maps of shape (K, B, N)
    F = identity_map((K, B, N), xw.dtype)
    for s in range(L):  # (a slope or offset beyond the float range is dealt with in step 2)
        live = np.array([t0 + s < t1 for t0, t1 in chunks])  # the last chunk may have fewer steps
        t = np.array([min(t0 + s, T - 1) for t0, _ in chunks])
        # f_t: h ↦ σ(u h + W x_t + b)
        step = step_map(u, xw[t] + b, act)
        step = tuple(
            np.where(live[:, None, None], part, ident)
            for part, ident in zip(step, identity_map((K, B, N), xw.dtype), strict=True)
        )
        with np.errstate(over="ignore", invalid="ignore"):
            F = compose(F, step)
    # 2. the carries: s_0 = h0, s_{k+1} = F_k(s_k), the state entering each chunk
    entering = np.empty((K, B, N), xw.dtype)
    s_k = h0
    for k, (t0, t1) in enumerate(chunks):
        entering[k] = s_k
        a, c, lo, hi = (part[k] for part in F)
        with np.errstate(invalid="ignore", over="ignore"):
            v = a * s_k + c
            # The map is exact where its own arithmetic stayed finite. With |u| > 1 its slope Π u or its
            # offset can overflow while the loop's state does not (u = 2, z = -100 holds h = 100 for
            # ever; the offset of L such steps is -100 (2^L - 1)), and a non-finite state (inf, NaN)
            # meets the map as the loop would not: a·s + c not finite says all of these at once. Short
            # of overflow, a·s and c can cancel to a state that kept none of their digits (the same
            # h = 100 with L = 1000: a·s = 100·2^1000): where |a·s + c| < |c| / 2^26 (less than half
            # of them left; |c| and not |a·s| + |c|, which the CPU kernel would compute from a
            # rounded a·s, no longer fused into a·s + c), too. Those columns step through the chunk
            # as the loop does
            bad = ~(np.isfinite(v) & (np.abs(c) <= cancellation_limit(v.dtype) * np.abs(v)))
        nxt = np.minimum(np.maximum(v, lo), hi)
        if bad.any():
            with np.errstate(invalid="ignore", over="ignore"):
                for t in range(t0, t1):
                    s_k = activate(xw[t] + u * s_k + b, act)
            nxt = np.where(bad, s_k, nxt)
        s_k = nxt
    # 3. every chunk replays its steps from its entering state, exactly as the sequential loop does
    state = entering.copy()  # (K, B, N)
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(L):
            for k, (t0, t1) in enumerate(chunks):
                if t0 + s < t1:
                    # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
                    h[t0 + s] = state[k] = activate(xw[t0 + s] + u * state[k] + b, act)
    # 4. a state that turned inf or NaN inside a chunk whose map stayed finite (h beyond the float range,
    # or a NaN or inf input followed by a u = 0 step, whose constant map forgets it, where the loop keeps
    # NaN: 0 · NaN = NaN) ends the chunk's replay non-finite while the next chunk started from a finite
    # carry. From the first such chunk end on, the column is the loop: each chunk replays from the end
    # of the one before
    diverged = np.zeros((B, N), bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(1, K):
            t0, t1 = chunks[k]
            diverged |= ~same_kind(h[t0 - 1], entering[k])
            if diverged.any():
                for t in range(t0, t1):
                    h[t] = np.where(diverged, activate(xw[t] + u * h[t - 1] + b, act), h[t])


def cancellation_limit(dtype):
    """2^26 (float64) or 2^12 (float32), about 1/√ε: a carry ``v = a·s + c`` with ``|c|`` more than this
    many times ``|v|`` (so that ``a·s`` and ``c`` cancelled) kept less than half its digits, and its chunk
    is stepped through (``A δ + C`` backward the same)."""
    return np.dtype(dtype).type(2.0**26 if np.dtype(dtype) == np.float64 else 2.0**12)


def same_kind(x, y):
    """Where x and y are both finite, both NaN, or the same infinity: the scan's check of a chunk's
    replayed end against the carry it composed (phase 4 of :func:`scan_forward` and :func:`scan_backward`)."""
    with np.errstate(invalid="ignore"):
        return (x == y) | (np.isfinite(x) & np.isfinite(y)) | (np.isnan(x) & np.isnan(y))


def scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT as a chunked scan: the same outputs as :func:`recurrence_backward`.

    ``δ_t = ∂J/∂a_t`` obeys ``δ_t = m_t (g_t + u δ_{t+1})`` (``m_t = σ'(a_t)``
    from h_t, ``g_t = dh_t``, ``δ_T = 0``): the affine map
    ``δ ↦ (m_t u) δ + m_t g_t`` applied in reverse time. Each chunk composes
    its maps (from the δ after the chunk to the δ of its first step), the
    carries run from the last chunk to the first, and each chunk replays its
    steps with its true carry, accumulating its own du and db sums; the
    chunks' sums are added in chunk order (a fixed order).
    """
    T, B, N = dh.shape
    if act not in (RELU, IDENTITY):
        raise ValueError(f"the scan needs act relu ({RELU}) or identity ({IDENTITY}); got {act!r}")
    chunks = _chunk_bounds(T, scan_chunks(T))
    K, L = len(chunks), chunks[0][1]
    # 1. per chunk, δ_{t0} = A δ_{t1} + C: compose the steps t1-1 down to t0
    A = np.ones((K, B, N), dh.dtype)
    C = np.zeros((K, B, N), dh.dtype)
    for s in range(L - 1, -1, -1):
        for k, (t0, t1) in enumerate(chunks):
            if t0 + s < t1:
                m = activation_derivative(h[t0 + s], act)
                # δ_t = m_t u δ_{t+1} + m_t g_t, composed after the map so far
                with np.errstate(over="ignore", invalid="ignore"):
                    A[k], C[k] = m * u * A[k], m * u * C[k] + m * dh[t0 + s]
    # 2. the carries, last chunk first: δ after the last step is 0
    after = np.empty((K, B, N), dh.dtype)  # δ of the step just after each chunk
    d = np.zeros((B, N), dh.dtype)
    for k in range(K - 1, -1, -1):
        after[k] = d
        with np.errstate(invalid="ignore", over="ignore"):
            nxt = A[k] * d + C[k]
            # as forward: where A δ + C is not finite (an overflowed slope or offset, |u| > 1, or a
            # non-finite δ) or A δ and C cancel to less than half their digits, step through the chunk
            # as the loop does
            bad = ~(np.isfinite(nxt) & (np.abs(C[k]) <= cancellation_limit(dh.dtype) * np.abs(nxt)))
        if bad.any():
            t0, t1 = chunks[k]
            with np.errstate(invalid="ignore", over="ignore"):
                for t in range(t1 - 1, t0 - 1, -1):
                    d = activation_derivative(h[t], act) * (dh[t] + u * d)
            nxt = np.where(bad, d, nxt)
        d = nxt
    # 3. replay each chunk in reverse with its carry, as recurrence_backward does
    carry = u * after  # (K, B, N): u ⊙ ∂J/∂a_{t+1}
    du_k = np.zeros((K, B, N), dh.dtype)
    db_k = np.zeros((K, B, N), dh.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(L - 1, -1, -1):
            for k, (t0, t1) in enumerate(chunks):
                t = t0 + s
                if t < t1:
                    # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t)
                    da[t] = (dh[t] + carry[k]) * activation_derivative(h[t], act)
                    h_prev = h[t - 1] if t > 0 else h0
                    du_k[k] += da[t] * h_prev  # ∂a_t/∂u = h_{t-1}
                    db_k[k] += da[t]  # ∂a_t/∂b = 1
                    carry[k] = u * da[t]  # ∂a_t/∂h_{t-1} = u
    # 4. as forward: a δ that turned inf or NaN inside a chunk whose map stayed finite ends that chunk's
    # replay (at its first step) non-finite, where the chunk before was replayed from a finite carry; from
    # there on, down to step 0, each chunk replays from the δ of the one after it
    diverged = np.zeros((B, N), bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(K - 2, -1, -1):
            t0, t1 = chunks[k]
            diverged |= ~same_kind(da[t1], after[k])
            if diverged.any():
                c, du_c, db_c = u * da[t1], np.zeros((B, N), dh.dtype), np.zeros((B, N), dh.dtype)
                for t in range(t1 - 1, t0 - 1, -1):
                    g = (dh[t] + c) * activation_derivative(h[t], act)
                    da[t] = np.where(diverged, g, da[t])
                    du_c += g * (h[t - 1] if t > 0 else h0)
                    db_c += g
                    c = u * g
                du_k[k] = np.where(diverged, du_c, du_k[k])
                db_k[k] = np.where(diverged, db_c, db_k[k])
                carry[k] = np.where(diverged, c, carry[k])
    du_part[...] = 0
    db_part[...] = 0
    for k in range(K):  # the chunks' sums, in chunk order
        du_part += du_k[k]
        db_part += db_k[k]
    dh0[...] = carry[0]
