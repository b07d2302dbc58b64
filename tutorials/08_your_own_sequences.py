# %% [markdown]
# # 8. Your own sequences
#
# The tutorials so far trained on the paper's tasks, where every sequence has
# the same length T. Real data rarely does: recordings, sentences and
# sessions come in all lengths. This tutorial takes a data set of
# variable-length sequences of our own making through everything a user
# needs:
#
# 1. padding and lengths, and what the layer does with them;
# 2. a bidirectional IndRNN, and its gradients checked with lengths;
# 3. classification with `IndRNNClassifier` (scikit-learn's conventions), one
#    direction and two, with a run folder that a second `fit` resumes;
# 4. a target at every step with `IndRNNRegressor`;
# 5. saving, loading, and the same data through the command line
#    (`train arrays`, `predict`);
# 6. scikit-learn's model selection on top.
#
# Everything the tutorial writes (data files, runs, saved models, figures)
# goes into one folder: `tutorial_output/` in the working directory, or
# `$INDRNN_TUTORIAL_OUT`.

# %%
import os

import numpy as np

from indrnn_np.experiments.tutorial import FAST, check, check_gradient, output_dir, save
from indrnn_np.tasks.arrays import marker_sequences, pad_sequences

work = str(output_dir("08_work", fresh=True))
print("files of this tutorial go to", work)

# %% [markdown]
# ## A variable-length data set
#
# `marker_sequences` draws sequences of random lengths, uniformly from
# `min_length` to `max_length`, each of two features: noise in feature 0 and
# zeros in feature 1, except at two marked steps where feature 1 is 1 and
# feature 0 is ±1. One mark is in the first 3 steps, the other in the second
# half. The class is $2\,[s_1 > 0] + [s_2 > 0]$ for the two signs: four
# classes, 25 % by chance. Reading forward, a model must remember the first
# sign for up to `max_length` steps; reading backward, the second.
#
# We use lengths 10 to 80, a spread of 8×, and a separate test set.

# %%
n_train, n_test = (600, 300) if FAST else (2000, 500)
X, y = marker_sequences(n_train, min_length=10, max_length=80, seed=0)
X_test, y_test = marker_sequences(n_test, min_length=10, max_length=80, seed=1)
lengths = np.array([len(s) for s in X])
print(f"{len(X)} training sequences, {len(X_test)} test; features per step: {X[0].shape[1]}")
print(f"lengths {lengths.min()}..{lengths.max()} (spread {lengths.max() / lengths.min():.1f}x)")
print("classes and their counts:", np.bincount(y))
s = X[0]
marked = np.flatnonzero(s[:, 1])
print(f"sequence 0: {len(s)} steps, marks at steps {marked}, signs {s[marked, 0]}, class {y[0]}")
assert lengths.max() >= 5 * lengths.min()
assert y[0] == 2 * (s[marked[0], 0] > 0) + (s[marked[1], 0] > 0)

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(lengths, bins=np.arange(9.5, 81.5, 5), edgecolor="white")
ax.set_xlabel("sequence length (steps)")
ax.set_ylabel("sequences")
ax.set_title("training set: lengths 10 to 80")
save(
    fig,
    "08_lengths.png",
    caption=(
        "How long the training sequences are: lengths from 10 to 80 steps, so a batch is padded to its "
        "longest and each sequence's own length is passed along."
    ),
)

# %% [markdown]
# ## Padding and lengths
#
# A batch is one array, so shorter sequences are padded with zeros to the
# longest, and an integer array `lengths` says how many steps of each are
# real. `pad_sequences` does it, samples first as scikit-learn and PyTorch's
# `batch_first`: x `(n, T, M)`. The layers work time-major, `(T, B, M)`, so
# inside, x is transposed.

# %%
x_pad, lens = pad_sequences(X[:5])
print("x:", x_pad.shape, " lengths:", lens)
assert x_pad.shape == (5, lens.max(), 2)
assert np.all(x_pad[1, lens[1] :] == 0)  # zeros in the padding
check("sequence 1's real steps in the padded array = X[1]", x_pad[1, : lens[1]], X[1], rtol=0)

x_tm = np.ascontiguousarray(x_pad.transpose(1, 0, 2))  # time-major (T, B, M)
print("time-major:", x_tm.shape)

