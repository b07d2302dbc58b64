# %% [markdown]
# # 5. Reading the neurons
#
# In an IndRNN every neuron recurs only on itself, so each one can be read
# alone. The paper (Fig. 3 and 4) shows that on the adding problem the first
# layer's neurons fire at the marked positions, and that one neuron of the
# second layer keeps the running sum. Keeping *only* that neuron in layer 2,
# and refitting the output layer (one weight and one bias), still solves the
# task. Here we do the same, first on a network built by hand, then on one
# we train.

# %%
import tempfile

import numpy as np
from _common import FAST, OUT

from indrnn_np.experiments.neurons import (
    accumulator_scores,
    analyse_neurons,
    indrnn_states,
    neuron_report,
    planted_accumulator,
)
from indrnn_np.tasks.adding import adding_test_set
from indrnn_np.train import TrainConfig, train

# %% [markdown]
# ## A network built by hand
#
# Layer 1, neuron 0: $a = v + 10m - 10$ with $u = 0$. At a marker ($m = 1$)
# it outputs the value $v$; elsewhere $v - 10 < 0$ and ReLU gives 0.
# Layer 2, neuron 2: $a = h^{(1)}_0 + 1\cdot h_{t-1}$: with $u = 1$ it adds
# up what layer 1 lets through, i.e. the two marked numbers. Neuron 0 of
# layer 2 is a decoy that forgets ($u = 0.5$).

# %%
T = 60
model = planted_accumulator(T, N=4, neuron=2)
x, y, _ = adding_test_set(T, 500)
rep = analyse_neurons(model, T, x, y, out_dir=f"{OUT}/05_planted")
assert rep["neuron"] == 2 and rep["full_test_mse"] < 1e-8 and rep["one_neuron_test_mse"] < 1e-8

# %% [markdown]
# How the accumulator is found: for each layer-2 neuron, fit a straight line
# from its final state to the target over the test set; the neuron with the
# highest $R^2$ is the one whose state *is* (an affine function of) the sum.

# %%
h2 = indrnn_states(model, x)[1][1]  # layer 2, (T, B, N)
print("R² per layer-2 neuron:", np.round(accumulator_scores(h2[-1], y), 4))

# %% [markdown]
# ## A trained network
#
# Now train a 2-layer IndRNN and ask the same questions with
# `python -m indrnn_np neurons --run DIR`, here called as a function. The
# fast switch trains a small network on short sequences; the full setting
# trains the paper's 2 × 128 network at T = 100.

# %%
cfg = (
    TrainConfig(T=40, hidden=32, lr=2e-3, steps=1500, eval_every=250, test_size=500)
    if FAST
    else TrainConfig()
)
run_dir = tempfile.mkdtemp(prefix="tutorial05_")
summary = train(cfg, run_dir, progress=False)
rep = neuron_report(run_dir, out_dir=f"{OUT}/05_trained")
print(rep)
assert rep["full_test_mse"] < 0.05
# the one-neuron model keeps a large part of what the full model learned
print(f"one-neuron second layer: test MSE {rep['one_neuron_test_mse']:.4f} (baseline 0.167)")
assert rep["one_neuron_test_mse"] < 0.167
