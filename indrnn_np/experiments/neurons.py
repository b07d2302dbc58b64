"""Reading the neurons of a trained 2-layer IndRNN on the adding problem (paper Fig. 3 and 4).

Because every IndRNN neuron recurs only on itself, each one can be read on
its own: layer-1 neurons fire at the marked positions, and in layer 2 one
neuron carries the running sum. The paper keeps only that layer-2 neuron,
fine-tunes the output layer (one weight and one bias), and the task is still
solved. :func:`neuron_report` does the same for a run folder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import write_text
from ..kernels import ACTIVATIONS, reference
from ..nn import Dense, IndRNN, LastStep, Sequential, indrnn_regressor
from ..ops import mse_backward, mse_forward
from ..report import check_writable_dir, check_writable_file, make_dir
from ..tasks.adding import adding_batch
from ..train import RunDir, load_model
from ..train.memory import (
    MemoryEstimate,
    Phase,
    check_fits,
    config_levers,
    config_phases,
    rehearse,
    run_label,
)

#: The files :func:`analyse_neurons` writes.
NEURON_FILES = ("neurons_layer1.png", "neurons_layer2.png", "neurons.json")


class AnalysisError(UserError):
    """The run cannot be analysed this way (wrong kind of model or task)."""


def load_run(run_dir):
    """``(model, cfg, task)`` of a run folder's checkpoint, on the host (a run trained on the GPU too:
    the analysis reads and slices the arrays with NumPy)."""
    return load_model(RunDir(run_dir), backend="cpu")[:3]


def indrnn_states(model: Sequential, x) -> list[tuple[str, np.ndarray]]:
    """Run ``model`` in inference mode and keep the output of every IndRNN layer: ``[(name, h (T, B, N))]``."""
    states = []
    for name, layer in model.layers:
        x, _ = layer.forward(x, train=False)
        if isinstance(layer, IndRNN):
            states.append((name, x))
    return states


def accumulator_scores(h_last, y) -> np.ndarray:
    """R² of predicting the target from each neuron's final state alone (a line fitted per neuron).

    Parameters
    ----------
    h_last : ndarray, (B, N)
        Final states of the layer's neurons over B test sequences.
    y : ndarray, (B, 1) or (B,)

    Returns
    -------
    ndarray, (N,)
        1 for a neuron whose final state is an exact affine function of the
        sum; 0 for one that says nothing about it (or is constant).
    """
    y = np.asarray(y, np.float64).reshape(-1)
    h = np.asarray(h_last, np.float64)
    hc = h - h.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((hc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, (hc * yc[:, None]).sum(axis=0) / denom, 0.0)
    return r**2


def marker_sums(h, marked) -> np.ndarray:
    """Per-neuron sums that :func:`marker_neurons` reads; they add up over chunks of sequences.

    Parameters
    ----------
    h : ndarray, (T, B, N)
        A layer's activations (ReLU: >= 0).
    marked : ndarray, (T, B)
        True at the marked steps of each sequence.

    Returns
    -------
    ndarray, (3, N), float64
        Activation summed over the marked steps, activation summed over all
        steps, and the number of marked steps at which the neuron is active (h > 0).
    """
    h = np.asarray(h)
    marked = np.asarray(marked, bool)
    if h.ndim != 3 or marked.shape != h.shape[:2]:
        raise ValueError(f"need h (T, B, N) and marked (T, B); got {h.shape} and {marked.shape}")
    at = h[marked]  # (marked steps, N)
    return np.stack(
        [at.sum(axis=0, dtype=np.float64), h.sum(axis=(0, 1), dtype=np.float64), (at > 0).sum(axis=0)]
    )


def marker_neurons(sums, n_marked: int, *, share: float = 0.99, fire: float = 0.9) -> np.ndarray:
    """The neurons that fire at the marked steps and (almost) nowhere else: the paper's Fig. 3, layer 1.

    A neuron qualifies when at least ``share`` of its activation over all
    steps falls on the marked steps and it is active at at least ``fire`` of
    them (a marked number near 0 may leave it off).

    Parameters
    ----------
    sums : ndarray, (3, N)
        :func:`marker_sums`, added over all test sequences.
    n_marked : int
        The number of marked steps those sums cover (2 per sequence).

    Returns
    -------
    ndarray of int
        The qualifying neurons, the one with the most activation at the markers first.
    """
    at, total, active = np.asarray(sums, np.float64)
    if n_marked < 1:
        raise ValueError(f"n_marked must be >= 1; got {n_marked}")
    found = np.flatnonzero((total > 0) & (at >= share * total) & (active >= fire * n_marked))
    return found[np.argsort(-at[found], kind="stable")]


def _check_two_layer(cfg) -> None:
    """AnalysisError unless ``cfg`` builds the basic 2-layer IndRNN on the adding problem (read from the
    run's configuration, before its model is loaded)."""
    layers = len(cfg.layer_widths()) if cfg.dense_blocks is None else None
    if (
        cfg.model != "indrnn"
        or cfg.task != "adding"
        or layers != 2
        or cfg.bn != "none"
        or cfg.residual
        or cfg.dense_blocks is not None
    ):
        raise AnalysisError(
            "the neuron analysis needs a run of the basic 2-layer IndRNN on the adding problem "
            f"(model indrnn, --layers 2, no BN, not residual); got task {cfg.task}, model {cfg.model}, "
            f"{layers or 'dense'} layers, bn {cfg.bn}, residual {cfg.residual}"
        )


def check_seq(seq, test_size: int) -> int:
    """``seq`` if it is a test sequence of a set of ``test_size`` (0 to test_size - 1), else AnalysisError."""
    if not isinstance(seq, int | np.integer) or isinstance(seq, bool) or not 0 <= seq < test_size:
        raise AnalysisError(
            f"seq must be a sequence of the run's test set, 0 to {test_size - 1}; got {seq!r}"
        )
    return int(seq)


def pre_activation_gradients(model: Sequential, x, y) -> dict[str, np.ndarray]:
    """∂J/∂a_t of every IndRNN layer for the MSE loss on (x, y): the gradient at each step's pre-activation.

    ``a_t = W x_t + u ⊙ h_{t-1} + b``; ∂J/∂a_t is what backpropagation through
    time carries from step to step (``∂J/∂a_{t-1} = σ'(a_{t-1}) ⊙ (u ⊙ ∂J/∂a_t
    + ...)``), and what the official Lasagne code's ``grad_clipping=10``
    clamps at every step, where this project's ``--clip-value`` clamps the
    parameters' summed gradients instead. Read with the NumPy reference
    recurrence, on the host.

    Parameters
    ----------
    model : Sequential
        On the host, ending in a regression output (B, 1).
    x : ndarray, (T, B, M)
    y : ndarray, (B, 1)

    Returns
    -------
    dict
        IndRNN layer name -> ∂J/∂a, (T, B, N), in the model's dtype.
    """
    pred, caches = model.forward(x, train=True)
    dout = mse_backward(1.0, mse_forward(pred, y)[1])
    out = {}
    for (name, layer), cache in zip(reversed(model.layers), reversed(caches), strict=True):
        if isinstance(layer, IndRNN):
            da = np.empty_like(cache.h)
            parts = [np.empty_like(cache.h0) for _ in range(3)]  # dh0, du, db per column
            reference.recurrence_backward(
                np.ascontiguousarray(dout),
                cache.h,
                cache.u,
                cache.h0,
                ACTIVATIONS[cache.activation],
                da,
                *parts,
            )
            out[name] = da
        dout, _ = layer.backward(dout, cache)
    return dict(reversed(out.items()))


def one_neuron_model(model: Sequential, neuron: int) -> Sequential:
    """The paper's reduced network: layer 1 as trained, layer 2 cut to ``neuron``, a 1-input output layer.

    The output layer starts from the trained head's weight for that neuron and its bias.
    """
    l1 = model.layers[0][1]
    l2 = model.layers[1][1]
    head = dict(model.layers)["head"]
    p = l2.params
    small = IndRNN.from_arrays(
        p["W"][:, [neuron]], p["u"][[neuron]], p["b"][[neuron]], activation=l2.activation, backend=l2.backend
    )
    out = Dense.from_arrays(head.params["W"][[neuron], :], head.params["b"])
    return Sequential([("indrnn1", l1), ("indrnn2", small), ("last", LastStep()), ("head", out)])


#: Sequences per forward pass of the analysis: at T = 5000 one pass over 250 sequences keeps a few
#: (T, 250, 128) float32 arrays, about 0.6 GB each, instead of 2.6 GB for the whole test set.
CHUNK = 250


def _chunks(B: int):
    return [slice(i, min(i + CHUNK, B)) for i in range(0, B, CHUNK)]


def _predict(model: Sequential, x) -> np.ndarray:
    """Inference-mode output of ``model`` on x (T, B, M), :data:`CHUNK` sequences at a time."""
    return np.concatenate([model.forward(x[:, c], train=False)[0] for c in _chunks(x.shape[1])])


def fine_tune_output(model: Sequential, x, y) -> None:
    """Fit only the output layer (weight and bias) by least squares on (x, y): the MSE optimum, in one step."""
    parts = []
    for c in _chunks(x.shape[1]):
        h = x[:, c]
        for name, layer in model.layers:
            if name == "head":
                break
            h, _ = layer.forward(h, train=False)  # (B, 1): the one neuron's final state
        parts.append(h)
    h = np.concatenate(parts)
    A = np.concatenate([h.astype(np.float64), np.ones((h.shape[0], 1))], axis=1)  # (B, 2)
    coef, *_ = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)
    head = dict(model.layers)["head"]
    head.params["W"][...] = coef[:-1]
    head.params["b"][...] = coef[-1]


