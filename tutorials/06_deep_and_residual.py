# %% [markdown]
# # 6. Deep and residual IndRNN
#
# Neurons of one IndRNN layer never talk to each other; the next layer's
# input weights W mix them. So depth is how an IndRNN becomes expressive, and
# the Deep IndRNN paper stacks many layers, with batch normalisation and
# residual connections (Fig. 1):
#
# * basic: **Weight → BN → IndRec + ReLU**, repeated;
# * residual: $x_l = x_{l-1} + F(x_{l-1})$ with
#   $F$ = (BN → IndRec + ReLU → Weight) × 2 (pre-activation blocks).

# %%
import numpy as np

from indrnn_np.experiments.tutorial import FAST, check, check_gradient, save
from indrnn_np.gradcheck import check_model_gradients
from indrnn_np.nn import BatchNorm, build_indrnn
from indrnn_np.ops import batchnorm_forward, mse_backward, mse_forward

# %% [markdown]
# ## Batch norm over time, or frame-wise
#
# For classification the paper takes BN statistics over the batch **and**
# all time steps: one mean and variance per neuron. For language modelling it
# uses **frame-wise** BN: one mean and variance per step and neuron, with
# running statistics kept per time index.

# %%
rng = np.random.default_rng(0)
T, B, N = 5, 64, 3
# a signal whose scale grows over time, as a recurrent layer's output can
h = rng.standard_normal((T, B, N)) * np.arange(1, T + 1)[:, None, None]
gamma, beta = np.ones(N), np.zeros(N)
y_time, _, mean_t, var_t = batchnorm_forward(h, gamma, beta, axes=(0, 1))
y_frame, _, mean_f, var_f = batchnorm_forward(h, gamma, beta, axes=(1,))
print(
    "over time : statistics",
    mean_t.shape,
    " std of each step after BN:",
    np.round(y_time.std(axis=(1, 2)), 2),
)
print(
    "frame-wise: statistics",
    mean_f.shape,
    " std of each step after BN:",
    np.round(y_frame.std(axis=(1, 2)), 2),
)
assert mean_t.shape == (N,) and mean_f.shape == (T, N)
check(
    "frame-wise BN: every step's std = 1", y_frame.std(axis=(1, 2)), np.ones(T), atol=1e-3
)  # each step on its own
assert y_time.std(axis=(1, 2))[-1] > 2 * y_time.std(axis=(1, 2))[0]  # over time keeps the growth

bn = BatchNorm(N, mode="frame", T_max=T)
print("running statistics per time index:", bn.buffers["running_mean"].shape)

# %% [markdown]
# ## A residual block passes the gradient straight through
#
# For $y = x + F(x)$, $\partial J/\partial x = \partial J/\partial y + (\partial F/\partial x)^\top \partial J/\partial y$:
# the identity path hands the upstream gradient down unchanged, whatever F does.

# %%
model = build_indrnn(20, 2, 1, hidden=8, layers=3, residual=True, bn="time", seed=1, dtype=np.float64)
res = dict(model.layers)["res2"]
xr = rng.standard_normal((20, 4, 8))
yr, cache = res.forward(xr)
dy = rng.standard_normal(yr.shape)
dx, _ = res.backward(dy, cache)
dx_body, _ = res.body.backward(dy, cache)
check("residual block: dx - the body's dx = dy", dx - dx_body, dy, rtol=1e-12)  # the shortcut's share is dy

# %% [markdown]
# ## Every deep variant's gradients are checked
#
# Whole networks, float64, centered finite differences on every parameter:

# %%
for kw in (
    dict(layers=3),
    dict(layers=3, bn="time"),
    dict(layers=3, bn="frame"),
    dict(layers=3, residual=True, bn="time"),
):
    net = build_indrnn(6, 2, 1, hidden=4, seed=2, w_std=None, dtype=np.float64, **kw)
    for v in net.params.values():
        v += 0.1 * rng.standard_normal(v.shape)  # off the exact zeros of the initialisation
    xs, ys = rng.standard_normal((6, 3, 2)), rng.standard_normal((3, 1))
    # a parameter whose gradient is zero by construction (a bias that BN subtracts again) is no check
    results = [
        r
        for r in check_model_gradients(net, xs, ys, mse_forward, mse_backward)
        if np.max(np.abs(r.analytic)) > 1e-12
    ]
    for r in results:
        check_gradient(r, tol=1e-6, quiet=True)  # below 1e-6, and not a gradient of zeros
    print(
        f"{kw}: {len(results)} arrays checked, worst relative error {max(r.rel_error for r in results):.1e}"
    )

# %% [markdown]
# ## Why deep IndRNN trains: gradient norm by depth
#
# Take 12 layers at initialisation and push one batch of the adding problem
# through, then look at the gradient each layer's weight matrix receives.
# Without BN, every layer whose u is near 1 adds up its input over the
# sequence, and that growth compounds from layer to layer: the gradients
# come out enormous and uneven. Batch norm resets each layer's input to unit
# scale, so the gradients stay within a narrow band down the stack; the
# residual shortcut adds a direct path for the gradient to the bottom.

# %%
from indrnn_np.tasks.adding import adding_batch  # noqa: E402

depth = 6 if FAST else 12
T_seq = 50 if FAST else 200
xb, yb, _ = adding_batch(T_seq, 16, np.random.default_rng(3))
variants = {
    "plain": dict(bn="none", w_std=None),
    "BN over time": dict(bn="time"),
    "residual + BN": dict(bn="time", residual=True),
}
norms = {}
for name, kw in variants.items():
    net = build_indrnn(T_seq, 2, 1, hidden=32, layers=depth, seed=0, **kw)
    pred, caches = net.forward(xb)
    _, lc = mse_forward(pred, yb)
    _, grads = net.backward(mse_backward(1.0, lc), caches)
    keys = [k for k in net.params if k.endswith(".W") and not k.startswith("head")]  # bottom to top
    norms[name] = [float(np.linalg.norm(grads[k])) for k in keys]
    print(f"{name:14s}", " ".join(f"{v:.1e}" for v in norms[name]))
    assert all(np.isfinite(norms[name]))
assert max(norms["plain"]) > 10 * max(norms["BN over time"])

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6.5, 4))
for name, v in norms.items():
    ax.plot(range(1, len(v) + 1), v, marker="o", label=name)
ax.set_yscale("log")
ax.set_xlabel("weight matrix, bottom (input) to top")
ax.set_ylabel("gradient norm at initialisation")
ax.set_title(f"{depth}-layer IndRNN, adding problem, T = {T_seq}")
ax.legend()
save(
    fig,
    "06_gradient_by_depth.png",
    caption=(
        "The gradient norm of each weight matrix of a deep IndRNN at initialisation, input layer first, for "
        "each variant: how much of the loss's gradient reaches the bottom layers, and how batch norm and the"
        " residual shortcut keep it from growing or fading with depth."
    ),
)