# %% [markdown]
# `indrnn_forward(x, W, u, b, lengths=...)` runs the recurrence
# $h_t = \sigma(W x_t + u \odot h_{t-1} + b)$ on the real steps only: the
# state is not advanced in the padding, and h is 0 there. So each sequence's
# real steps come out exactly as if it had been run alone, unpadded, and its
# final state is at its own last step, `h[lengths[b] - 1, b]`
# (`final_states`), not at `h[-1]`.

# %%
from indrnn_np import final_states, indrnn_forward  # noqa: E402

rng = np.random.default_rng(0)
N = 4
W = rng.standard_normal((2, N)).astype(np.float32)
u = rng.uniform(0.5, 1.0, N).astype(np.float32)
b = np.full(N, 0.1, np.float32)
h, _ = indrnn_forward(x_tm, W, u, b, lengths=lens)
print("h:", h.shape)
for i in range(len(lens)):
    assert np.all(h[lens[i] :, i] == 0)  # nothing in the padding
    h_alone, _ = indrnn_forward(np.ascontiguousarray(x_tm[: lens[i], i : i + 1]), W, u, b)
    check(
        f"sequence {i} in the padded batch = run alone", h[: lens[i], i], h_alone[:, 0], rtol=1e-6, atol=1e-6
    )
last = final_states(h, lens)
check("final_states = h at each sequence's last real step", last, h[lens - 1, np.arange(len(lens))], rtol=0)
print("final state of sequence 1 (step", lens[1] - 1, "):", np.round(last[1], 3))

# %% [markdown]
# ## A bidirectional IndRNN
#
# A bidirectional layer runs two IndRNNs: one reads each sequence forward,
# the other reads its **real** steps in reverse. Reversing a padded array as a
# whole (`x[::-1]`) would put the padding first; `reverse_padded` reverses
# each sequence's own steps and keeps the padding at the end:

# %%
from indrnn_np.ops import reverse_padded  # noqa: E402

demo = np.zeros((5, 2, 1))  # two sequences, time-major: steps 1..5, and 1..3 then padding
demo[:, 0, 0] = [1, 2, 3, 4, 5]
demo[:3, 1, 0] = [1, 2, 3]
demo_lens = np.array([5, 3])
rev = reverse_padded(demo, demo_lens)
print("sequence 0 (5 steps) reversed:", rev[:, 0, 0])
print("sequence 1 (3 steps) reversed:", rev[:, 1, 0])
check("reverse_padded keeps the padding at the end", rev[:, 1, 0], [3, 2, 1, 0, 0], rtol=0)

# %% [markdown]
# The backward direction's output is reversed back, so that at every step t
# both halves belong to step t, and the two are concatenated (2N features).
# Which step holds each direction's summary of the whole sequence? The
# forward half's is at the sequence's last real step; the backward half's is
# at **step 0**, where it has read everything. A last-step head on a
# bidirectional layer therefore reads the two halves at different steps:
# `LastStep(split=N)`. `build_indrnn(..., bidirectional=True)` makes every
# recurrent layer such a pair and puts that head on top.

# %%
from indrnn_np.nn import Bidirectional, LastStep, build_indrnn  # noqa: E402

net = build_indrnn(int(lens.max()), 2, 4, hidden=N, layers=1, bidirectional=True, seed=0)
print([(name, type(layer).__name__) for name, layer in net.layers])
bi = dict(net.layers)["indrnn1"]
assert isinstance(bi, Bidirectional)
print("its parameters:", sorted(k for k in net.params if k.startswith("indrnn1")))

y_bi, _ = bi.forward(x_tm, train=False, lengths=lens)
print("bidirectional output:", y_bi.shape, "(T, B, 2N)")
fwd_layer, bwd_layer = bi.directions
i = 1  # one sequence, run by hand: forward as it is, backward on its steps reversed
seq = np.ascontiguousarray(x_tm[: lens[i], i : i + 1])
h_f, _ = fwd_layer.forward(seq, train=False)
h_b, _ = bwd_layer.forward(np.ascontiguousarray(seq[::-1]), train=False)
check(
    "the forward half at the last real step = its final state",
    y_bi[lens[i] - 1, i, :N],
    h_f[-1, 0],
    rtol=1e-5,
    atol=1e-6,
)
check("the backward half at step 0 = its final state", y_bi[0, i, N:], h_b[-1, 0], rtol=1e-5, atol=1e-6)

