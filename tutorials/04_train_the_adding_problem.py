# %% [markdown]
# # 4. Training on the adding problem
#
# The paper's first experiment: two input channels of length T, random
# numbers in (0, 1) and a marker channel with two ones, one in each half.
# The target is the sum of the two marked numbers. Predicting 1 every time
# gives an MSE of 1/6 ≈ 0.167: that is the line to beat.

# %%
import numpy as np

from indrnn_np.experiments.tutorial import FAST, check, output_dir, save
from indrnn_np.nn import Adam, indrnn_regressor
from indrnn_np.tasks.adding import BASELINE_MSE, adding_batch, adding_test_set
from indrnn_np.train import RunDir, TrainConfig, mse_train_step, train

x, y, markers = adding_batch(T=10, B=3, rng=np.random.default_rng(0))
print("x:", x.shape, " y:", y.shape)
print("sequence 0, values :", np.round(x[:, 0, 0], 2))
print("sequence 0, markers:", x[:, 0, 1])
print("target:", y[0, 0], "=", x[markers[0, 0], 0, 0], "+", x[markers[0, 1], 0, 0])
check(
    "the target = the sum of the two marked values", y[0, 0], x[markers[0, 0], 0, 0] + x[markers[0, 1], 0, 0]
)

# %%
tx, ty, _ = adding_test_set(T=100)
mse_of_ones = float(np.mean((ty - 1.0) ** 2))
print(f"MSE of always predicting 1 on the test set: {mse_of_ones:.4f} (theory {BASELINE_MSE:.4f})")
check("the MSE of always predicting 1 = its theory", mse_of_ones, BASELINE_MSE, atol=0.02)

# %% [markdown]
# ## The model
#
# Two IndRNN layers of 128 ReLU neurons and a dense output on the last step:
# 17,281 parameters, the paper's "≈ 17K". The last IndRNN layer's u start
# in $[0.5^{1/T}, 2^{1/T}]$, near 1, so that the information at the markers
# can survive until step T.

# %%
T = 100
model = indrnn_regressor(T)
print(model.num_params(), "parameters;", sorted(model.params)[:4], "...")
assert model.num_params() == 17281
u2 = model.params["indrnn2.u"]
print(f"layer 2 u in [{u2.min():.5f}, {u2.max():.5f}]")

# %% [markdown]
# ## The u constraint, in the optimizer
#
# After every Adam step the optimizer clamps each `*.u` into
# $[-2^{1/T}, 2^{1/T}]$. A deliberately huge learning rate cannot push u out:

# %%
opt = Adam(model.params, lr=0.5, u_max=2 ** (1 / T))
for _ in range(3):
    xb, yb, _ = adding_batch(T, 16, np.random.default_rng(1))
    mse_train_step(model, opt, xb, yb, clip_value=10.0)
print(
    "max |u| after 3 reckless steps:",
    max(np.abs(v).max() for k, v in model.params.items() if k.endswith(".u")),
)
assert all(np.abs(v).max() <= 2 ** (1 / T) for k, v in model.params.items() if k.endswith(".u"))

# %% [markdown]
# ## A short run
#
# The training loop (`python -m indrnn_np train adding` on the command line)
# with fresh data every step, evaluation on the fixed test set, metrics and
# checkpoints. The full setting below is the command's default (T = 100,
# about 40 s on 2 cores); the fast switch uses a shorter sequence, a smaller
# network and a larger learning rate.

# %%
if FAST:
    cfg = TrainConfig(T=20, hidden=32, lr=5e-3, steps=800, eval_every=100, test_size=300)
else:
    cfg = TrainConfig()  # T=100, 2 x 128, Adam 2e-4, 3000 steps
run_dir = output_dir("04_run", fresh=True)  # in tutorial_output/ or $INDRNN_TUTORIAL_OUT
summary = train(cfg, run_dir, progress=False)
print(f"test MSE {summary['test_mse']:.5f} after {summary['steps']} steps ({summary['wall_s']:.1f} s)")
assert summary["test_mse"] < 0.05 < BASELINE_MSE

# %%
import matplotlib.pyplot as plt  # noqa: E402

m = RunDir(run_dir).read_metrics()
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(m["step"], m["test_mse"], marker="o")
ax.axhline(BASELINE_MSE, ls="--", color="gray", label="baseline 0.167")
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("test MSE")
ax.legend()
save(
    fig,
    "04_curve.png",
    caption=(
        "Test MSE of the 2-layer IndRNN on the adding problem against the training step: it starts at the "
        "0.167 of always predicting the mean (dashed) and falls below it as the network learns to add the "
        "two marked numbers."
    ),
)
