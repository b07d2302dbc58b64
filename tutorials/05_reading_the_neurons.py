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
import numpy as np

from indrnn_np.experiments.neurons import (
    accumulator_scores,
    analyse_neurons,
    indrnn_states,
    neuron_report,
    planted_accumulator,
)
from indrnn_np.experiments.tutorial import FAST, check, output_dir, show_image
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
planted_dir = output_dir("05_planted", fresh=True)  # in tutorial_output/ or $INDRNN_TUTORIAL_OUT
rep = analyse_neurons(model, T, x, y, out_dir=planted_dir)
assert rep["neuron"] == 2 and rep["full_test_mse"] < 1e-8 and rep["one_neuron_test_mse"] < 1e-8

# %% [markdown]
# The analysis draws every neuron of each layer over one test sequence (the
# red lines are the marked steps): layer 1's marker neuron passes the value
# through at the marks only; layer 2's neuron 2 climbs at each mark and holds
# the running sum between them, while the decoy forgets.

# %%
show_image(
    planted_dir / "neurons_layer1.png",
    caption=(
        "Layer 1 of the hand-built network over one test sequence (red: the marked steps): the marker neuron"
        " passes the value through at the two marks only and is 0 elsewhere."
    ),
)
show_image(
    planted_dir / "neurons_layer2.png",
    caption=(
        "Layer 2 of the hand-built network: the accumulator (u = 1) climbs at each mark and holds the "
        "running sum between them, against the running sum of the marked numbers (dotted); the decoy (u = "
        "0.5) forgets."
    ),
)

# %% [markdown]
# How the accumulator is found: for each layer-2 neuron, fit a straight line
# from its final state to the target over the test set; the neuron with the
# highest $R^2$ is the one whose state *is* (an affine function of) the sum.

# %%
h2 = indrnn_states(model, x)[1][1]  # layer 2, (T, B, N)
print("R² per layer-2 neuron:", np.round(accumulator_scores(h2[-1], y), 4))
# the accumulator's final state is the sum itself (float32: to a few units of rounding)
check("layer 2's neuron 2 at the last step = the sum of the marked numbers", h2[-1, :, 2], y[:, 0], rtol=1e-5)

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
run_dir = output_dir("05_run", fresh=True)
summary = train(cfg, run_dir, progress=False)
rep = neuron_report(run_dir)  # the figures go into the run folder
print(rep)
assert rep["full_test_mse"] < 0.05
# the one-neuron model keeps a large part of what the full model learned
print(f"one-neuron second layer: test MSE {rep['one_neuron_test_mse']:.4f} (baseline 0.167)")
assert rep["one_neuron_test_mse"] < 0.167

# %% [markdown]
# The trained network's neurons, drawn the same way: in layer 1, neurons that
# fire only at the marks; in layer 2, the accumulator's trace beside the
# running sum of the marked numbers.

# %%
show_image(
    f"{run_dir}/neurons_layer1.png",
    caption=(
        "Layer 1 of the trained network over one test sequence (red: the marked steps): the neurons that "
        "respond at the marks are the ones that let the marked numbers through."
    ),
)
show_image(
    f"{run_dir}/neurons_layer2.png",
    caption=(
        "Layer 2 of the trained network: all its neurons over the sequence, and the one whose final state "
        "predicts the target best, the accumulator, against the running sum of the marked numbers (dotted)."
    ),
)
