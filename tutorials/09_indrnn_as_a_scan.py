# %% [markdown]
# # 9. IndRNN as a scan
#
# The recurrence $h_t = \sigma(W x_t + u \odot h_{t-1} + b)$ looks inherently
# sequential: $h_t$ needs $h_{t-1}$. Tutorial 7's kernels run it as a loop over
# time, parallel only across the B·N independent (batch row, neuron) columns.
# This tutorial shows that for ReLU (and the identity) the recurrence can also be
# computed **in parallel over time**, exactly, as a *scan*, and how the library
# does it (`indrnn_forward(..., algorithm="scan")`):
#
# 1. one ReLU step is a *clamped affine map*, and two such maps compose into one;
# 2. the prefix compositions by recursive doubling (Hillis–Steele), drawn;
# 3. why the library's scan is chunked, and how close it is to the loop;
# 4. the backward pass as a scan in reverse time;
# 5. where a scan pays, and where it does not;
# 6. IndRNN among the linear-recurrence models (LRU, minGRU, S5, Mamba).
#
# Everything below runs on one neuron, or on a few columns at a time: in an
# IndRNN every (b, n) column is its own scalar recurrence.

# %%
import matplotlib.pyplot as plt
import numpy as np

from indrnn_np import indrnn_backward, indrnn_forward
from indrnn_np.experiments.tutorial import FAST, check, save
from indrnn_np.kernels import IDENTITY, RELU, reference
from indrnn_np.kernels.reference import apply_map, compose, identity_map, step_map

rng = np.random.default_rng(0)


def clamped(a, c, lo=0.0, hi=np.inf):
    """The map h ↦ min(max(a h + c, lo), hi) as the tuple (a, c, lo, hi); a ReLU step by default."""
    return tuple(np.asarray(v, dtype=np.float64) for v in (a, c, lo, hi))


def show(f):
    return "(" + ", ".join(f"{float(v):g}" for v in f) + ")"


# %% [markdown]
# ## 1. One ReLU step is a clamped affine map
#
# For one neuron write $z_t = w \cdot x_t + b$ (it does not depend on $h$, so
# all of them can be computed first, as one GEMM). Step $t$ is then the map
#
# $$f_t(h) = \max(u h + z_t,\ 0),$$
#
# an affine map followed by a clamp from below. We allow a clamp on both sides,
# $f(h) = \min(\max(a h + c,\ lo),\ hi)$, written $(a, c, lo, hi)$: a ReLU step
# is $(u, z_t, 0, +\infty)$, an identity-activation step $(u, z_t, -\infty, +\infty)$.
# `step_map(u, z, act)` builds these for a whole (B, N) slice.

# %%
u_demo = np.array([0.9, -0.5])
z_demo = np.array([[0.3, -1.0]])  # (B, N) = (1, 2)
f = step_map(u_demo, z_demo, RELU)
h_grid = np.linspace(-3, 3, 13)[:, None, None]  # many h at once
check(
    "the relu step map = max(u h + z, 0)",
    apply_map(f, h_grid),
    np.maximum(u_demo * h_grid + z_demo, 0),
    rtol=0,
)
f_id = step_map(u_demo, z_demo, IDENTITY)
check("the identity step map = u h + z", apply_map(f_id, h_grid), u_demo * h_grid + z_demo, rtol=0)
print("relu step:", [show(tuple(p[0, n] for p in f)) for n in range(2)])

# %% [markdown]
# **Two steps make one map of the same form.** Apply $f_1 = (a_1, c_1, lo_1, hi_1)$,
# then $f_2 = (a_2, c_2, lo_2, hi_2)$. Write $y = a_1 h + c_1$.
#
# * Multiplying by $a_2$ and adding $c_2$ is monotone, so it carries the first
#   clamp's bounds along: $a_2\,\mathrm{clamp}(y, lo_1, hi_1) + c_2 =
#   \mathrm{clamp}(a_2 y + c_2,\ e_1, e_2)$ with the ends $a_2 lo_1 + c_2$ and
#   $a_2 hi_1 + c_2$, in that order when $a_2 \ge 0$ and **swapped** when
#   $a_2 < 0$ (a negative slope turns the interval around; with $a_2 = 0$ both
#   ends are $c_2$).
# * Two clamps in a row are one clamp: clamp the moved ends into $[lo_2, hi_2]$.
# * And $a_2 y + c_2 = (a_2 a_1) h + (a_2 c_1 + c_2)$.
#
# So $f_2 \circ f_1 = (a_2 a_1,\ a_2 c_1 + c_2,\ \mathrm{clamp}(e_1, lo_2, hi_2),\
# \mathrm{clamp}(e_2, lo_2, hi_2))$: that is `compose(first, second)`.
#
# By hand, a neuron with $u = 0.5$ and $z_1 = 1$, $z_2 = -1$:
# $a = 0.25$, $c = 0.5 \cdot 1 - 1 = -0.5$; the ends are $0.5 \cdot 0 - 1 = -1$
# and $+\infty$, clamped into $[0, \infty)$: $lo = 0$, $hi = \infty$. Two steps are
# $h \mapsto \max(0.25 h - 0.5,\ 0)$. From $h = 4$: $f_1 = 3$, $f_2 = 0.5$, and
# $0.25 \cdot 4 - 0.5 = 0.5$.

