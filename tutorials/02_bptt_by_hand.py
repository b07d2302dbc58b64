# %% [markdown]
# # 2. Backpropagation through time, by hand
#
# Take one neuron, $h_t = \sigma(a_t)$ with $a_t = w x_t + u h_{t-1} + b$,
# and an objective $J$ that reads only the last state, $J = h_T$.
# The chain rule through one step back is
#
# $$\frac{\partial J}{\partial h_{t-1}} = \frac{\partial J}{\partial h_t}\,\sigma'(a_t)\,u$$
#
# so going back from T to t multiplies by $u$ and by $\sigma'$ once per step:
# $\partial J/\partial h_t = u^{T-t}\prod_{k=t+1}^{T}\sigma'(a_k)$ (the paper's Eq. 4).

# %%
import numpy as np

from indrnn_np import check_gradients, indrnn_backward, indrnn_forward
from indrnn_np.experiments.tutorial import TrivialCheck, check, check_gradient, save

rng = np.random.default_rng(0)
T = 8
x = rng.uniform(0.1, 1.0, T)  # one input feature, positive
w, u, b = 0.7, 0.8, 0.05

# %% [markdown]
# ## Linear activation first
# With $\sigma(a) = a$, $\sigma' = 1$ and the gradient is exactly $u^{T-t}$.

# %%
h = [0.0]  # h_0
for t in range(T):
    h.append(w * x[t] + u * h[-1] + b)
grad = [0.0] * (T + 1)
grad[T] = 1.0  # ∂J/∂h_T
for t in range(T, 0, -1):
    grad[t - 1] = grad[t] * 1.0 * u  # σ' = 1, times u
print([f"{g:.4f}" for g in grad])
check("BPTT by hand = u^(T-t)", grad, u ** np.arange(T, -1, -1.0), rtol=1e-12)

# %% [markdown]
# The library's backward pass gives the same $\partial J/\partial h_0$ (its `dh0`).
# `dh` is the gradient the *loss* sends to every $h_t$ directly: here only the last one.

# %%
X = x.reshape(T, 1, 1)  # (T, B, M)
W1, u1, b1 = np.array([[w]]), np.array([u]), np.array([b])
h_lib, cache = indrnn_forward(X, W1, u1, b1, activation="identity", backend="numpy")
dh = np.zeros_like(h_lib)
dh[-1] = 1.0
g = indrnn_backward(dh, cache)
print("dh0 from BPTT:", g.dh0.ravel(), " u^T:", u**T)
check("the library's dh0 = u^T", g.dh0.ravel(), u**T, rtol=1e-14)

# %% [markdown]
# ### Stepping through the library's loop
# With `backend="numpy"` the library is the plain path, at every size: stepping into
# `indrnn_forward(..., backend="numpy")` with a debugger, a few steps (the argument checks are one
# call: step over it) reach the GEMM `W x_t` for all t, then
# `indrnn_np.kernels.reference.recurrence_forward`, whose `for t in range(T)` loop computes Eq. 2
# one step at a time. `indrnn_backward(..., backend="numpy")` likewise calls
# `indrnn_np.kernels.reference.recurrence_backward`, whose loop is the BPTT written out above
# (`g = dh[t] + carry` is $\partial J/\partial h_t$, `carry = u * da[t]` the part sent back to
# $h_{t-1}$), then computes $\partial J/\partial W$ and $\partial J/\partial x$ as two GEMMs.
# A breakpoint in either loop is hit at this tutorial's sizes (M = 1) as at any other.

# %% [markdown]
# ## ReLU, and the gradients of the weights
#
# With ReLU, $\sigma'(a_t)$ is 1 where the neuron is on and 0 where it is
# off. It can be read off the output alone: $\sigma' = [h_t > 0]$, which is
# why the forward pass only has to keep $h$. The gradient of the
# pre-activation, $\delta_t = \partial J/\partial a_t$, then gives every
# weight's gradient:
# $\partial J/\partial u = \sum_t \delta_t h_{t-1}$,
# $\partial J/\partial b = \sum_t \delta_t$,
# $\partial J/\partial w = \sum_t \delta_t x_t$.
#
# The inputs below switch the neuron off at step 3 only ($a_3 < 0$) and leave it on at the last
# step, where $J$ reads it: the gradient flows back from $T$ through the active steps and stops at
# step 3, so only steps 4 to $T$ add to $\partial J/\partial u$, $b$ and $w$, and nothing reaches
# $h_0$.

# %%
x_mixed = np.array([0.6, -0.2, -1.0, 0.4, 0.8, -0.3, 0.5, 0.9])  # (T,): a_3 < 0, every other a_t > 0
h = [0.3]  # h_0
for t in range(T):
    h.append(max(w * x_mixed[t] + u * h[-1] + b, 0.0))
dJ_dh = 1.0  # ∂J/∂h_T
du = db = dw = 0.0
for t in range(T, 0, -1):
    delta = dJ_dh * (1.0 if h[t] > 0 else 0.0)  # ∂J/∂a_t = ∂J/∂h_t σ'(a_t)
    du += delta * h[t - 1]
    db += delta
    dw += delta * x_mixed[t - 1]
    dJ_dh = delta * u  # ∂J/∂h_{t-1}
print("on at step t = 1..T:", [int(h_t > 0) for h_t in h[1:]])
print(f"by hand: du={du:.6f} db={db:.6f} dw={dw:.6f} dh0={dJ_dh:.6f}")

