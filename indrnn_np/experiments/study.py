"""The paper's adding-problem study (Section 5.1, Fig. 2), run with this project's code.

Every model at every T, with the paper's learning rates, through the same
training loop as ``python -m indrnn_np train``; then one figure per T and a
table. Runs that finished are reused and interrupted ones resumed, so the
study can be stopped and started again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..report import check_writable_dir
from ..tasks.adding import BASELINE_MSE
from ..train import ConfigError, RunDir, TrainConfig, TrainingDiverged, model_label, resume, train

MODELS = ("indrnn", "rnn-tanh", "irnn", "lstm")
LABELS = {"indrnn": "IndRNN (2 x 128)", "rnn-tanh": "RNN-tanh", "irnn": "IRNN", "lstm": "LSTM"}


def paper_lr(model: str, T: int) -> float:
    """The paper's rates: 2e-3 for the tanh models, 2e-4 for the ReLU ones, 1e-5 for IRNN at long T (≥ 500)."""
    if model in ("rnn-tanh", "lstm"):
        return 2e-3
    if model == "irnn" and T >= 500:
        return 1e-5
    return 2e-4


#: Presets: which T, how many steps at each T, and the sizes of a run.
PRESETS = {
    "default": dict(
        Ts=(100, 500, 1000),
        long_T=5000,
        # IndRNN's steps are cheap (60 ms at T = 1000, batch 32, on 2 cores) and the baselines' are not
        # (110 ms for the RNNs, 450 ms for the LSTM): on a 2-core budget IndRNN gets more steps at long T.
        steps={100: 3000, 500: 4000, 1000: 4000, 5000: 1000},
        baseline_steps={100: 2000, 500: 2000, 1000: 1000},
        hidden=128,
        batch=32,
        eval_every=100,
        test_size=200,
        checkpoint_every=250,
    ),
    "quick": dict(
        Ts=(20, 40),
        long_T=60,
        steps={20: 30, 40: 30, 60: 30},
        hidden=16,
        batch=8,
        eval_every=10,
        test_size=32,
        checkpoint_every=30,
    ),
}