def planted_accumulator(T: int, N: int = 4, neuron: int = 2, dtype=np.float32) -> Sequential:
    """A 2-layer IndRNN whose weights are set by hand so that layer-2 ``neuron`` sums the marked numbers.

    Layer 1, neuron 0: ``a = v + 10 m - 10`` with u = 0, so h = v at a marker
    (value v ∈ (0, 1), marker m = 1) and 0 elsewhere; the other layer-1
    neurons are switched off (b = -1). Layer 2, ``neuron``: ``a = h1_0 + 1 ·
    h_{t-1}``: it accumulates the marked numbers, and the output reads it with
    weight 1. Layer 2, neuron 0 (when it is not ``neuron``) is a distractor
    with a leaky memory (u = 0.5) of the same input. Used to check that
    :func:`analyse_neurons` finds what was planted.
    """
    model = indrnn_regressor(T, hidden=N, seed=0, dtype=dtype)
    p = model.params
    for v in p.values():
        v[...] = 0
    p["indrnn1.W"][0, 0], p["indrnn1.W"][1, 0], p["indrnn1.b"][0] = 1.0, 10.0, -10.0
    p["indrnn1.b"][1:] = -1.0
    p["indrnn2.W"][0, neuron], p["indrnn2.u"][neuron] = 1.0, 1.0
    if neuron != 0:
        p["indrnn2.W"][0, 0], p["indrnn2.u"][0] = 1.0, 0.5
    p["head.W"][neuron, 0] = 1.0
    return model