X = x_mixed.reshape(T, 1, 1)
h_lib, cache = indrnn_forward(X, W1, u1, b1, h0=np.array([[0.3]]), activation="relu", backend="numpy")
dh = np.zeros_like(h_lib)
dh[-1] = 1.0
g = indrnn_backward(dh, cache)
print(f"library: du={g.du[0]:.6f} db={g.db[0]:.6f} dw={g.dW[0, 0]:.6f} dh0={g.dh0[0, 0]:.6f}")
check(
    "ReLU: du, db, dw, dh0 by hand = the library",
    [du, db, dw, dJ_dh],
    [g.du[0], g.db[0], g.dW[0, 0], g.dh0[0, 0]],
)
assert du > 0 and db > 0 and dJ_dh == 0  # steps 4..T count; step 3's σ' = 0 stops the path to h_0

# %% [markdown]
# ### Why a dead ReLU gives zeros
#
# Had the neuron been off at the last step, $\sigma'(a_T) = 0$ would make
# $\delta_T = \partial J/\partial h_T \cdot 0 = 0$, and every earlier $\delta_t$ is a multiple of
# $\delta_T$: du, db, dw and dh0 would all be exactly 0, by hand and from the library, right or
# wrong. A comparison of those zeros checks nothing (a backward pass that returned zeros would pass
# it), so the tutorials' `check` refuses it:

# %%
x_dead = x_mixed.copy()
x_dead[-1] = -3.0  # a_T < 0: the neuron is off at the step J reads
h_dead, cache_dead = indrnn_forward(
    x_dead.reshape(T, 1, 1), W1, u1, b1, h0=np.array([[0.3]]), activation="relu", backend="numpy"
)
g_dead = indrnn_backward(dh, cache_dead)
print(
    "off at the last step:",
    h_dead[-1, 0, 0] == 0,
    " du, db, dW, dh0:",
    g_dead.du,
    g_dead.db,
    g_dead.dW,
    g_dead.dh0,
)
try:
    check("a dead neuron's gradients", [g_dead.du[0], g_dead.db[0], g_dead.dh0[0, 0]], [0.0, 0.0, 0.0])
except TrivialCheck as refused:
    print("refused:", refused)

# %% [markdown]
# ## A whole layer, one step at a time
#
# `indrnn_step_forward` / `indrnn_step_backward` are one step of the layer.
# Running them forward, then backward in reverse order while carrying
# $\partial J/\partial h_{t-1}$, is BPTT written out; it matches the fused op.

# %%
from indrnn_np import indrnn_step_backward, indrnn_step_forward  # noqa: E402

T, B, M, N = 6, 4, 3, 5
X = rng.standard_normal((T, B, M))
W = rng.standard_normal((M, N)) / 2
u_v, b_v = rng.uniform(0, 1, N), 0.1 * rng.standard_normal(N)
dH = rng.standard_normal((T, B, N))  # some upstream gradient for every step

h_prev, caches = np.zeros((B, N)), []
for t in range(T):
    h_prev, c = indrnn_step_forward(X[t], h_prev, W, u_v, b_v, "relu")
    caches.append(c)
dW, du_v, carry = np.zeros_like(W), np.zeros(N), np.zeros((B, N))
for t in reversed(range(T)):
    gs = indrnn_step_backward(dH[t] + carry, caches[t])  # direct gradient + what step t+1 sent back
    dW += gs.dW
    du_v += gs.du
    carry = gs.dh_prev
_, cache = indrnn_forward(X, W, u_v, b_v, backend="cpu")
g = indrnn_backward(dH, cache)
check("dW: step-by-step BPTT = indrnn_backward", dW, g.dW, rtol=1e-10)
check("du: step-by-step BPTT = indrnn_backward", du_v, g.du, rtol=1e-10)

# %% [markdown]
# **Exercise 2:** write this BPTT yourself (the ReLU mask, du and db summed over time and batch),
# `indrnn_backward` of the exercises file: `python -m indrnn_np exercises ex` writes it,
# `python -m indrnn_np check ex/indrnn_exercises.py` grades it ([the exercises](exercises.md)).

# %% [markdown]
# ## Check it yourself: finite differences
#
# Nudge each input by ±ε and watch J move: $(J(x+ε) - J(x-ε)) / 2ε$ should
# equal the backward pass. `check_gradients` does this for every entry of
# every array (relative error about 1e-10 when right, 1e-2 when wrong).

# %%
inputs = dict(x=X, W=W, u=u_v, b=b_v, h0=rng.standard_normal((B, N)), activation="tanh")
for r in check_gradients(indrnn_forward, indrnn_backward, inputs, wrt=["x", "W", "u", "b", "h0"]):
    check_gradient(r, tol=1e-6)

# %% [markdown]
# **Exercise 4:** write the centred difference yourself (in float64 whatever x's dtype),
# `numerical_gradient` of the exercises file: `python -m indrnn_np exercises ex` writes it,
# `python -m indrnn_np check ex/indrnn_exercises.py` grades it ([the exercises](exercises.md)).

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3.5))
for uu in (0.8, 1.0, 1.1):
    ax.plot(range(21), uu ** np.arange(20, -1, -1.0), marker="o", label=f"u = {uu}")
ax.set_yscale("log")
ax.set_xlabel("t (objective at T = 20)")
ax.set_ylabel("∂J/∂h_t, linear neuron")
ax.legend()
save(
    fig,
    "02_gradient_powers.png",
    caption=(
        "The gradient that reaches step t of a linear neuron from an objective at T = 20 is u^(T−t): below 1"
        " it shrinks geometrically going back in time, at 1 it stays, above 1 it grows."
    ),
)