head_in, _ = LastStep(split=N).forward(y_bi, lengths=lens)
check(
    "LastStep(split=N) reads both final states",
    head_in[i],
    np.concatenate([h_f[-1, 0], h_b[-1, 0]]),
    rtol=1e-5,
    atol=1e-6,
)
print("LastStep(split=N) reads both:", head_in.shape)

# %% [markdown]
# ### Gradients checked, with lengths
#
# The backward pass of all this (the reversal, the two last steps, the
# padding's ignored gradients) is checked against centered finite
# differences of the loss, in float64, on a padded batch with lengths 1 to 6.
# `activation="tanh"` keeps the loss smooth: ReLU's kink at 0 can sit between
# the two points of a finite difference and spoil the check for no fault of
# the code.

# %%
from indrnn_np.gradcheck import check_model_gradients  # noqa: E402
from indrnn_np.ops import softmax_cross_entropy_backward, softmax_cross_entropy_forward  # noqa: E402

T_gc, B_gc = 6, 4
gc_net = build_indrnn(
    T_gc,
    2,
    3,
    hidden=3,
    layers=2,
    bidirectional=True,
    activation="tanh",
    w_std=None,
    seed=1,
    dtype=np.float64,
)
xg = rng.standard_normal((T_gc, B_gc, 2))
gl = np.array([6, 2, 4, 1])
yg = np.array([0, 2, 1, 2])
results = check_model_gradients(
    gc_net, xg, yg, softmax_cross_entropy_forward, softmax_cross_entropy_backward, lengths=gl
)
for r in results:
    check_gradient(r, tol=1e-6)
dx = next(r for r in results if r.name == "x").analytic
assert np.all(dx[1:, 3] == 0) and np.all(dx[2:, 1] == 0)  # the padding gets no gradient

# %% [markdown]
# ## Classification with `IndRNNClassifier`
#
# `IndRNNClassifier` wraps all of the above in scikit-learn's conventions:
# `fit(X, y)` takes a list of `(T_i, M)` arrays (or a padded `(n, T, M)` array
# with `lengths=`), pads them, builds the network (`build_indrnn`), and trains
# it with Adam, u kept within $\gamma^{1/T}$ for T the longest sequence. Its
# keywords are the `train` command's options. It holds out a fifth of the
# training sequences (`validation_fraction`) for the error that `summary_`
# reports. The test set here is separate.
#
# One direction against two, with the same number of steps. A bidirectional
# layer of N neurons per direction has twice the parameters of its
# one-direction twin, and the layer above it reads 2N features: so, besides
# the one-direction network of the same width, a one-direction network of
# width 2N, which has exactly as many parameters as the bidirectional one.
# With `run_dir`, each run folder keeps the checkpoints, `metrics.csv`,
# `summary.json` and `curve.png`.

# %%
from indrnn_np import IndRNNClassifier  # noqa: E402

hidden, steps = (32, 150) if FAST else (64, 300)
variants = {  # name: (width, bidirectional)
    f"one direction, {hidden}": (hidden, False),
    f"one direction, {2 * hidden}": (2 * hidden, False),
    f"bidirectional, {hidden}": (hidden, True),
}
clfs, accuracy = {}, {}
for k, (name, (width, bidirectional)) in enumerate(variants.items()):
    clf = IndRNNClassifier(
        hidden=width,
        steps=steps,
        eval_every=steps // 5,
        bidirectional=bidirectional,
        random_state=0,
        run_dir=os.path.join(work, f"run{k}"),
    )
    clf.fit(X, y)
    clfs[name], accuracy[name] = clf, clf.score(X_test, y_test)
    print(
        f"{name:19s}: {clf.model_.num_params():5d} parameters, held-out error "
        f"{clf.summary_['test_error']:.3f} after {clf.summary_['steps']} steps "
        f"({clf.summary_['wall_s']:.1f} s); test accuracy {accuracy[name]:.3f}"
    )