def _chunk_states(model: Sequential, x, marked, i: int):
    """One chunk of sequences: the final layer-2 states (B, N2), the layer-1 :func:`marker_sums`, and
    both layers' trajectories of sequence ``i`` of the chunk ((T, 1, N) each; None when it is not in
    the chunk). A function, so that the chunk's (T, B, N) states go when it returns."""
    (_, a1), (_, a2) = indrnn_states(model, x)[:2]
    trajectories = (a1[:, [i]], a2[:, [i]]) if 0 <= i < x.shape[1] else None
    return a2[-1].copy(), marker_sums(a1, marked), trajectories


def _gradient_peaks(model: Sequential, x, y) -> dict[str, float]:
    """The largest |∂J/∂a_t| of each IndRNN layer on one chunk (no |∂J/∂a| array is made)."""
    return {
        name: max(float(da.max()), -float(da.min()))
        for name, da in pre_activation_gradients(model, x, y).items()
    }


def analyse_neurons(
    model: Sequential,
    T: int,
    x,
    y,
    out_dir=None,
    *,
    seq: int = 0,
    fit_size: int = 2000,
    batch: int = 32,
    log=print,
) -> dict:
    """Find the layer-2 accumulator of a 2-layer IndRNN and test the one-neuron second layer.

    The accumulator is the layer-2 neuron whose final state best predicts the
    target on (x, y) (highest R² of a straight-line fit,
    :func:`accumulator_scores`): the neuron that carries the running sum.
    The one-neuron model keeps layer 1, keeps only that neuron of layer 2,
    and fits its 1-input output layer by least squares on ``fit_size`` fresh
    training sequences (the exact optimum of fine-tuning that layer alone).

    Parameters
    ----------
    model : Sequential
        indrnn1, indrnn2, last, head.
    T : int
    x : ndarray, (T, B, 2)
        Test sequences.  y : ndarray, (B, 1)
    out_dir : path, optional
        Where to write ``neurons_layer1.png``, ``neurons_layer2.png`` and
        ``neurons.json`` (nothing is written when None).
    seq : int
        The test sequence whose trajectories are plotted.
    fit_size : int
        Fresh sequences for refitting the one-neuron model's output layer.
    batch : int
        The training batch size the step-gradient peaks are scaled to (the
        loss is a mean over a batch).

    Returns
    -------
    dict with ``T``, ``neuron``, ``r2`` (its R²), ``runner_up_r2``,
    ``full_test_mse``, ``one_neuron_test_mse_before`` (trained head weight
    kept), ``one_neuron_test_mse`` (output layer fine-tuned) and
    ``max_pre_activation_gradient`` (layer -> the largest |∂J/∂a_t| of
    :func:`pre_activation_gradients` over the test set, for a loss that is
    a mean over ``batch`` sequences as in training), ``marker_neurons``
    (layer-1 neurons that fire only at the marked steps,
    :func:`marker_neurons`) and ``layer1_active`` (layer-1 neurons active
    anywhere on the test set).
    """
    names = [n for n, layer in model.layers if isinstance(layer, IndRNN)]
    if names != ["indrnn1", "indrnn2"]:
        raise AnalysisError(f"the neuron analysis needs IndRNN layers indrnn1, indrnn2; got {names}")
    seq = check_seq(seq, x.shape[1])
    # the states in chunks of sequences: the final layer-2 states of all, both layers' whole
    # trajectories of the plotted sequence only
    last, h1, h2, sums = [], None, None, 0.0
    marked = x[:, :, 1] > 0
    for c in _chunks(x.shape[1]):
        final, chunk_sums, trajectories = _chunk_states(model, x[:, c], marked[:, c], seq - c.start)
        last.append(final)
        sums = sums + chunk_sums
        if trajectories is not None:
            h1, h2 = trajectories
    scores = accumulator_scores(np.concatenate(last), y)
    neuron = int(np.argmax(scores))
    full_mse = mse_forward(_predict(model, x), y)[0]
    # the largest |∂J/∂a_t| over all steps, sequences and neurons of each layer, each sequence's
    # share scaled to a mean over a training batch of `batch` (so chunks change nothing)
    peaks = {}
    for c in _chunks(x.shape[1]):
        for name, peak in _gradient_peaks(model, x[:, c], y[c]).items():
            peaks[name] = max(peaks.get(name, 0.0), peak * ((c.stop - c.start) / batch))
    small = one_neuron_model(model, neuron)
    before = mse_forward(_predict(small, x), y)[0]
    fx, fy, _ = adding_batch(T, fit_size, np.random.default_rng(777), x.dtype.type)
    fine_tune_output(small, fx, fy)
    after = mse_forward(_predict(small, x), y)[0]
    markers = np.nonzero(x[:, seq, 1])[0]
    firing = marker_neurons(sums, int(marked.sum()))
    report = dict(
        T=T,
        neuron=neuron,
        r2=float(scores[neuron]),
        runner_up_r2=float(np.sort(scores)[-2]) if scores.size > 1 else None,
        full_test_mse=float(full_mse),
        one_neuron_test_mse_before=float(before),
        one_neuron_test_mse=float(after),
        max_pre_activation_gradient=peaks,
        test_size=int(x.shape[1]),
        markers=markers.tolist(),
        marker_neurons=firing.tolist(),
        layer1_active=int(np.count_nonzero(sums[1] > 0)),
    )
    log(
        f"layer 1: {firing.size} of the {report['layer1_active']} neurons active on the test set fire only "
        f"at the marked steps (>= 99 % of their activation there): {firing.tolist()}."
    )
    runner_up = report["runner_up_r2"]
    log(
        f"T = {T}: layer-2 neuron {neuron} predicts the sum best (R² {scores[neuron]:.4f}; "
        + (f"next best {runner_up:.4f})." if runner_up is not None else "it is the layer's only neuron).")
    )
    log(
        f"test MSE: full model {full_mse:.5f}; one neuron in layer 2, trained head weight {before:.5f}, "
        f"output layer fine-tuned {after:.5f}."
    )
    log(
        "largest |∂J/∂a_t| at any step (what the official code's grad_clipping clamps): "
        + ", ".join(f"{k} {v:.3g}" for k, v in peaks.items())
        + f" (loss a mean over {batch} sequences, as in a training batch)."
    )
    if out_dir is not None:
        from ..plots import plot_neurons

        out = Path(out_dir)
        make_dir(out)
        plot_neurons(
            out / "neurons_layer1.png",
            h1[:, 0, :],
            markers,
            f"Layer 1, all {h1.shape[2]} neurons, T = {T}",
            highlight=int(firing[0]) if firing.size else None,
            highlight_title="A marker neuron: neuron {}",
        )
        running_sum = np.cumsum(x[:, seq, 0] * x[:, seq, 1])
        plot_neurons(
            out / "neurons_layer2.png",
            h2[:, 0, :],
            markers,
            f"Layer 2, all {h2.shape[2]} neurons, T = {T}",
            highlight=neuron,
            running_sum=running_sum,
        )
        write_text(out / "neurons.json", json.dumps(report, indent=2))
        log(f"wrote {out / 'neurons_layer1.png'}, {out / 'neurons_layer2.png'}, {out / 'neurons.json'}")
    return report


