"""The numbers, plots and training run behind ``python -m indrnn_np dynamics``.

Three demonstrations of Eq. 4, each from this project's own code:

1. ``|∂J/∂h_t|`` against t for one neuron with |u| > 1, |u| < 1, u = 1 and
   u at the ReLU bound γ^{1/T} (``gradient_vs_time.png``);
2. the same for a conventional RNN whose U has spectral radius above and
   below 1, next to IndRNN (``rnn_vs_indrnn.png``);
3. one small IndRNN trained on the adding problem twice, with the same seed
   and data, without and with the u projection (``clipping_training.png``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..dynamics import (
    classify,
    indrnn_gradient_through_time,
    matrix_with_spectral_radius,
    relu_u_max,
    relu_u_min,
    rnn_gradient_through_time,
)
from ..errors import UserError
from ..files import write_text
from ..nn import Adam, indrnn_regressor
from ..report import check_writable_dir, make_dir
from ..tasks.adding import BASELINE_MSE, adding_batch
from ..train import mse_train_step


class DynamicsError(UserError, ValueError):
    """A setting of the dynamics report that is not allowed."""


#: Loss or gradient norm above which a run counts as diverged.
DIVERGENCE_THRESHOLD = 1e6


def gradient_table(
    Ts=(100, 1000, 5000), us=(0.9, 0.99, 0.999, 1.0, 1.001, 1.01, 1.1, 1.2), *, epsilon=0.01, gamma=2.0
):
    """|∂J/∂h_0| (linear path, ∂J/∂h_T = 1) for every T and u, plus u at the ReLU bound.

    Returns a list of dicts: ``T, u, label, gradient_at_t0, status``; status is
    ``exploded`` (> γ or inf), ``vanished`` (< ε) or ``within`` [ε, γ].
    """
    rows = []
    for T in Ts:
        bound = relu_u_max(T, gamma)
        for label, u in [(f"{u:g}", u) for u in us] + [(f"bound γ^(1/T) = {bound:.6f}", bound)]:
            g0 = float(indrnn_gradient_through_time(np.array([u]), T)[0, 0])
            rows.append(
                dict(
                    T=T, u=float(u), label=label, gradient_at_t0=g0, status=classify(abs(g0), epsilon, gamma)
                )
            )
    return rows


def training_demo(T=200, steps=300, lr=0.03, hidden=32, batch=50, seed=0, gamma=2.0):
    """Train the same 2-layer IndRNN on the adding problem without and with the u projection.

    Adam's first steps move every parameter by about ``lr`` in the direction
    opposite its gradient's sign, whatever the gradient's size. At T = 200 the
    ReLU bound is u ≤ 2^{1/200} = 1.0035, so a step of 0.03 carries any u that
    is pushed upwards to about 1.03, and 1.03^200 ≈ 370 per layer: the forward
    pass and the gradient blow up together. With the projection, u is clamped
    back to 1.0035 after every step and the run stays finite.

    Returns
    -------
    dict
        ``settings`` and, for ``unconstrained`` and ``constrained``: ``max_abs_u``,
        ``max_grad_norm``, ``final_loss``, ``diverged``, ``diverged_at_step``,
        ``steps_run``, ``wall_s`` and ``history`` (per-step ``loss``,
        ``max_abs_u``, ``grad_norm``).
    """
    u_max = relu_u_max(T, gamma)
    out = {
        "settings": dict(
            T=T,
            steps=steps,
            lr=lr,
            hidden=hidden,
            layers=2,
            batch=batch,
            seed=seed,
            optimizer="Adam",
            u_max=u_max,
            divergence_threshold=DIVERGENCE_THRESHOLD,
            baseline_mse=BASELINE_MSE,
        ),
    }
    for name, constrained in (("unconstrained", False), ("constrained", True)):
        model = indrnn_regressor(T, hidden=hidden, layers=2, gamma=gamma, seed=seed)
        opt = Adam(model.params, lr=lr, u_max=u_max if constrained else None)
        rng = np.random.default_rng(seed + 1)
        hist = {"loss": [], "max_abs_u": [], "grad_norm": []}
        diverged_at = None
        t0 = time.perf_counter()
        for step in range(steps):
            x, y, _ = adding_batch(T, batch, rng)
            max_u = max(float(np.max(np.abs(p))) for k, p in model.params.items() if k.endswith(".u"))
            res = mse_train_step(model, opt, x, y)
            hist["loss"].append(res.loss)
            hist["max_abs_u"].append(max_u)
            hist["grad_norm"].append(res.grad_norm)
            if not res.finite or res.loss > DIVERGENCE_THRESHOLD or res.grad_norm > DIVERGENCE_THRESHOLD:
                diverged_at = step
                break
        finite_norms = [g for g in hist["grad_norm"] if np.isfinite(g)]
        out[name] = dict(
            max_abs_u=max(hist["max_abs_u"]),
            max_grad_norm=max(hist["grad_norm"]) if hist["grad_norm"] else 0.0,
            max_finite_grad_norm=max(finite_norms) if finite_norms else None,
            final_loss=hist["loss"][-1],
            diverged=diverged_at is not None,
            diverged_at_step=diverged_at,
            steps_run=len(hist["loss"]),
            wall_s=time.perf_counter() - t0,
            history=hist,
        )
    return out


def _json_safe(obj):
    """Replace inf/NaN floats by strings so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return str(float(obj))
    if isinstance(obj, np.floating | np.integer):
        return obj.item()
    return obj