# %%
f1, f2 = clamped(0.5, 1.0), clamped(0.5, -1.0)
two = compose(f1, f2)
print("u = 0.5: f2 ∘ f1 =", show(two))
check("u = 0.5: f2 ∘ f1 = the map by hand", np.array(two, dtype=float), [0.25, -0.5, 0.0, np.inf], rtol=0)
check(
    "from h = 4: f2(f1(h)) and (f2 ∘ f1)(h) = 0.5",
    [apply_map(f2, apply_map(f1, 4.0)), apply_map(two, 4.0)],
    [0.5, 0.5],
    rtol=0,
)

# %% [markdown]
# With $u = -0.5$ and $z_1 = z_2 = 1$ the slope $a_2$ is negative, so the ends
# swap: $a_2 \cdot lo_1 + c_2 = 1$ becomes the *upper* end and
# $a_2 \cdot hi_1 + c_2 = -\infty$ the lower one. Clamped into $[0, \infty)$:
# $lo = 0$, $hi = 1$. Two ReLU steps with a negative $u$ are
# $h \mapsto \min(\max(0.25 h + 0.5,\ 0),\ 1)$: a clamp from above appears, which
# is why the maps carry $hi$ at all. (From $h = 10$: $f_1 = \max(-4, 0) = 0$,
# $f_2 = 1$; and $\min(0.25 \cdot 10 + 0.5, 1) = 1$.)
#
# With $u = 0$ the neuron forgets: $f_2 \circ f_1$ is the constant
# $\max(z_2, 0)$, here $(0, 0.3, 0.3, 0.3)$.

# %%
g1, g2 = clamped(-0.5, 1.0), clamped(-0.5, 1.0)
two_neg = compose(g1, g2)
print("u = -0.5: f2 ∘ f1 =", show(two_neg))
check("u = -0.5: f2 ∘ f1 = the map by hand", np.array(two_neg, dtype=float), [0.25, 0.5, 0.0, 1.0], rtol=0)
check(
    "from h = 10: f2(f1(h)) and (f2 ∘ f1)(h) = 1",
    [apply_map(g2, apply_map(g1, 10.0)), apply_map(two_neg, 10.0)],
    [1.0, 1.0],
    rtol=0,
)
two_zero = compose(clamped(0.0, 1.0), clamped(0.0, 0.3))
print("u = 0:    f2 ∘ f1 =", show(two_zero))
check(
    "u = 0: f2 ∘ f1 = the constant max(z_2, 0)", np.array(two_zero, dtype=float), [0.0, 0.3, 0.3, 0.3], rtol=0
)

# %% [markdown]
# Now the rule on many pairs at once, against applying the two maps one after
# the other on a grid of $h$: ReLU steps with $u$ negative, zero, below and above
# 1, and general clamped maps (any slope, bounds finite or infinite). The two
# sides round differently ($(a_2 a_1) h$ against $a_2 (a_1 h)$), so they agree to
# rounding, not bit for bit.

# %%
P = 4000
u_pairs = rng.choice([-1.5, -0.7, 0.0, 0.3, 1.0, 1.2], P)
relu_1 = clamped(u_pairs, rng.normal(0, 2, P))
relu_2 = clamped(u_pairs, rng.normal(0, 2, P))


def random_maps(n):
    a = rng.choice([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0], n) * rng.uniform(0.5, 1.5, n)
    c = rng.normal(0, 2, n)
    lo = np.where(rng.random(n) < 0.4, -np.inf, rng.normal(-1, 1, n))
    finite_hi = np.where(np.isinf(lo), rng.normal(1, 1, n), lo + rng.exponential(2, n))  # lo <= hi
    hi = np.where(rng.random(n) < 0.4, np.inf, finite_hi)
    return clamped(a, c, lo, hi)


gen_1, gen_2 = random_maps(P), random_maps(P)
grid = np.linspace(-10, 10, 401)[:, None]  # (G, 1) against maps of (P,)
print(f"{P} pairs of each kind on {grid.size} values of h:")
for kind, first, second in [("relu steps", relu_1, relu_2), ("clamped maps", gen_1, gen_2)]:
    one_by_one = apply_map(second, apply_map(first, grid))
    composed = apply_map(compose(first, second), grid)
    check(f"{kind}: compose(f1, f2) = f2 after f1", composed, one_by_one, rtol=0, atol=1e-12)

# %% [markdown]
# **Exercise 5:** write this composition rule yourself, `compose` of the exercises file:
# `python -m indrnn_np exercises ex` writes it, `python -m indrnn_np check ex/indrnn_exercises.py`
# grades it ([the exercises](exercises.md)).

# %% [markdown]
# **tanh is not scannable this way.** A clamped affine map is piecewise linear,
# with at most two kinks, and so is any composition of them; two tanh steps,
# $\tanh(u \tanh(u h + z_1) + z_2)$, are curved everywhere, and no finite set of
# numbers describes $T$ of them composed. The library refuses the scan for tanh.

# %%
h_fine = np.linspace(-3, 3, 61)
relu_two = apply_map(compose(clamped(0.8, 0.5), clamped(0.8, -0.7)), h_fine)
tanh_two = np.tanh(0.8 * np.tanh(0.8 * h_fine + 0.5) - 0.7)