def estimate_neurons(cfg, fit_size: int = 2000) -> MemoryEstimate:
    """The peak memory of :func:`neuron_report` for a run of ``cfg``: the checkpoint loaded and
    :func:`analyse_neurons` run on the test set and ``fit_size`` fresh sequences, rehearsed at a few
    steps (:func:`indrnn_np.train.memory.rehearse`; the plots aside)."""
    cfg = dataclasses.replace(cfg, backend="cpu")

    def phases(Tp):
        s, out = config_phases(cfg, Tp, checkpoint=True)

        def analyse():
            task = s["task"]
            analyse_neurons(
                s["model"],
                Tp,
                task.test_x,
                task.test_y,
                fit_size=fit_size,
                batch=cfg.batch,
                log=lambda *a: None,
            )

        return [*out, Phase("evaluation", "the neuron analysis", analyse)]

    return rehearse(f"the neuron analysis of {run_label(cfg)}", phases, cfg.T, levers=config_levers(cfg))


def neuron_report(run_dir, out_dir=None, *, seq: int = 0, fit_size: int = 2000, log=print) -> dict:
    """:func:`analyse_neurons` for the model and test set of a ``train adding`` run folder.

    Writes into ``out_dir`` (default ``run_dir``). Everything is checked before the model is loaded
    and before anything is written: the run's configuration, ``seq``, the output folder and files.

    Raises
    ------
    RunDirError
        The run cannot be read.
    AnalysisError
        The run is not a 2-layer IndRNN on the adding problem, or ``seq`` is not one of its test sequences.
    MemoryTooLarge
        The analysis's estimated peak memory exceeds what is available.
    OutputError
        The output folder or one of its files cannot be written.
    """
    cfg = RunDir(run_dir).read_config()
    _check_two_layer(cfg)
    check_seq(seq, cfg.test_size)
    check_fits(estimate_neurons(cfg, fit_size))
    target = Path(out_dir or run_dir)
    check_writable_dir(target)
    if target.is_dir():
        for name in NEURON_FILES:
            check_writable_file(target / name)
    model, cfg, task = load_run(run_dir)
    return analyse_neurons(
        model,
        cfg.T,
        task.test_x,
        task.test_y,
        target,
        seq=seq,
        fit_size=fit_size,
        batch=cfg.batch,
        log=log,
    )


__all__ = [
    "AnalysisError",
    "accumulator_scores",
    "check_seq",
    "estimate_neurons",
    "fine_tune_output",
    "indrnn_states",
    "load_run",
    "marker_neurons",
    "marker_sums",
    "neuron_report",
    "one_neuron_model",
    "pre_activation_gradients",
]
