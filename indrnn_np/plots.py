"""Matplotlib figures, written to files.

Figures are built with :class:`matplotlib.figure.Figure` directly, not with
pyplot: saving a figure needs no GUI backend, so importing this module
selects none and leaves the caller's (a notebook's inline backend, say) alone.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from .files import save_figure


def check_figure_file(path) -> None:
    """OutputError unless ``path`` names a figure matplotlib can write (``.png``, ``.pdf``, ``.svg``, ...)
    and the file can be written; checked before any work."""
    from matplotlib.backend_bases import FigureCanvasBase

    from .report import OutputError, check_writable_file

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if suffix not in formats:
        raise OutputError(
            f"cannot write the figure {path}: its name must end in a figure format "
            f"({', '.join('.' + f for f in sorted(formats))}); got {'.' + suffix if suffix else 'no suffix'}"
        )
    check_writable_file(path)


def _abs_for_log(a):
    """|a| with zeros and infs kept out of a log axis (inf drawn at the top, 0 not drawn)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return np.where((a > 0) & np.isfinite(a), a, np.nan)


def plot_gradient_vs_time(path, T, curves, epsilon, gamma, bound):
    """|∂J/∂h_t| against t for several u; ``curves`` is a list of (label, values (T+1,))."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    t = np.arange(T + 1)
    for label, g in curves:
        ax.plot(t, _abs_for_log(g), label=label, lw=2)
    ax.axhline(gamma, color="k", ls="--", lw=1)
    ax.axhline(epsilon, color="k", ls=":", lw=1)
    ax.text(2, gamma * 1.3, f"γ = {gamma:g} (largest tolerated)", fontsize=9)
    ax.text(2, epsilon * 1.3, f"ε = {epsilon:g} (smallest useful)", fontsize=9)
    ax.set_yscale("log")
    ax.set_xlabel(f"time step t (objective at T = {T})")
    ax.set_ylabel("|∂J/∂h_t|  (∂J/∂h_T = 1)")
    ax.set_title(
        f"IndRNN, one neuron, linear path: |∂J/∂h_t| = |u|^(T-t)\nReLU bound u ≤ γ^(1/T) = {bound:.6f}"
    )
    ax.legend(loc="lower left")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_rnn_vs_indrnn(path, T, rnn_curves, indrnn_curves, mixing):
    """Three panels, so that no curve hides another: the gradient norm against t for the RNN (matrix
    U), then for IndRNN (vector u), on the same axes; then the share of it off neuron 0."""
    fig = Figure(figsize=(15, 4.8))
    ax_rnn, ax_ind, ax_mix = fig.subplots(1, 3)
    ax_ind.sharey(ax_rnn)
    t = np.arange(T + 1)
    for ax, curves, title in (
        (ax_rnn, rnn_curves, "RNN: a full matrix U"),
        (ax_ind, indrnn_curves, "IndRNN: a vector u"),
    ):
        for (label, g), color in zip(curves, ("C3", "C0"), strict=False):
            ax.plot(t, _abs_for_log(g), lw=2, color=color, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_title(f"{title}: the norm grows or shrinks\ngeometrically from T = {T} (linear)")
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(True, alpha=0.3)
    ax_rnn.set_ylabel("‖∂J/∂h_t‖  (unit gradient on neuron 0 at T)")
    for (label, share), (color, ls) in zip(mixing, (("C3", "-"), ("C0", "--")), strict=False):
        ax_mix.plot(t, share, lw=1.5 if ls == "-" else 2.5, color=color, ls=ls, label=label)
    ax_mix.set_xlabel("time step t")
    ax_mix.set_ylabel("share of ‖∂J/∂h_t‖² on neurons other than 0")
    ax_mix.set_ylim(-0.05, 1.05)
    ax_mix.set_title("Where the gradient goes: U spreads it\nover the neurons, u keeps it on neuron 0")
    ax_mix.legend(fontsize=8, loc="center right")
    ax_mix.grid(True, alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_clipping_training(path, runs, u_max, T, *, baseline=1 / 6, title=None):
    """Per-step loss, max|u| and gradient norm of the runs; ``runs`` maps label -> history dict.

    Steps are numbered from 1 (the k-th update is step k, history entry k - 1). A run that stopped
    early (diverged) ends in a cross at its last step. The loss panel draws the constant baseline and
    half of it, and each finished run's loss smoothed over 25 steps beside its raw curve.
    """
    fig = Figure(figsize=(15, 4.8))
    axes = fig.subplots(1, 3)
    colors = {}
    for label, hist in runs.items():
        steps = np.arange(1, len(hist["loss"]) + 1)
        loss = _abs_for_log(hist["loss"])
        (line,) = axes[0].plot(steps, loss, lw=0.6, alpha=0.4)
        colors[label] = c = line.get_color()
        kept = len(steps) - 1 if hist.get("diverged_at_step") else len(steps)  # not the diverged step
        if kept >= 25:
            smooth = np.convolve(np.nan_to_num(loss[:kept], nan=0.0), np.ones(25) / 25, mode="valid")
            axes[0].plot(steps[24:kept], smooth, color=c, lw=2, label=f"{label} (mean of 25 steps)")
        axes[1].plot(steps, hist["max_abs_u"], color=c, lw=1.5, label=label)
        axes[2].plot(steps, _abs_for_log(hist["grad_norm"]), color=c, lw=0.8, label=label)
    for label, hist in runs.items():
        if hist.get("diverged_at_step"):
            k = hist["diverged_at_step"]
            for ax, key in zip(axes, ("loss", "max_abs_u", "grad_norm"), strict=True):
                v = float(np.abs(hist[key][k - 1]))
                if np.isfinite(v) and v > 0:
                    ax.plot([k], [v], "x", color=colors[label], ms=10, mew=2)
            axes[0].annotate(
                f"{label}: diverged at step {k}",
                (k, float(np.abs(hist["loss"][k - 1]))),
                textcoords="offset points",
                xytext=(8, -4),
                fontsize=8,
                color=colors[label],
            )
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss (MSE)")
    axes[0].axhline(baseline, color="gray", ls=":", lw=1.2)
    axes[0].text(1, baseline * 1.15, f"baseline {baseline:.3f} (always predict 1)", fontsize=8)
    axes[0].axhline(baseline / 2, color="gray", ls="--", lw=1)
    axes[0].text(1, baseline / 2 * 0.7, f"half the baseline, {baseline / 2:.3f}", fontsize=8)
    axes[1].axhline(u_max, color="k", ls="--", lw=1)
    axes[1].text(1, u_max, f" bound u_max = 2^(1/{T}) = {u_max:.4f}", fontsize=8, va="bottom")
    axes[1].set_ylabel("max |u| over both layers")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("gradient norm (before clipping)")
    for ax in axes:
        ax.set_xlabel("step (the k-th update is step k)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        title or f"Adding problem, T = {T}: the same network and data, with and without the u constraint"
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_curves(path, curves, *, ylabel, title="", baseline=None):
    """Curves against the training step on one log-scale figure, with the baseline line.

    ``curves``: (label, steps, values) or (label, steps, values, low, high);
    the band between low and high (e.g. the seeds' spread) is shaded.
    """
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for label, steps, values, *band in curves:
        (line,) = ax.plot(steps, _abs_for_log(values), lw=2, label=label)
        if band and not np.array_equal(band[0], band[1]):
            ax.fill_between(
                steps, _abs_for_log(band[0]), _abs_for_log(band[1]), color=line.get_color(), alpha=0.2
            )
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", lw=1, label=f"baseline {baseline:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_curve(path, steps, values, *, metric, baseline=None, title=""):
    """One run's test metric against the training step (the run folder's curve.png)."""
    plot_curves(path, [(metric, steps, values)], ylabel=metric, title=title, baseline=baseline)


def plot_study(path, T, curves, baseline):
    """Test MSE against step for every model at one T (the paper's Fig. 2); see :func:`plot_curves`."""
    plot_curves(path, curves, ylabel="test MSE", title=f"Adding problem, T = {T}", baseline=baseline)


#: Time columns a neuron heat map draws at most; longer sequences are shown as the maximum over bins.
HEATMAP_COLUMNS = 500


def bin_max(h, columns: int = HEATMAP_COLUMNS):
    """h (T, N) as (ceil(T / k), N) maxima over bins of k = ceil(T / columns) steps, and k.

    A heat map of 5000 steps drawn on a few hundred pixels by nearest
    sampling drops most single steps, and with them a neuron that fires only
    at the two marked steps; the bin maximum keeps every spike.
    """
    T = h.shape[0]
    k = -(-T // columns)
    if k == 1:
        return h, 1
    pad = (-T) % k
    hp = np.concatenate([h, np.full((pad, h.shape[1]), -np.inf, h.dtype)]) if pad else h
    return hp.reshape(-1, k, h.shape[1]).max(axis=1), k


def plot_neurons(
    path, h, markers, title, highlight=None, running_sum=None, highlight_title="The accumulator: neuron {}"
):
    """Every neuron's activation over one sequence: a heat map (neurons x time), markers drawn.

    With ``highlight``, a second panel shows that neuron's trace (and, if
    given, the running sum of the marked numbers, for comparison), titled
    ``highlight_title.format(highlight)``. Beyond :data:`HEATMAP_COLUMNS`
    steps the heat map shows the maximum over bins of steps (:func:`bin_max`).
    """
    T, N = h.shape
    rows = 2 if highlight is not None else 1
    fig = Figure(figsize=(10, 3.2 * rows + 1))
    axes = fig.subplots(rows, 1, squeeze=False)
    ax = axes[0, 0]
    shown, k = bin_max(h)
    if k > 1:
        title += f", max over every {k} steps"
    im = ax.imshow(
        shown.T,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        interpolation="nearest",
        extent=(-0.5, T - 0.5, -0.5, N - 0.5),
    )
    for m in markers:
        ax.axvline(m, color="red", lw=1, ls="--")
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron")
    ax.set_title(title + " (red: marked positions)")
    fig.colorbar(im, ax=ax, label="activation h_t")
    if highlight is not None:
        ax2 = axes[1, 0]
        ax2.plot(h[:, highlight], lw=2, label=f"neuron {highlight}")
        if running_sum is not None:
            ax3 = ax2.twinx()
            ax3.plot(running_sum, color="k", ls=":", lw=1.5, label="running sum of marked numbers")
            ax3.set_ylabel("running sum")
            ax3.legend(loc="lower right", fontsize=8)
        for m in markers:
            ax2.axvline(m, color="red", lw=1, ls="--")
        ax2.set_xlabel("time step")
        ax2.set_ylabel("activation")
        ax2.set_title(highlight_title.format(highlight))
        ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_scaling(path, rows, title):
    """Forward+backward seconds against T (log-log) for every implementation present in ``rows``."""
    labels = {
        "cpu_s": "indrnn-np (cpu)",
        "jax_scan_s": "JAX lax.scan (jit)",
        "torch_rnn_s": "torch.nn.RNN (fused)",
    }
    fig = Figure(figsize=(12, 4.5))
    (ax, ax2) = fig.subplots(1, 2)
    Ts = np.array([r["T"] for r in rows])
    for key, label in labels.items():
        if all(key in r for r in rows):
            ax.plot(Ts, [r[key] for r in rows], marker="o", lw=2, label=label)
    ax.plot(Ts, rows[0]["cpu_s"] * Ts / Ts[0], ls=":", color="gray", label="linear in T")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("T")
    ax.set_ylabel("forward + backward (s)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax2.plot(
        Ts, [r["peak_bytes"] / 1e6 for r in rows], marker="o", lw=2, label="peak allocated (tracemalloc)"
    )
    ax2.plot(Ts, [r["tbn_bytes"] / 1e6 for r in rows], ls="--", label="one (T, B, N) float32 array")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("T")
    ax2.set_ylabel("MB")
    ax2.set_title("indrnn-np memory, forward + backward")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_gradient_vs_layer(path, networks):
    """‖∂J/∂W‖ of each layer against its depth; ``networks``: (label, at init, trained or None).

    Two panels: at initialisation and after training; log scale, input layer at 1.
    """
    fig = Figure(figsize=(12, 4.8))
    axes = fig.subplots(1, 2, sharey=False)
    colors = [f"C{i}" for i in range(len(networks))]  # one colour per network in both panels
    for ax, idx, title in ((axes[0], 1, "at initialisation"), (axes[1], 2, "after training")):
        for net, color in zip(networks, colors, strict=True):
            g = net[idx]
            if g:
                ax.plot(
                    np.arange(1, len(g) + 1),
                    _abs_for_log(g),
                    marker="o",
                    ms=3,
                    lw=2,
                    color=color,
                    label=net[0],
                )
        ax.set_yscale("log")
        ax.set_xlabel("layer (1: input layer)")
        ax.set_ylabel("‖∂J/∂W‖ of the layer's input weights")
        ax.set_title(f"Gradient reaching each layer, {title}")
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_depth_curves(path, curves):
    """Test error (%) against the training step for each network; ``curves``: (label, steps, errors)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for i, (label, steps, errors) in enumerate(curves):
        ax.plot(steps, 100 * np.asarray(errors, dtype=np.float64), lw=2, color=f"C{i}", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("test error (%)")
    ax.set_title("21-layer networks on row-MNIST")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