def curved(v):
    """How many grid points have a nonzero second difference."""
    return int(np.sum(np.abs(np.diff(v, 2)) > 1e-9))


print(
    "grid points with curvature: two relu steps", curved(relu_two), "of 59, two tanh steps", curved(tanh_two)
)
assert curved(relu_two) <= 2 and curved(tanh_two) > 50
x1 = rng.standard_normal((5, 1, 2))
try:
    indrnn_forward(x1, np.ones((2, 1)), np.ones(1), np.zeros(1), activation="tanh", algorithm="scan")
    raise AssertionError("tanh + scan should be refused")
except ValueError as exc:
    print("refused:", str(exc)[:90], "...")

# %% [markdown]
# ## 2. The prefix compositions, by recursive doubling
#
# Count the steps from 0, as the code does. The state after step $t$ (the
# library's `h[t]`) is the *prefix* $F_t = f_t \circ \dots \circ f_0$ applied to
# the initial state $h_0$. A prefix of any length can be assembled from pieces,
# because composition is **associative**: $(f \circ g) \circ k = f \circ (g \circ k)$,
# so any bracketing of $f_t \circ \dots \circ f_0$ gives the same map. (It is *not*
# commutative: the order of the steps stays.) First the check, on random
# clamped maps:

# %%
fa, fb, fc = random_maps(P), random_maps(P), random_maps(P)
left, right = compose(compose(fa, fb), fc), compose(fa, compose(fb, fc))
for part, part_l, part_r in zip("a c lo hi".split(), left, right, strict=True):
    # infinite bounds in the same places
    check(f"(f∘g)∘k = f∘(g∘k): {part}, {P} random triples", part_l, part_r, rtol=1e-12, atol=1e-12)
check("(f∘g)∘k = f∘(g∘k) applied to h", apply_map(left, grid), apply_map(right, grid), rtol=1e-12, atol=1e-12)

# %% [markdown]
# The Hillis–Steele scan (recursive doubling) computes all $T$ prefixes in
# $\log_2 T$ rounds. Element $i$ starts as $f_i$. In round $k = 1, 2, \dots$
# every element $i \ge d = 2^{k-1}$ is composed with the element $d$ before it,
# *that one applied first*: `P[i] = compose(P[i - d], P[i])`. After round $k$,
# element $i$ holds the composition of steps $\max(0, i - 2^k + 1)$ to $i$;
# after $\log_2 T$ rounds, all of steps $0..i$. Every composition of a round
# is independent of the others in that round: that is the parallelism.


# %%
def hillis_steele(maps):
    """All prefix compositions of the list ``maps`` (maps[0] applied first), and what combined in each
    round."""
    prefix = list(maps)
    spans = [(i, i) for i in range(len(maps))]  # the steps element i covers
    rounds = []
    d = 1
    while d < len(prefix):
        pairs = [(i - d, i) for i in range(d, len(prefix))]
        prefix = [prefix[i] if i < d else compose(prefix[i - d], prefix[i]) for i in range(len(prefix))]
        spans = [spans[i] if i < d else (spans[i - d][0], i) for i in range(len(spans))]
        rounds.append((pairs, spans))
        d *= 2
    return prefix, rounds


T8, B8 = 8, 1
u8 = np.array([0.9, -0.6, 0.0, 1.1])  # four neurons: u > 0, u < 0, u = 0, u > 1
z8 = rng.normal(0, 1, (T8, B8, u8.size))  # z_t = W x_t + b of every step
h0_8 = np.array([[0.5, 2.0, 1.0, 0.0]])
prefix, rounds = hillis_steele([step_map(u8, z8[t], RELU) for t in range(T8)])
print("rounds:", len(rounds), " compositions:", sum(len(p) for p, _ in rounds))
assert len(rounds) == 3 and sum(len(p) for p, _ in rounds) == T8 * 3 - (T8 - 1)  # T log2 T - (T - 1)
assert rounds[-1][1] == [(0, i) for i in range(T8)]  # every element now covers steps 0..i
for k, (pairs, _spans) in enumerate(rounds):
    print(f"round {k + 1}: d = {2**k}, pairs {pairs}")

# %% [markdown]
# Applied to $h_0$, each prefix gives $h_t$. The sequential loop,
# `reference.recurrence_forward`, gives the same states:

# %%
h_scan8 = np.stack([apply_map(F, h0_8) for F in prefix])  # (T, B, N)
h_loop8 = np.empty_like(z8)
reference.recurrence_forward(z8, u8, np.zeros(u8.size), h0_8, RELU, h_loop8)
print("h_t of neuron 1 (u = -0.6):", np.round(h_loop8[:, 0, 1], 4))
print("largest difference, prefixes applied to h0 vs the loop:", np.abs(h_scan8 - h_loop8).max())
check("the prefixes applied to h_0 = the loop", h_scan8, h_loop8, rtol=1e-13, atol=1e-14)

# %%
fig, ax = plt.subplots(figsize=(8, 4.2))
for k, (pairs, _) in enumerate(rounds):
    for i in range(T8):
        ax.plot([i, i], [k, k + 1], color="0.75", lw=1, zorder=1)  # element i keeps its place
    for j, i in pairs:
        ax.annotate(
            "",
            xy=(i, k + 1),
            xytext=(j, k),
            arrowprops=dict(arrowstyle="-|>", color=f"C{k}", lw=1.4, shrinkA=9, shrinkB=11),
            zorder=2,
        )
