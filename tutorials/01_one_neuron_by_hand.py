# %% [markdown]
# # 1. One IndRNN neuron, by hand
#
# An IndRNN layer (Li et al., CVPR 2018) computes, for every time step t,
#
# $$h_t = \sigma(W x_t + u \odot h_{t-1} + b)$$
#
# where $u$ is a **vector**: neuron $n$ only sees its own past,
# $h_{n,t} = \sigma(w_n \cdot x_t + u_n h_{n,t-1} + b_n)$.
# We start with one neuron and numbers small enough to follow with a pencil.

# %%
import numpy as np

import indrnn_np
from indrnn_np.experiments.tutorial import check, save

# one neuron, two input features, three time steps, ReLU
w = np.array([0.5, -1.0])  # input weights of this neuron, (M,) = (2,)
u = 0.9  # its recurrent weight
b = 0.1  # its bias
xs = np.array([[1.0, 0.0], [0.0, 0.5], [2.0, 1.0]])  # x_1, x_2, x_3
h = 0.0  # h_0
for t, x_t in enumerate(xs, start=1):
    a = w @ x_t + u * h + b  # pre-activation
    h = max(a, 0.0)  # ReLU
    print(f"t={t}: a_t = {a:+.4f}, h_t = {h:.4f}")

# %% [markdown]
# By hand: $a_1 = 0.5 + 0 + 0.1 = 0.6$, $h_1 = 0.6$;
# $a_2 = -0.5 + 0.9 \cdot 0.6 + 0.1 = 0.14$, $h_2 = 0.14$;
# $a_3 = 1.0 - 1.0 + 0.9 \cdot 0.14 + 0.1 = 0.226$, $h_3 = 0.226$.

# %%
check("h_3: the loop against the pencil", h, 0.226, atol=1e-12)
h_by_hand = [0.6, 0.14, 0.226]

# %% [markdown]
# ## A layer: N neurons side by side
#
# Stack N such neurons: W becomes an (M, N) matrix, u and b vectors of N.
# The arrays are **time-major**: x is (T, B, M), h is (T, B, N), with B the batch.

# %%
T, B, M, N = 3, 1, 2, 3
W = np.array([[0.5, 0.2, -0.3], [-1.0, 0.4, 0.8]])  # (M, N); column 0 is our neuron
u_vec = np.array([0.9, 0.5, 1.0])  # (N,)
b_vec = np.array([0.1, 0.0, -0.2])  # (N,)
x = xs[:, None, :]  # (T, B, M)


def layer_by_hand(x, W, u, b):
    h_prev = np.zeros((x.shape[1], W.shape[1]))  # (B, N)
    hs = []
    for x_t in x:
        h_prev = np.maximum(x_t @ W + u * h_prev + b, 0.0)  # u * h_prev: element-wise, no matrix
        hs.append(h_prev)
    return np.stack(hs)  # (T, B, N)


h_layer = layer_by_hand(x, W, u_vec, b_vec)
print(h_layer[:, 0, :])
assert h_layer.shape == (T, B, N)
check("neuron 0 of the layer = the neuron above", h_layer[:, 0, 0], h_by_hand, rtol=1e-7)

# %% [markdown]
# **Independent** means: change one neuron's recurrent weight and only that
# neuron's trajectory changes.

# %%
u_changed = u_vec.copy()
u_changed[1] = -0.7
h_changed = layer_by_hand(x, W, u_changed, b_vec)
diff = np.abs(h_changed - h_layer)[:, 0, :].max(axis=0)
print("largest change per neuron:", diff)
assert diff[1] > 0 and diff[0] == 0 and diff[2] == 0

# %% [markdown]
# ## The same with `indrnn_forward`
#
# The library does exactly this, with the input projection for all steps done
# as one matrix product and the recurrence in a compiled loop.

# %%
h_lib, cache = indrnn_np.indrnn_forward(x, W, u_vec, b_vec, activation="relu", backend="numpy")
h_cpu, _ = indrnn_np.indrnn_forward(x, W, u_vec, b_vec, activation="relu", backend="cpu")
check("indrnn_forward (numpy) = the loop by hand", h_lib, h_layer, rtol=1e-12)
check("indrnn_forward (cpu) = the loop by hand", h_cpu, h_layer, rtol=1e-12)
print("indrnn_forward agrees with the loop by hand:", h_lib.shape)

# %% [markdown]
# **Exercise 1:** write this forward pass yourself, `indrnn_forward` of the exercises file:
# `python -m indrnn_np exercises ex` writes it, `python -m indrnn_np check ex/indrnn_exercises.py`
# grades it ([the exercises](exercises.md)).

# %% [markdown]
# ## The RNN it replaces
#
# A conventional RNN has a full recurrent matrix:
# $h_t = \sigma(W x_t + h_{t-1} U + b)$ with U of shape (N, N). Every neuron
# sees every neuron's past. With $U = \mathrm{diag}(u)$ it *is* an IndRNN;
# any off-diagonal entry entangles the neurons.

# %%
from indrnn_np.ops import rnn_forward  # noqa: E402

h_rnn_diag, _ = rnn_forward(x, W, np.diag(u_vec), b_vec, activation="relu")
check("an RNN with U = diag(u) = the IndRNN layer", h_rnn_diag, h_layer, rtol=1e-12)
U = np.diag(u_vec)
U[1, 0] = 0.5  # neuron 1's past now feeds neuron 0
h_rnn, _ = rnn_forward(x, W, U, b_vec, activation="relu")
print("neuron 0, IndRNN:", h_layer[:, 0, 0], " RNN with U[1,0]=0.5:", h_rnn[:, 0, 0])
assert not np.allclose(h_rnn[:, 0, 0], h_layer[:, 0, 0])

# %%
import matplotlib.pyplot as plt  # noqa: E402

rng = np.random.default_rng(0)
T_long = 60
x_long = rng.standard_normal((T_long, 1, M))
fig, ax = plt.subplots(figsize=(7, 3.5))
for n in range(N):
    h_n = indrnn_np.indrnn_forward(x_long, W, u_vec, b_vec, backend="numpy")[0][:, 0, n]
    ax.plot(h_n, label=f"neuron {n}, u = {u_vec[n]}")
ax.set_xlabel("t")
ax.set_ylabel("h_t")
ax.legend()
ax.set_title("Three independent neurons on the same input")
save(
    fig,
    "01_neurons.png",
    caption=(
        "The three neurons of the layer above on the same 60 random inputs: each follows its own u (0.9, "
        "0.5, 1.0) and never another neuron's state, so changing one u moves only that neuron's curve."
    ),
)
