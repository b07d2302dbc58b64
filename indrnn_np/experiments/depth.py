"""Deeper: gradients over depth, and 21-layer networks trained on row-MNIST.

The Deep IndRNN paper's argument: a stacked LSTM's gates (sigmoid, tanh)
and a tanh RNN's activation shrink the gradient at every layer it passes
down, while ReLU IndRNN layers with batch norm, residual shortcuts or dense
connections pass it on. This experiment builds five networks of about 21
recurrent layers (:data:`NETWORKS`), measures the norm of the gradient of
each layer's input weights W (input layer first) at initialisation and
again after training, and trains each with the same budget on row-MNIST
(T = 28, cheap on a CPU).

Every training run is an ordinary run folder (``runs/<name>``): an
interrupted experiment resumes its runs, a finished one is reused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import write_text
from ..nn import LSTM, RNN, IndRNN, Recurrence, leaf_layers
from ..report import check_writable_dir, format_table, make_dir
from ..train import RunDir, complete_run, load_model, model_label, model_of, recipe, task_of
from ..train.config import ConfigError
from ..train.memory import check_fits, estimate_training

#: name -> (label, overrides of the row-MNIST recipe). Each has 21 or 22 recurrent layers and 21 input
#: weight matrices below the head.
NETWORKS = {
    "indrnn-bn": ("IndRNN + BN, 21 layers", dict(layers=21)),
    # an IndRNN layer, 10 blocks of 2 units, the output unit: 22 recurrences, 21 weight matrices
    "res-indrnn": ("residual IndRNN, 21 weights", dict(residual=True, layers=11)),
    # an input unit, 3 blocks of 3 dense layers (2 units each), 2 transitions: 21 recurrences
    "dense-indrnn": ("dense IndRNN, 21 layers", dict(dense_blocks="3,3,3", growth=32, hidden=64)),
    "lstm": ("stacked LSTM, 21 layers", dict(model="lstm", layers=21, bn="none", dropout=0.0)),
    "rnn-tanh": ("stacked tanh RNN, 21 layers", dict(model="rnn-tanh", layers=21, bn="none", dropout=0.0)),
}

RECURRENT = (IndRNN, Recurrence, RNN, LSTM)

#: Sizes of the quick version (a check that everything runs; its numbers mean nothing).
QUICK = dict(hidden=8, batch=8, eval_every=5, test_size=50, checkpoint_every=10)


def network_configs(steps: int, quick: bool = False, names=tuple(NETWORKS), data: str | None = None):
    """The row-MNIST configuration of each network, same budget for all; ``data``: the MNIST folder."""
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        raise ConfigError(f"networks must be among {', '.join(NETWORKS)}; got {unknown[0]!r}")
    out = {}
    for name in names:
        kw = dict(NETWORKS[name][1], steps=steps, data=data)
        if quick:
            kw.update(QUICK)
            if "hidden" in NETWORKS[name][1]:
                kw.update(hidden=8, growth=4)
        out[name] = recipe("rowmnist", **kw)
    return out


def weight_gradient_norms(model, task, batch: int, *, batches: int = 4, seed: int = 0) -> list[float]:
    """‖∂J/∂W‖ of every input weight matrix, input layer first (the head left out), over ``batches`` batches.

    The training-mode loss of fresh training batches; the squared norms are
    averaged over the batches before the square root.
    """
    rng = np.random.default_rng(seed)
    names = [k for k in model.params if k.endswith(".W") and not k.startswith("head.")]
    total = np.zeros(len(names))
    for _ in range(batches):
        total += _squared_norms(model, task, *task.train_batch(rng, batch), names)
    return np.sqrt(total / batches).tolist()


def _squared_norms(model, task, x, y, names) -> list[float]:
    """‖∂J/∂W‖² of ``names`` on one batch (a function: the batch's caches go when it returns)."""
    pred, caches = model.forward(x, train=True)
    _, lcache = task.loss_forward(pred, y)
    _, grads = model.backward(task.loss_backward(1.0, lcache), caches, input_grad=False)
    return [float(np.sum(np.asarray(grads[k], np.float64) ** 2)) for k in names]


def run_depth(
    out_dir,
    *,
    steps: int = 15000,
    quick: bool = False,
    names=tuple(NETWORKS),
    data=None,
    train_runs: bool = True,
    log=print,
) -> dict:
    """Gradient against layer (at initialisation and after training) and row-MNIST training of each network.

    Writes ``depth.json``, ``depth.md``, ``gradient_vs_layer.png``,
    ``curves.png`` and ``runs/<name>/`` into ``out_dir``, rewritten after
    each network, so that the files show every network done so far.
    ``train_runs=False`` trains nothing: it reports the runs as they stand
    (a run still in progress at its last checkpoint, one never started
    without a trained gradient).

    Returns
    -------
    dict
        Per network: ``label``, ``recurrent_layers``, ``params``, ``grad_init``
        and ``grad_trained`` (lists, input layer first), ``test_error``,
        ``best_test_error``, ``steps``, ``wall_s``, ``diverged``.
    """
    configs = network_configs(steps, quick, names, data)
    check_writable_dir(out_dir)  # first: a bad folder is told before seconds of rehearsals
    for cfg in configs.values():  # a second model is kept beside each run (its gradients at initialisation)
        check_fits(estimate_training(cfg, extra_models=1))
    out = Path(out_dir)
    results = {}
    for name, cfg in configs.items():
        label = NETWORKS[name][0]
        log(f"{label} ({model_label(cfg)}): gradients at initialisation")
        task = task_of(cfg)
        model = model_of(cfg, task)
        n_rec = sum(1 for layer in leaf_layers(model) if isinstance(layer, RECURRENT))
        grad_init = weight_gradient_norms(model, task, cfg.batch)
        run = RunDir(out / "runs" / name)
        if train_runs:
            complete_run(cfg, run.path, log=log)
        results[name] = _result(run, label, n_rec, model.num_params(), grad_init, cfg.batch)
        payload = _write(out, steps, quick, results)
    log(f"wrote {out / 'depth.md'}, depth.json, gradient_vs_layer.png, curves.png")
    return payload


def _write(out: Path, steps, quick, results) -> dict:
    from ..plots import plot_depth_curves, plot_gradient_vs_layer

    payload = {"steps": steps, "quick": quick, "networks": results}
    make_dir(out)
    write_text(out / "depth.json", json.dumps(payload, indent=2) + "\n")
    plot_gradient_vs_layer(
        out / "gradient_vs_layer.png",
        [(r["label"], r["grad_init"], r["grad_trained"]) for r in results.values()],
    )
    plot_depth_curves(out / "curves.png", [(r["label"], *r["curve"]) for r in results.values()])
    write_text(out / "depth.md", render_depth(payload) + "\n")
    return payload


def _result(run: RunDir, label, n_rec, params, grad_init, batch) -> dict:
    m = (
        run.read_metrics()
        if run.file(run.METRICS).exists()
        else {"step": np.array([]), "test_error": np.array([])}
    )
    errors = m["test_error"] if len(m["step"]) else np.array([np.nan])
    res = dict(
        label=label,
        recurrent_layers=n_rec,
        params=params,
        grad_init=grad_init,
        diverged=run.is_diverged(),
        steps=int(m["step"][-1]) if len(m["step"]) else 0,
        wall_s=float(m["elapsed_s"][-1]) if len(m["step"]) else 0.0,
        finished=run.read_summary() is not None,
        test_error=float(errors[-1]),
        best_test_error=float(np.nanmin(errors)) if np.isfinite(errors).any() else float("nan"),
        curve=(m["step"].tolist(), m["test_error"].tolist()),
        grad_trained=None,
    )
    if run.has_checkpoint():
        model, _, task, _ = load_model(run)
        res["grad_trained"] = weight_gradient_norms(model, task, batch)
    return res


def render_depth(payload: dict) -> str:
    """The Markdown table of a depth experiment."""
    rows = []
    for r in payload["networks"].values():
        g0, g1 = r["grad_init"], r["grad_trained"]
        rows.append(
            dict(
                label=r["label"],
                rec=r["recurrent_layers"],
                params=r["params"],
                ratio0=g0[0] / g0[-1] if g0[-1] > 0 else float("inf"),
                ratio1=(g1[0] / g1[-1] if g1 and g1[-1] > 0 else None),
                steps=r["steps"],
                err=100 * r["test_error"],
                best=100 * r["best_test_error"],
                wall=r["wall_s"],
                note="diverged" if r["diverged"] else ("" if r.get("finished", True) else "in progress"),
            )
        )
    return "\n".join(
        [
            f"# 21-layer networks on row-MNIST ({payload['steps']} steps each"
            + (", quick sizes" if payload["quick"] else "")
            + ")",
            "",
            "Gradient ratio: ‖∂J/∂W‖ of the input layer over that of the top layer (1: the gradient reaches "
            "the bottom undiminished; ≪ 1: it fades over depth).",
            "",
            format_table(
                rows,
                [
                    ("label", "network", "s"),
                    ("rec", "recurrent layers", "d"),
                    ("params", "parameters", ",d"),
                    ("ratio0", "gradient ratio, init", ".2e"),
                    ("ratio1", "gradient ratio, trained", ".2e"),
                    ("steps", "steps", "d"),
                    ("err", "final test error %", ".2f"),
                    ("best", "best test error %", ".2f"),
                    ("wall", "wall time (s)", ".0f"),
                    ("note", "", "s"),
                ],
            ),
        ]
    )