def write_report(
    out_dir, *, epsilon=0.01, gamma=2.0, T_plot=1000, train_T=200, train_steps=300, train_lr=0.03, log=print
) -> dict:
    """Write ``gradient_vs_time.png``, ``rnn_vs_indrnn.png``, ``clipping_training.png`` and ``dynamics.json``.

    Raises
    ------
    DynamicsError
        Not 0 < epsilon < gamma, gamma < 1, or ``train_steps`` < 1 (before any work).
    OutputError
        ``out_dir`` cannot be created or written.
    """
    from ..plots import plot_clipping_training, plot_gradient_vs_time, plot_rnn_vs_indrnn

    if not (0 < epsilon < gamma and 1 <= gamma and math.isfinite(gamma)):
        raise DynamicsError(
            f"need 0 < epsilon < gamma and 1 <= gamma < inf (the bound gamma^(1/T) on u is then at "
            f"least 1, above the initialisation's (1/gamma)^(1/T)); got epsilon={epsilon}, gamma={gamma}"
        )
    if not (isinstance(train_steps, int) and train_steps >= 1):
        raise DynamicsError(f"train_steps must be a positive integer; got {train_steps!r}")
    check_writable_dir(out_dir)
    make_dir(out_dir)
    out = Path(out_dir)
    bound = relu_u_max(T_plot, gamma)

    # 1. one neuron, four values of u
    us = {"u = 1.01 (> 1)": 1.01, "u = 0.99 (< 1)": 0.99, "u = 1": 1.0, f"u at the bound {bound:.6f}": bound}
    g = indrnn_gradient_through_time(np.array(list(us.values())), T_plot)
    plot_gradient_vs_time(
        out / "gradient_vs_time.png", T_plot, [(k, g[:, i]) for i, k in enumerate(us)], epsilon, gamma, bound
    )

    # 2. RNN with matrix U against IndRNN with vector u
    N = 32
    rnn_curves, mixing = [], []
    for rho in (1.01, 0.99):
        G = rnn_gradient_through_time(matrix_with_spectral_radius(N, rho, seed=1), T_plot)
        norm = np.linalg.norm(G, axis=1)
        rnn_curves.append((f"RNN, U of spectral radius {rho}", norm))
    # Both U are the same rotation scaled by ρ, so the share is the same for both.
    mixing.append(
        ("RNN, either ρ(U) (U = ρ · the same rotation)", 1 - G[:, 0] ** 2 / np.maximum(norm**2, 1e-300))
    )
    indrnn_curves = [
        (f"IndRNN, u = {u}", np.abs(indrnn_gradient_through_time(np.array([u]), T_plot)[:, 0]))
        for u in (1.01, 0.99)
    ]
    mixing.append(("IndRNN (any u)", np.zeros(T_plot + 1)))
    plot_rnn_vs_indrnn(out / "rnn_vs_indrnn.png", T_plot, rnn_curves, indrnn_curves, mixing)

    # 3. the table
    table = gradient_table(epsilon=epsilon, gamma=gamma)
    log(f"|∂J/∂h_0| through a linear IndRNN neuron with ∂J/∂h_T = 1 (ε = {epsilon:g}, γ = {gamma:g})\n")
    log("| T | u | ∂J/∂h_0 = u^T | status |\n|---|---|---|---|")
    for r in table:
        log(f"| {r['T']} | {r['label']} | {r['gradient_at_t0']:.4g} | {r['status']} |")

    # 4. the training demonstration
    log(
        f"\ntraining demonstration: adding problem, T = {train_T}, Adam lr = {train_lr}, up to {train_steps} steps"
    )
    train = training_demo(T=train_T, steps=train_steps, lr=train_lr, gamma=gamma)
    for name in ("unconstrained", "constrained"):
        r = train[name]
        status = f"DIVERGED at step {r['diverged_at_step']}" if r["diverged"] else "stable"
        log(
            f"  {name:13s}: {status}; max|u| = {r['max_abs_u']:.4f}, max grad norm = {r['max_grad_norm']:.3g}, "
            f"final loss = {r['final_loss']:.4g}, {r['steps_run']} steps in {r['wall_s']:.1f} s"
        )
    plot_clipping_training(
        out / "clipping_training.png",
        {k: train[k]["history"] for k in ("unconstrained", "constrained")},
        relu_u_max(train_T, gamma),
        train_T,
    )

    report = {
        "epsilon": epsilon,
        "gamma": gamma,
        "T_plot": T_plot,
        "u_bounds": {
            str(T): {"relu_u_max": relu_u_max(T, gamma), "u_min_init": relu_u_min(T, gamma)}
            for T in (100, 500, 1000, 5000)
        },
        "table": table,
        "training": train,
    }
    write_text(out / "dynamics.json", json.dumps(_json_safe(report), indent=1))
    log(
        f"\nwrote {out / 'gradient_vs_time.png'}, {out / 'rnn_vs_indrnn.png'}, "
        f"{out / 'clipping_training.png'}, {out / 'dynamics.json'}"
    )
    return report