bi_name = f"bidirectional, {hidden}"
assert clfs[bi_name].model_.num_params() == clfs[f"one direction, {2 * hidden}"].model_.num_params()
assert accuracy[bi_name] > 0.5  # chance is 0.25
if not FAST:
    assert accuracy[bi_name] > 0.9

# %% [markdown]
# The bidirectional network has the easier job: at the last step the forward
# direction has just seen the second mark, and at step 0 the backward
# direction has just seen the first. Neither has to remember a sign across
# the whole sequence. Width helps a one-direction network too (more neurons
# whose u sits near 1, to carry the first sign), but within the same
# parameters and steps, reading both ways learns faster here.
#
# `predict` gives labels, `predict_proba` a probability per class:

# %%
clf = clfs[bi_name]
print("classes:", clf.classes_)
print("predicted:", clf.predict(X_test[:8]))
print("true     :", y_test[:8])
proba = clf.predict_proba(X_test[:3])
print("probabilities of the first 3:\n", np.round(proba, 3))
check("each row of predict_proba sums to 1", proba.sum(axis=1), np.ones(3), rtol=1e-5)
check(
    "predict = the most probable class", clf.classes_[proba.argmax(axis=1)], clf.predict(X_test[:3]), rtol=0
)
print("summary_ keys:", sorted(clf.summary_))

# %%
from indrnn_np.train import RunDir  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3.5))
for name in clfs:
    m = RunDir(clfs[name].run_dir).read_metrics()
    ax.plot(m["step"], m["test_error"], marker="o", label=name)
ax.axhline(0.75, ls="--", color="gray", label="chance")
ax.set_xlabel("step")
ax.set_ylabel("held-out error")
ax.legend()
save(
    fig,
    "08_uni_vs_bi.png",
    caption=(
        "Held-out error against the training step of the one-direction and the bidirectional classifiers "
        "with the same number of parameters; dashed: chance (0.75, four classes)."
    ),
)
print("the bidirectional run folder:", sorted(os.listdir(clf.run_dir)))

# %% [markdown]
# ### Resuming a run
#
# A second `fit` with the same `run_dir`, data and keywords, and a larger
# `steps`, picks up the run from its last checkpoint instead of starting
# over: its metrics go on from where they stopped.

# %%
clf.set_params(steps=2 * steps)
clf.fit(X, y)
m = RunDir(clf.run_dir).read_metrics()
print("evaluated at steps:", m["step"])
print(f"after {clf.summary_['steps']} steps: test accuracy {clf.score(X_test, y_test):.3f}")
assert clf.summary_["steps"] == 2 * steps and m["step"][-1] == 2 * steps
assert len(m["step"]) == len(set(m["step"]))  # each step once: resumed, not restarted

# %% [markdown]
# ## A target at every step: `IndRNNRegressor`
#
# Per-step targets are a list of `(T_i, K)` arrays, one per sequence. Here
# each sequence is a random walk's steps, and the target at step t is the
# walk's position so far (the cumulative sum, scaled). The network outputs a
# value at every step (a dense head on every step, not only the last), the
# loss is the MSE over the real steps, and `score` is R² over them.

# %%
from indrnn_np import IndRNNRegressor  # noqa: E402


def random_walks(n, seed):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((int(rng.integers(10, 81)), 1)).astype(np.float32) for _ in range(n)]
    return xs, [np.cumsum(x, axis=0) / 5 for x in xs]