def study_runs(preset: str = "default", steps_scale: float = 1.0, models=MODELS):
    """The (model, T, TrainConfig) triples of a study.

    Raises ConfigError for an unknown preset or model, or ``steps_scale`` <= 0.
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    if not steps_scale > 0:
        raise ConfigError(f"steps_scale must be > 0; got {steps_scale}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"models must be among {', '.join(MODELS)}; got {unknown[0]!r}")
    p = PRESETS[preset]
    runs = []
    for T in (*p["Ts"], p["long_T"]):
        for model in models:
            if T == p["long_T"] and model != "indrnn":
                continue  # the paper runs only IndRNN at T = 5000
            steps = p.get("baseline_steps", {}).get(T, p["steps"][T]) if model != "indrnn" else p["steps"][T]
            cfg = TrainConfig(
                model=model,
                T=T,
                steps=max(1, int(round(steps * steps_scale))),
                batch=p["batch"],
                hidden=p["hidden"],
                lr=paper_lr(model, T),
                eval_every=p["eval_every"],
                test_size=p["test_size"],
                checkpoint_every=p["checkpoint_every"],
                seed=0,
            )
            runs.append((model, T, cfg))
    return runs


def verdict(mse: float) -> str:
    """Words for a final test MSE against the 0.167 baseline."""
    if mse < 0.01:
        return "solved (< 0.01)"
    if mse < 0.1:
        return "learning (< 0.1)"
    if mse < 0.15:
        return "slightly below baseline"
    if mse <= 0.19:
        return "at baseline"
    return "worse than baseline"


def run_study(
    out_dir, *, preset="default", steps_scale=1.0, models=MODELS, log=print, progress=False
) -> list[dict]:
    """Run (or reuse) every run, then write ``adding_T{T}.png`` and ``study.md``. Returns the table rows."""
    from ..plots import plot_study

    runs = study_runs(preset, steps_scale, models)
    check_writable_dir(out_dir)
    out = Path(out_dir)
    rows = []
    for model, T, cfg in runs:
        run = RunDir(out / f"{model}_T{T}")
        _train_or_reuse(run, model, T, cfg, progress, log)
        rows.append(_row(run, model, T))
    for T in sorted({r["T"] for r in rows}):
        plot_study(
            out / f"adding_T{T}.png",
            T,
            [(LABELS[r["model"]], *r["curve"]) for r in rows if r["T"] == T],
            BASELINE_MSE,
        )
    write_table(out / "study.md", rows, preset, steps_scale)
    log(f"wrote {out / 'study.md'} and the figures adding_T*.png")
    return rows


def _train_or_reuse(run: RunDir, model: str, T: int, cfg: TrainConfig, progress: bool, log) -> None:
    """Train the run, resume it, or reuse it when it finished (or diverged) before."""
    summary = run.read_summary()
    if run.is_diverged():
        log(f"{model} T={T}: diverged before, reusing {run}")
        return
    if summary is not None and summary["steps"] >= cfg.steps:
        log(f"{model} T={T}: done before, reusing {run}")
        return
    again = run.has_checkpoint()
    log(f"{model} T={T}: {'resuming' if again else 'training'} ({cfg.steps} steps, lr {cfg.lr:g})")
    t0 = time.perf_counter()
    quiet = lambda *a: None  # noqa: E731
    try:
        if again:
            resume(run.path, steps=cfg.steps, progress=progress, log=quiet)
        else:
            train(cfg, run.path, progress=progress, log=quiet)
    except TrainingDiverged as exc:  # a result, not a failure of the study: the run folder records it
        log(f"  diverged: {exc}")
    log(f"  {time.perf_counter() - t0:.0f} s")


def _row(run: RunDir, model: str, T: int) -> dict:
    """The table row of a finished or diverged run."""
    m = run.read_metrics()
    n = len(m["step"])
    curve = (m["step"].tolist(), m["test_mse"].tolist())
    if run.is_diverged():
        d = run.read_diverged()
        c = TrainConfig.from_dict(d["config"], where=f"{run.file(run.DIVERGED)}: config")
        wall = float(m["elapsed_s"][-1]) if n else float("nan")
        last = float(m["test_mse"][-1]) if n else float("nan")
        return dict(
            model=model,
            label=model_label(c),
            T=T,
            params=d["params"],
            steps=d["step"],
            lr=c.lr,
            test_mse=last,
            best_test_mse=float(np.min(m["test_mse"])) if n else last,
            steps_per_s=d["step"] / wall if wall == wall else float("nan"),
            wall_s=wall,
            verdict=f"diverged at step {d['step']} (loss inf or NaN)",
            run=run.path.name,
            curve=curve,
        )
    s = run.read_summary()
    return dict(
        model=model,
        label=model_label(TrainConfig.from_dict(s["config"], where=f"{run.file(run.SUMMARY)}: config")),
        T=T,
        params=s["params"],
        steps=s["steps"],
        lr=s["config"]["lr"],
        test_mse=s["test_mse"],
        best_test_mse=float(m["test_mse"].min()),
        steps_per_s=s["steps"] / s["wall_s"],
        wall_s=s["wall_s"],
        verdict=verdict(s["test_mse"]),
        run=run.path.name,
        curve=curve,
    )


def write_table(path, rows, preset, steps_scale) -> None:
    p = PRESETS[preset]
    lines = [
        f"# Adding problem study ({preset} preset, steps x {steps_scale:g})",
        "",
        f"Batch {p['batch']}, Adam, gradients clamped to ±10, u projected into [-2^(1/T), 2^(1/T)] (IndRNN), "
        f"test MSE on a fixed test set of {p['test_size']} sequences every {p['eval_every']} steps. "
        f"Baseline (always predict 1): {BASELINE_MSE:.3f}.",
        "",
        "| model | T | params | lr | steps | final test MSE | best test MSE | verdict | steps/s | wall time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['T']} | {r['params']:,} | {r['lr']:g} | {r['steps']} | {r['test_mse']:.4f} | "
            f"{r['best_test_mse']:.4f} | {r['verdict']} | {r['steps_per_s']:.2f} | {r['wall_s']:.0f} |"
        )
    lines.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