spans_by_row = [[(i, i) for i in range(T8)]] + [s for _, s in rounds]
for k, spans in enumerate(spans_by_row):
    for i, (s0, s1) in enumerate(spans):
        label = f"$f_{{{s1}}}$" if s0 == s1 else f"{s0}..{s1}"
        ax.text(i, k, label, ha="center", va="center", fontsize=8, bbox=dict(fc="white", ec="0.4"), zorder=3)
ax.set_xticks(range(T8))
ax.set_yticks(range(len(rounds) + 1))
ax.set_yticklabels(["steps"] + [f"round {k + 1}\n(d = {2**k})" for k in range(len(rounds))])
ax.invert_yaxis()
ax.set_xlabel("step t (each box: the steps its map covers)")
ax.set_title("Hillis–Steele scan over T = 8 steps: element i composed after element i − d")
save(
    fig,
    "09_hillis_steele.png",
    caption=(
        "Recursive doubling (Hillis–Steele) over 8 steps: in round k each element is composed after the one "
        "2^(k−1) places before it, so after log₂ 8 = 3 rounds element i covers steps 0..i, the prefix that "
        "gives h_i."
    ),
)

# %% [markdown]
# ## 3. Why the library's scan is chunked
#
# Recursive doubling does about $T \log_2 T$ compositions, where the loop does
# $T$ steps, and every round reads and writes all $T$ maps. The library's scan
# (`reference.scan_forward`, and its Numba CPU and CUDA twins) is the
# work-efficient *chunked* form:
#
# 1. cut the $T$ steps into $K$ chunks of $L$ steps; each chunk composes its
#    $L$ step maps into one map $G_k$ (all chunks at once: independent);
# 2. the carries: $s_0 = h_0$, $s_{k+1} = G_k(s_k)$, the state entering each
#    chunk: $K$ cheap dependent steps;
# 3. each chunk replays its $L$ steps from its true entering state $s_k$
#    (independent again), computing $h$ exactly as the loop does.
#
# That is $T$ compositions, $K$ map applications and $T$ ordinary steps: $2T + K$
# map operations where the loop does $T$, and since a composition costs a few
# times a step's arithmetic, about three times the loop's work, not
# $T \log_2 T$ compositions. The chain
# of dependent steps is $L + K + L$; the reference takes $K = \lceil\sqrt T\,\rceil$,
# so about $3\sqrt T$ (the CPU and CUDA kernels choose $K$ from the number of
# columns instead, so that $K \cdot B \cdot N$ fills the machine).