Xr, Yr = random_walks(n_train // 2, seed=2)
Xr_test, Yr_test = random_walks(200, seed=3)
reg = IndRNNRegressor(hidden=32, steps=200 if FAST else 600, random_state=0)
reg.fit(Xr, Yr)
r2 = reg.score(Xr_test, Yr_test)
pred = reg.predict(Xr_test[:1])[0]  # a list in, a list of (T_i, 1) arrays out
print(f"test R² {r2:.3f}")
print("target   :", np.round(Yr_test[0][:8, 0], 2))
print("predicted:", np.round(pred[:8, 0], 2))
assert pred.shape == Yr_test[0].shape
assert r2 > 0.9

# %% [markdown]
# ## Saving and loading
#
# `save` writes one `.npz` file (the keywords, the classes and the network's
# arrays); `load` gives back an estimator that predicts the same.

# %%
path = clf.save(os.path.join(work, "markers_bi.npz"))
loaded = IndRNNClassifier.load(path)
print("saved to", path, f"({os.path.getsize(path) / 1024:.0f} KiB)")
check("the loaded classifier's labels = the saved one's", loaded.predict(X_test), clf.predict(X_test), rtol=0)
check(
    "the loaded classifier's probabilities = the saved one's",
    loaded.predict_proba(X_test),
    clf.predict_proba(X_test),
    rtol=1e-6,
)

# %% [markdown]
# ## The same data from the command line
#
# `python -m indrnn_np train arrays` trains on an `.npz` file: `x` `(n, T, M)`
# padded, samples first, `y`, `lengths`, and optionally a test set `x_test`,
# `y_test`, `lengths_test` (without it a fifth of the sequences is held out).
# Integer `y` means classification. `predict` writes a run's predictions for
# the `x` (and `lengths`) of another file.
#
# The same network and steps as the bidirectional estimator above, but not
# the same numbers: with `x_test` in the file, the command trains on every
# training sequence, where the estimator held a fifth of them out for
# `summary_`. The run's own test error and `predict`'s labels must agree,
# though: the same test set through the same network.

# %%
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

x_all, l_all = pad_sequences(X)
xt_all, lt_all = pad_sequences(X_test)
data = os.path.join(work, "markers.npz")
np.savez(data, x=x_all, y=y, lengths=l_all, x_test=xt_all, y_test=y_test, lengths_test=lt_all)
new = os.path.join(work, "new.npz")
np.savez(new, x=xt_all, lengths=lt_all)  # sequences to predict: no labels needed
run = os.path.join(work, "cli_run")
cmd = [sys.executable, "-m", "indrnn_np", "train", "arrays", "--data", data, "--out", run, "--quiet"]
cmd += ["--hidden", str(hidden), "--steps", str(steps), "--eval-every", str(steps // 5), "--bidirectional"]
print("$ python", " ".join(cmd[1:]).replace(work + os.sep, ""))
out = subprocess.run(cmd, capture_output=True, text=True, check=True)
print(out.stdout.strip()[-500:])
pred_file = os.path.join(work, "pred.npy")
cmd = [sys.executable, "-m", "indrnn_np", "predict", "--run", run, "--data", new, "--out", pred_file]
print("$ python", " ".join(cmd[1:]).replace(work + os.sep, ""))
subprocess.run(cmd, capture_output=True, text=True, check=True)

labels = np.load(pred_file)
cli_accuracy = float(np.mean(labels == y_test))
with open(os.path.join(run, "summary.json")) as f:
    run_error = json.load(f)["test_error"]
print(f"command line: predicted {labels.shape} labels, test accuracy {cli_accuracy:.3f}")
print(f"the run's own test error {run_error:.3f}; the estimator's accuracy {accuracy[bi_name]:.3f}")
check(
    "the command line's accuracy = 1 - the run's test error", cli_accuracy, 1 - run_error, atol=1e-9
)  # one test set, one network
assert cli_accuracy > 0.5

# %% [markdown]
# ## With scikit-learn
#
# The estimators are scikit-learn estimators when it is installed
# (`pip install "indrnn-np[sklearn]"`): `clone`, `cross_val_score` and
# `GridSearchCV` work on them. Give variable-length X as a list: the
# splitters index it. A small search over two hidden sizes, on a subset:

# %%
try:
    from sklearn.model_selection import GridSearchCV
except ImportError:
    GridSearchCV = None
    print("scikit-learn is not installed: skipping (pip install 'indrnn-np[sklearn]')")

if GridSearchCV is not None:
    subset = 200 if FAST else 600
    search = GridSearchCV(
        IndRNNClassifier(steps=100 if FAST else 300, bidirectional=True, random_state=0),
        {"hidden": [8, 32]},
        cv=2 if FAST else 3,
    )
    search.fit(X[:subset], y[:subset])
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        print(f"{params}: mean cross-validated accuracy {score:.3f}")
    print("best:", search.best_params_, f"test accuracy {search.score(X_test, y_test):.3f}")
    assert search.best_params_["hidden"] in (8, 32)
