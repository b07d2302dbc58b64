# %% [markdown]
# # 3. Exploding and vanishing, and the bound on u
#
# Tutorial 2 ended with the paper's Eq. 4:
#
# $$\frac{\partial J}{\partial h_{n,t}} = \frac{\partial J}{\partial h_{n,T}}\; u_n^{T-t}\prod_{k=t+1}^{T}\sigma'_{n,k}$$
#
# For a neuron that stays active under ReLU ($\sigma' = 1$), the only thing
# between the gradient at T and the gradient at t is the scalar power
# $u_n^{T-t}$: above 1 it explodes, below 1 it vanishes, geometrically.

# %%
import numpy as np

from indrnn_np import indrnn_backward, indrnn_forward
from indrnn_np.dynamics import (
    classify,
    indrnn_gradient_through_time,
    matrix_with_spectral_radius,
    relu_u_max,
    rnn_gradient_through_time,
)
from indrnn_np.experiments.tutorial import FAST, check, save
from indrnn_np.nn import project_u

T = 1000
u = np.array([1.01, 0.99, 1.0, relu_u_max(T)])
g = indrnn_gradient_through_time(u, T)  # (T+1, N): closed form, objective at step T
for un, g0 in zip(u, g[0], strict=True):
    print(f"u = {un:.6f}: |dJ/dh_0| = {g0:.4g}")
check("u = 1.01: |dJ/dh_0| = 1.01^1000", g[0, 0], 2.0959e4, rtol=1e-4)
check("u = 0.99: |dJ/dh_0| = 0.99^1000", g[0, 1], 4.3171e-5, rtol=1e-4)

# %% [markdown]
# This is not a model of the backward pass; it *is* the backward pass. Run
# the real BPTT on a linear layer with these u and compare.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((T, 2, 3))
h, cache = indrnn_forward(x, rng.standard_normal((3, 4)), u, np.zeros(4), activation="identity")
dh = np.zeros_like(h)
dh[-1] = 1.0
dh0 = indrnn_backward(dh, cache).dh0
print("BPTT dh0:", dh0[0])
check("BPTT's dh0 = the closed form u^T", dh0[0], g[0], rtol=1e-12)

# %% [markdown]
# ## The paper's range for u
#
# To keep the gradient from T to t above a useful ε and below a tolerable γ:
# $|u_n| \in [(\varepsilon/\prod\sigma')^{1/(T-t)}, (\gamma/\prod\sigma')^{1/(T-t)}]$.
# For ReLU the paper relaxes this to $|u_n| \in [0, \gamma^{1/T}]$: short
# memory is allowed, explosion is not. With γ = 2:

# %%
for TT in (100, 1000, 5000):
    print(f"T = {TT}: u_max = 2^(1/{TT}) = {relu_u_max(TT):.6f}")
check("u_max at T = 100 (the paper's number)", relu_u_max(100), 1.00696, atol=1e-5)
check("u_max at T = 5000 (the paper's number)", relu_u_max(5000), 1.000139, atol=1e-6)

# %% [markdown]
# Projecting u into that range after every optimizer step keeps every
# gradient on an active path within [ε, γ], however wild u was:

# %%
eps, gamma = 0.01, 2.0
u_wild = rng.uniform(-3, 3, 8)
u_ok = project_u(u_wild, u_max=gamma ** (1 / T), u_min=eps ** (1 / T))
g_wild = np.abs(indrnn_gradient_through_time(u_wild, T))
g_ok = np.abs(indrnn_gradient_through_time(u_ok, T))
print("before projection, u =", np.round(u_wild, 3))
print("  |dJ/dh_0|:", [classify(v, eps, gamma) for v in g_wild[0]])
print("after projection, u =", np.round(u_ok, 6))
print("  |dJ/dh_0|:", [classify(v, eps, gamma) for v in g_ok[0]])
print("after projection, |dJ/dh_t| spans", g_ok.min(), "to", g_ok.max())
assert g_ok.min() >= eps * (1 - 1e-9) and g_ok.max() <= gamma * (1 + 1e-9)

# %% [markdown]
# **Exercise 3:** write the projection into $[-\gamma^{1/T}, \gamma^{1/T}]$ yourself, `project_u`
# of the exercises file: `python -m indrnn_np exercises ex` writes it,
# `python -m indrnn_np check ex/indrnn_exercises.py` grades it ([the exercises](exercises.md)).

# %% [markdown]
# ## The conventional RNN
#
# There the step back multiplies by a matrix, $\mathrm{diag}(\sigma')U^\top$.
# Its growth follows U's spectral radius ρ, and it spreads a gradient that
# starts on one neuron over all of them.

# %%
N = 16 if FAST else 64
T_rnn = 300 if FAST else T
for rho in (1.01, 0.99):
    G = rnn_gradient_through_time(matrix_with_spectral_radius(N, rho, seed=1), T_rnn)
    norm0 = np.linalg.norm(G[0])
    share = 1 - G[0, 0] ** 2 / norm0**2
    print(f"rho = {rho}: |dJ/dh_0| = {norm0:.4g} (rho^T = {rho**T_rnn:.4g}); share off neuron 0: {share:.2f}")
    check(f"rho = {rho}: |dJ/dh_0| = rho^T", norm0, rho**T_rnn, rtol=1e-8)

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(9, 4))
for i, label in enumerate(["u = 1.01", "u = 0.99", "u = 1", f"u = bound {u[3]:.6f}"]):
    ax.plot(np.abs(g[:, i]), label=label)
ax.axhline(gamma, ls="--", color="k", lw=1, label=f"γ = {gamma:g}: the largest gradient tolerated")
ax.axhline(eps, ls=":", color="k", lw=1, label=f"ε = {eps:g}: the smallest useful gradient")
ax.set_yscale("log")
ax.set_xlabel("t")
ax.set_ylabel("|dJ/dh_t|")
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside the plot: no line hidden
ax.set_title(f"Eq. 4 at T = {T}")
save(
    fig,
    "03_explode_vanish.png",
    caption=(
        "|∂J/∂h_t| (Eq. 4) of a neuron that stays active, objective at T = 1000: u = 1.01 explodes above γ, "
        "u = 0.99 vanishes below ε, while u = 1 and u at the bound γ^(1/T) keep every step's gradient "
        "between the two lines."
    ),
)