# %%
print(f"{'T':>8} {'loop: depth':>12} {'HS: depth':>10} {'HS: compositions':>17} {'chunked: depth':>15}")
depths = {}
for T_ in (8, 2000, 100_000):
    K_ = reference.scan_chunks(T_)
    L_ = -(-T_ // K_)
    depth = depths[T_] = L_ + K_ + L_
    rounds_ = int(np.ceil(np.log2(T_)))
    hs_work = sum(T_ - 2**k for k in range(rounds_))  # round k composes the T - 2^k elements i >= 2^k
    print(f"{T_:>8} {T_:>12} {rounds_:>10} {hs_work:>17} {depth:>15}")
check(
    "the chunked depth at T = 100,000 = 3√T", depths[100_000], 3 * np.sqrt(100_000), atol=5
)  # about 950 steps

Ts = np.logspace(1, 6, 30)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(Ts, Ts, label="loop: T")
ax1.plot(Ts, np.ceil(np.log2(Ts)), label="Hillis–Steele: log₂ T")
ax1.plot(Ts, 3 * np.ceil(np.sqrt(Ts)), label="chunked: ≈ 3√T")
ax1.set_title("dependent steps (depth)")
ax2.plot(Ts, Ts, label="loop: T steps")
ax2.plot(Ts, Ts * np.ceil(np.log2(Ts)), label="Hillis–Steele: ≈ T log₂ T")
ax2.plot(Ts, 2 * Ts + np.ceil(np.sqrt(Ts)), label="chunked: 2T + √T")
ax2.set_title("map operations (work)")
for ax in (ax1, ax2):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("T")
    ax.legend(fontsize=8)
save(
    fig,
    "09_work_and_depth.png",
    caption=(
        "Against the sequence length T: the dependent steps (depth, left) and the map operations (work, "
        "right) of the loop, of recursive doubling and of the chunked scan. The scans trade more work for "
        "far fewer dependent steps."
    ),
)

# %% [markdown]
# **And numerically it stays with the loop.** The composed maps only carry the
# state from one chunk to the next: the entering states $s_k$ are the loop's
# states up to rounding, and from there each chunk runs *the same arithmetic as
# the loop*, $\sigma(W x_t + u\,h_{t-1} + b)$, step by step. The rounding of the
# composition is not compounded over $T$ steps. Here are the three phases
# written out, with the loop itself (`reference.recurrence_forward`) as the
# replay; the library's `reference.scan_forward` gives the same numbers.


# %%
def chunked_scan(xw, u, b, h0, K):
    """The chunked scan in three phases; returns h and the entering states."""
    T = xw.shape[0]
    L = -(-T // K)
    chunks = [(t0, min(t0 + L, T)) for t0 in range(0, T, L)]
    # 1. each chunk's map G_k, composed step by step (the chunks are independent)
    G = []
    for t0, t1 in chunks:
        Gk = identity_map(h0.shape, xw.dtype)
        for t in range(t0, t1):
            Gk = compose(Gk, step_map(u, xw[t] + b, RELU))
        G.append(Gk)
    # 2. the carries: s_0 = h0, s_{k+1} = G_k(s_k)
    entering = [h0]
    for Gk in G[:-1]:
        entering.append(apply_map(Gk, entering[-1]))
    # 3. every chunk replays the loop from its entering state (independent again)
    h = np.empty_like(xw)
    for (t0, t1), s_k in zip(chunks, entering, strict=True):
        reference.recurrence_forward(xw[t0:t1], u, b, s_k, RELU, h[t0:t1])
    return h, entering, chunks


T = 2000
B, M, N = 4, 3, 8
x = rng.standard_normal((T, B, M))
W = rng.standard_normal((M, N)) / np.sqrt(M)
u = rng.uniform(-1, 1, N)
u[:3] = [-0.7, 0.0, 2 ** (1 / T)]  # u < 0, u = 0 and the paper's bound for the adding problem, 2^(1/T) > 1
b = 0.1 * rng.standard_normal(N)
h0 = 0.5 * rng.standard_normal((B, N))
xw = (x.reshape(T * B, M) @ W).reshape(T, B, N)
h_seq, h_lib_scan = np.empty_like(xw), np.empty_like(xw)
reference.recurrence_forward(xw, u, b, h0, RELU, h_seq)
reference.scan_forward(xw, u, b, h0, RELU, h_lib_scan)
K = reference.scan_chunks(T)
h_sc, entering, chunks = chunked_scan(xw, u, b, h0, K)
print(f"T = {T}: K = {len(chunks)} chunks of L = {chunks[0][1]} steps")
check("the three phases above = reference.scan_forward", h_sc, h_lib_scan, rtol=1e-14, atol=1e-14)
h_max = max(1.0, float(np.abs(h_seq).max()))
entering_loop = np.stack([h_seq[t0 - 1] for t0, _ in chunks[1:]])
check("the entering states = the loop's", np.stack(entering[1:]), entering_loop, rtol=0, atol=1e-12 * h_max)
print(f"all of h vs the loop: largest difference {np.abs(h_sc - h_seq).max():.1e} (max |h| = {h_max:.3g})")
starts = [t0 for t0, _ in chunks]

# %%
fig, ax = plt.subplots(figsize=(8, 3))
# relative to the size of the states at each step (one neuron, u = 2^(1/T), grows to a few hundred)
diff_t = np.abs(h_sc - h_seq).max(axis=(1, 2)) / np.maximum(1.0, np.abs(h_seq).max(axis=(1, 2)))
ax.semilogy(np.arange(T), np.maximum(diff_t, 1e-18), lw=0.8)
ax.axhline(np.finfo(float).eps, color="C3", lw=0.8, ls="--", label="float64 ε")
ax.legend(loc="lower right")
for t0 in starts[1:]:
    ax.axvline(t0, color="0.85", lw=0.5, zorder=0)
ax.set_xlabel("t (grey: chunk starts)")
ax.set_ylabel("|h_scan − h_loop|\n/ max(1, |h_loop|)")
ax.set_title(f"The chunked scan against the loop at each step, float64, T = {T} (0 drawn at 1e-18)")
save(
    fig,
    "09_scan_vs_loop.png",
    caption=(
        "How far the chunked scan's h is from the loop's at each step, relative to the size of the states: "
        "rounding only, a few float64 ε, entering at the chunk starts (grey) and carried through each chunk."
    ),
)

# %% [markdown]
# The differences enter with the entering states, at the chunk starts, and a
# chunk's replay only carries them (multiplied by $u$, or cut off by a step
# that is off); the neuron with $u = 2^{1/T}$ never damps them, which is why the
# curve creeps up, to a few times $10^{-14}$ of the largest state after 45
# chunks.

# %% [markdown]
# The same through the layer, `indrnn_forward(..., algorithm="scan")` against
# `algorithm="sequential"`, for $h$ and every gradient of `indrnn_backward`
# (the backward pass is a scan too: section 4). Differences are relative to
# $\max(1, \max|\cdot|)$, as in `tests/test_scan.py`; with $u = 2^{1/T}$ some
# states and sums grow large. In full mode the Numba CPU kernels are checked
# too (their first call compiles them).

# %%
dh = rng.standard_normal((T, B, N))
for backend in ["numpy"] if FAST else ["numpy", "cpu"]:
    runs = {}
    for algorithm in ("sequential", "scan"):
        h_alg, cache = indrnn_forward(x, W, u, b, h0, "relu", backend, algorithm=algorithm)
        runs[algorithm] = {"h": h_alg, **indrnn_backward(dh, cache)._asdict()}
    print(f"backend {backend}, T = {T}, B = {B}, N = {N}, float64:")
    for name, ref_value in runs["sequential"].items():
        scale = max(1.0, float(np.abs(ref_value).max()))
        check(
            f"{backend}, {name}: scan = sequential", runs["scan"][name], ref_value, rtol=0, atol=1e-12 * scale
        )

# %% [markdown]
# ## 4. The backward scan
#
# Backpropagation through time (tutorial 2) for one column, with
# $\delta_t = \partial J/\partial a_t$, $g_t = \partial J/\partial h_t$ (what the
# loss sends to $h_t$ directly) and $m_t = \sigma'(a_t)$ ($[h_t > 0]$ for ReLU), is
#
# $$\delta_t = m_t\,(g_t + u\,\delta_{t+1}), \qquad \delta_{T+1} = 0.$$
#
# In reverse time this is the affine map $\delta \mapsto (m_t u)\,\delta + m_t g_t$.
# There is no clamp: the forward pass already decided which steps were on, so
# $m_t$ is a known number. These maps compose like any affine maps, and `compose`
# does it with the bounds at $\pm\infty$. (This holds for any activation once
# $h$ is known, tanh included; it is the *forward* pass of tanh that does not
# compose.)
#
# By hand (steps counted from 1 here, as in tutorial 2), four steps of one
# neuron, $u = 0.9$, $h_0 = 0$, $z = (0.5, 0.2, -1, 0.3)$:
# $h = (0.5,\ 0.65,\ 0,\ 0.3)$ ($a_3 = -1 + 0.9 \cdot 0.65 = -0.415$: off), so
# $m = (1, 1, 0, 1)$. With $g = (1, -0.5, 2, 1)$:
# $\delta_4 = 1$, $\delta_3 = 0$ (the step that was off cuts the chain),
# $\delta_2 = -0.5$, $\delta_1 = 1 + 0.9 \cdot (-0.5) = 0.55$.
# Composed, steps 4 down to 1: $(0.9, 1) \to (0, 0) \to (0, -0.5) \to (0, 0.55)$,
# a map with slope 0 (no $\delta$ from after step 4 gets through step 3), and
# $\delta_1 = 0 \cdot 0 + 0.55$.

# %%
z4 = np.array([0.5, 0.2, -1.0, 0.3]).reshape(4, 1, 1)
u4 = np.array([0.9])
g4 = np.array([1.0, -0.5, 2.0, 1.0]).reshape(4, 1, 1)
h4 = np.empty_like(z4)
reference.recurrence_forward(z4, u4, np.zeros(1), np.zeros((1, 1)), RELU, h4)
check("h by hand", h4.ravel(), [0.5, 0.65, 0.0, 0.3])
m4 = (h4.ravel() > 0).astype(float)  # σ' = [h_t > 0]
check("the mask by hand", m4, [1, 1, 0, 1], rtol=0)
back_maps = [clamped(m4[t] * u4[0], m4[t] * g4[t, 0, 0], -np.inf, np.inf) for t in range(4)]
D = clamped(1.0, 0.0, -np.inf, np.inf)  # the identity map
for t in (3, 2, 1, 0):  # step 4 is applied first
    D = compose(D, back_maps[t])
    print(f"after step {t + 1}: (A, C) = ({float(D[0]):g}, {float(D[1]):g})")
check("the composed backward map (A, C) by hand", [float(D[0]), float(D[1])], [0.0, 0.55])
deltas = [float(apply_map(D, 0.0))]

# the library: with W = [[1]], x_t = z_t, so dx = δ ⊙ W = δ, and dh0 = u δ_1
h_lib, cache = indrnn_forward(
    z4, np.ones((1, 1)), u4, np.zeros(1), activation="relu", backend="numpy", algorithm="scan"
)
g_lib = indrnn_backward(g4, cache)  # the cache says "scan": this is the backward scan
print("δ from indrnn_backward (its dx):", g_lib.dx.ravel(), " dh0:", g_lib.dh0.ravel())
check("indrnn_backward's δ (dx) = δ by hand", g_lib.dx.ravel(), [0.55, -0.5, 0.0, 1.0])
check("indrnn_backward's dh0 = u δ_1", g_lib.dh0.ravel(), 0.9 * deltas[0])

# %% [markdown]
# Every $\delta_t$ is a suffix composition applied to $\delta_{T+1} = 0$, so the
# recursive doubling of section 2, run over the reversed list of maps, gives all
# of them at once. Checked on a whole random layer against the loop's
# $\partial J/\partial a_t$ (`reference.recurrence_backward`'s `da`):

# %%
T_b, B_b, N_b = 64, 3, 5
u_b = np.array([0.95, -0.8, 0.0, 1.05, 0.5])
xw_b = rng.standard_normal((T_b, B_b, N_b))
h0_b = rng.standard_normal((B_b, N_b))
g_b = rng.standard_normal((T_b, B_b, N_b))
h_b = np.empty_like(xw_b)
reference.recurrence_forward(xw_b, u_b, np.zeros(N_b), h0_b, RELU, h_b)
da, dh0_b = np.empty_like(xw_b), np.empty((B_b, N_b))
du_p, db_p = np.empty((B_b, N_b)), np.empty((B_b, N_b))
reference.recurrence_backward(g_b, h_b, u_b, h0_b, RELU, da, dh0_b, du_p, db_p)

m_b = (h_b > 0).astype(float)
maps_reversed = [clamped(m_b[t] * u_b, m_b[t] * g_b[t], -np.inf, np.inf) for t in reversed(range(T_b))]
suffixes, rounds_b = hillis_steele(maps_reversed)
delta_scan = np.stack([apply_map(F, 0.0) for F in reversed(suffixes)])
print(f"T = {T_b}: {len(rounds_b)} rounds; largest |δ_scan - da| = {np.abs(delta_scan - da).max():.1e}")
check("δ from the backward scan = the loop's da", delta_scan, da, rtol=1e-12, atol=1e-12)
check("u δ_1 from the scan = the loop's dh0", u_b * delta_scan[0], dh0_b, rtol=1e-12, atol=1e-12)

# %% [markdown]
# The weight gradients then need no recurrence at all:
# $\partial J/\partial u = \sum_t \delta_t h_{t-1}$ and
# $\partial J/\partial b = \sum_t \delta_t$ are sums over $t$ (the library's scan
# sums them chunk by chunk, in a fixed order).

# %%
h_prev_b = np.concatenate([h0_b[None], h_b[:-1]])
check("du from the scanned δ = the loop's", (delta_scan * h_prev_b).sum(axis=0), du_p, rtol=1e-12, atol=1e-12)
check("db from the scanned δ = the loop's", delta_scan.sum(axis=0), db_p, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 5. Where it pays
#
# The scan does about three times the loop's arithmetic to shorten the chain of
# dependent steps. That is only worth it when the hardware would otherwise sit
# idle. The loop is *already* parallel over the B·N independent columns (tutorial
# 7): each step is one vectorised operation over all of them. On a CPU, a handful
# of cores with a few SIMD lanes each are kept busy by a few hundred columns; a
# training batch like the adding problem's (the official code's 32 sequences
# through 128 neurons) has 4096, and the scan's extra work is then pure cost.
# The scan helps when B·N is small and T long: one long sequence through a few
# neurons (inference on a stream, a narrow layer), where the loop leaves every
# core but one, and most of its lanes, empty.
#
# The chunks are the scan's extra parallelism: K chunks give K·B·N independent
# lanes in the compose and replay phases. The Numba CPU kernel picks K from the
# shape so that K·B·N is about `config.CPU_SCAN_LANES` (with at least
# `config.CPU_SCAN_MIN_CHUNKS` chunks, and never fewer than
# `config.CPU_SCAN_MIN_STEPS` steps per chunk); the CUDA kernel does the same with
# a GPU's much larger thread count (`config.CUDA_SCAN_THREADS`). The layouts the
# CPU kernel would choose:

# %%
from indrnn_np import config  # noqa: E402
from indrnn_np.kernels import cpu  # noqa: E402

print(f"{'T':>7} {'B':>4} {'N':>4} {'loop: lanes B·N':>16} {'scan: K':>8} {'L':>6} {'lanes K·B·N':>12}")
for T_, B_, N_ in [(100_000, 1, 1), (100_000, 1, 16), (10_000, 4, 32), (1000, 64, 128)]:
    K_, L_, _, _ = cpu._scan_layout.py_func(T_, B_ * N_)
    print(f"{T_:>7} {B_:>4} {N_:>4} {B_ * N_:>16} {K_:>8} {L_:>6} {K_ * B_ * N_:>12}")
    assert K_ * L_ >= T_ and (K_ - 1) * L_ < T_  # the chunks cover T, none empty
    if B_ * N_ < config.CPU_SCAN_LANES:
        assert K_ * B_ * N_ >= min(config.CPU_SCAN_LANES, (T_ // config.CPU_SCAN_MIN_STEPS) * B_ * N_)

# %% [markdown]
# **Measured crossover.** Measured, not derived: `python -m indrnn_np bench scan
# --out docs/bench` on an AMD EPYC with 2 logical CPUs (2026-11-30; `docs/bench/scan.md` has the
# times and their 90th percentiles). One forward + backward of the recurrence, relu,
# float32, N = min(B·N, 128); the speed-up of the scan (sequential / scan, > 1: the
# scan is faster, in bold):
#
# | T \ B·N | 1 | 16 | 128 | 1,024 | 6,400 |
# |---|---|---|---|---|---|
# | 100 | 0.32x | 0.32x | 0.31x | 0.15x | 0.07x |
# | 1,000 | 0.30x | 0.30x | 0.31x | 0.41x | 0.55x |
# | 10,000 | 0.36x | **1.19x** | 0.84x | 0.75x | 0.93x |
# | 100,000 | **1.09x** | **2.49x** | **1.14x** | **1.04x** | 0.96x |
#
# On these two cores the scan wins for long sequences with few columns: at
# T = 100,000 from one column to B·N = 1,024 (1.04–2.49×), and at T = 10,000 with
# 16 columns; at training sizes (T ≤ 1000, or the adding network's 6,400 columns)
# the loop is faster. On a GPU, whose threads outnumber a training batch's columns
# by far, the balance should move towards the scan; that has not been measured yet
# (`benchmarks/gpu_check.sh` runs this grid with `--backend cuda`).
#
# To choose per layer: `indrnn_forward(..., algorithm="scan")`; the cache
# remembers the choice, so `indrnn_backward` runs the backward scan too.

# %% [markdown]
# ## 6. IndRNN among the linear-recurrence models
#
# Several recent recurrent models are trained with a parallel scan over time.
# All of them have a **diagonal** (element-wise) recurrence, as IndRNN does, and
# all of them make the recurrence **linear** in the state, so that the scan is
# the composition of affine maps:
#
# | model | recurrence in the state | what depends on $h_{t-1}$ |
# |---|---|---|
# | LRU (Orvieto et al., "Resurrecting Recurrent Neural Networks for Long Sequences", ICML 2023) | $h_t = \lambda \odot h_{t-1} + B x_t$ (the input term normalised), $\lambda$ complex and diagonal, parameterised through exponentials so that $\lvert\lambda\rvert < 1$ | linearly, nothing else; the nonlinearity sits between layers |
# | minGRU / minLSTM (Feng et al., "Were RNNs All We Needed?", 2024) | $h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t$, gates and candidate from $x_t$ alone | linearly: the gates no longer read $h_{t-1}$ |
# | S5 (Smith, Warrington, Linderman, "Simplified State Space Layers for Sequence Modeling", ICLR 2023) | a discretised linear state space model with a diagonalised state matrix, computed with a parallel scan | linearly |
# | Mamba (Gu and Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023) | a diagonal linear recurrence whose discretisation depends on the input ("selective"), computed with a hardware-aware scan | linearly; the input chooses the decay, the state does not |
# | IndRNN (Li et al., CVPR 2018) | $h_t = \max(u \odot h_{t-1} + W x_t + b,\ 0)$ | through a **ReLU inside the recurrence** |
#
# What they give up to be scannable is the nonlinearity between one step and
# the next, or (minGRU, Mamba) any dependence of the step's coefficients on the
# state. IndRNN keeps a ReLU between every two steps and is still exactly
# scannable, because a ReLU step is a clamped affine map and clamped affine maps
# compose (section 1). Its $u$ is a real vector, the diagonal of its recurrent
# matrix, as $\lambda$ or the discretised state matrix is theirs. The per-step
# Jacobian of an IndRNN layer is diagonal, $\mathrm{diag}(u \odot \sigma'(a_t))$
# (the paper's Eq. 4 is its product over time); by finite differences:

# %%
N6 = 5
u6, z6 = rng.uniform(-1, 1, N6), rng.normal(0, 1, N6)
h6 = rng.normal(0, 1, N6)


def layer_step(h):
    return np.maximum(u6 * h + z6, 0)


eps = 1e-6
J = np.stack([(layer_step(h6 + eps * e) - layer_step(h6 - eps * e)) / (2 * eps) for e in np.eye(N6)], axis=1)
check(
    "∂h_t/∂h_{t-1} by finite differences = diag(u σ')", J, np.diag(u6 * (u6 * h6 + z6 > 0)), rtol=0, atol=1e-8
)
print("∂h_t/∂h_{t-1}, diagonal:\n", np.round(J, 3))

# %% [markdown]
# A minGRU-style recurrence (real-valued; its update gate $z_t$ and candidate
# $\tilde h_t$ are computed from $x_t$ alone) is the unclamped special case: its steps are the maps $(1 - z_t,\ z_t \tilde h_t,
# -\infty, \infty)$, with a slope that changes from step to step, and the same
# `compose` and recursive doubling scan it. (LRU's complex $\lambda$ is outside
# this code: a clamp needs an order, which complex numbers lack; a complex
# *linear* recurrence composes in the same way without one.)

# %%
T7, N7 = 16, 3
gate = 1 / (1 + np.exp(-rng.normal(0, 1, (T7, 1, N7))))  # z_t = sigmoid(linear(x_t))
cand = rng.normal(0, 1, (T7, 1, N7))  # h̃_t = linear(x_t)
h_gru = [np.zeros((1, N7))]
for t in range(T7):
    h_gru.append((1 - gate[t]) * h_gru[-1] + gate[t] * cand[t])
gru_prefix, _ = hillis_steele([clamped(1 - gate[t], gate[t] * cand[t], -np.inf, np.inf) for t in range(T7)])
h_gru_scan = np.stack([apply_map(F, 0.0) for F in gru_prefix])
check(
    f"minGRU-style recurrence, T = {T7}: the scan of its affine maps = its loop",
    h_gru_scan,
    np.stack(h_gru[1:]),
)

# %% [markdown]
# ## Summary
#
# * A ReLU step $h \mapsto \max(u h + z_t, 0)$ is a clamped affine map; such maps
#   compose into one of the same form (`compose`), for any sign of $u$, so the
#   ReLU recurrence is exactly a scan. tanh is not.
# * Associativity lets the prefixes be bracketed any way: recursive doubling
#   in $\log_2 T$ rounds, or the library's chunks (about $3\times$ the loop's work,
#   depth about $3\sqrt T$, and the loop's own arithmetic replayed from each
#   chunk's entering state: float64 results within max(1e-12, T ε) of the loop's,
#   relative to max(1, max |value|) of each output, a rounding that grows with T
#   (1.5e-12 at T = 100,000, 1.6e-11 at 1,000,000: `python benchmarks/scan_precision.py`);
#   2e-14 here).
# * Backward, $\delta_t = m_t (g_t + u \delta_{t+1})$ is an affine recurrence in
#   reverse time, scanned the same way.
# * The scan pays when B·N is small and T is long; for a wide batch the loop is
#   already parallel enough.
# * Linear-recurrence models drop the nonlinearity inside the recurrence to be
#   scannable; IndRNN keeps its ReLU there and scans anyway.
