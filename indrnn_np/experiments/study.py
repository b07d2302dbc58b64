"""The paper's adding-problem study (Section 5.1, Fig. 2), run with this project's code.

Every model at every T, with the paper's learning rates, through the same
training loop as ``python -m indrnn_np train``, ``seeds`` times each; then
one figure per T (the mean curve, the seeds' spread shaded) and a table
(mean ± standard deviation over the seeds). Runs that finished are reused and
interrupted ones resumed, so the study can be stopped and started again.

The runs are independent tasks for ``dask.distributed``: by default a
``LocalCluster`` of one single-threaded worker process per core (BLAS and
Numba told to use one thread each, so that the runs do not fight over the
cores), or an existing cluster (``scheduler="tcp://host:8786"``) when one
machine is not enough, or ``scheduler="serial"`` for one run after another in
this process, without Dask. A run is identified by its folder: a task that is
retried (its worker died) resumes from the run's last checkpoint, and a
finished run is read back, never trained twice.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import write_text
from ..report import check_writable_dir, make_dir
from ..tasks.adding import BASELINE_MSE
from ..train import ConfigError, RunDir, TrainConfig, complete_run, model_label

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
        # at T = 100 the baselines get 10,000 steps: enough to see whether they converge there as in the
        # paper (2000, the earlier budget, left the LSTM and IRNN at the baseline)
        baseline_steps={100: 10000, 500: 2000, 1000: 1000},
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


def run_name(model: str, T: int, seed: int) -> str:
    """A run's folder inside the study: ``indrnn_T100``, ``indrnn_T100_seed1``, ..."""
    return f"{model}_T{T}" + (f"_seed{seed}" if seed else "")


def study_runs(preset: str = "default", steps_scale: float = 1.0, models=MODELS, seeds: int = 1, Ts=None):
    """The (model, T, TrainConfig) triples of a study, seeds 0 .. seeds-1 of each.

    ``Ts``: only these of the preset's sequence lengths (default all).

    Raises ConfigError for an unknown preset, model or T, ``steps_scale`` <= 0 or ``seeds`` < 1.
    """
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be an integer >= 1; got {seeds!r}")
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    if not 0 < steps_scale < math.inf:
        raise ConfigError(f"steps_scale must be a finite number > 0; got {steps_scale}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"models must be among {', '.join(MODELS)}; got {unknown[0]!r}")
    p = PRESETS[preset]
    lengths = (*p["Ts"], p["long_T"])
    if Ts is not None and (not Ts or any(T not in lengths for T in Ts)):
        raise ConfigError(f"T must be among the preset's {', '.join(map(str, lengths))}; got {list(Ts)}")
    runs = []
    for T in lengths if Ts is None else [T for T in lengths if T in Ts]:
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
                layers=2 if model == "indrnn" else 1,  # the paper: 2-layer IndRNN, 1-layer baselines
                lr=paper_lr(model, T),
                eval_every=p["eval_every"],
                test_size=p["test_size"],
                checkpoint_every=p["checkpoint_every"],
                seed=0,
            )
            runs += [(model, T, dataclasses.replace(cfg, seed=seed)) for seed in range(seeds)]
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


class SchedulerError(UserError):
    """Dask is not installed, or the scheduler cannot be reached."""


def run_study(
    out_dir,
    *,
    preset="default",
    steps_scale=1.0,
    models=MODELS,
    seeds: int = 1,
    Ts=None,
    scheduler: str = "local",
    workers: int | None = None,
    log=print,
    progress=False,
) -> list[dict]:
    """Run (or reuse) every run, then write ``adding_T{T}.png`` and ``study.md``. Returns one row per run.

    Parameters
    ----------
    seeds : int
        Runs of each configuration (seeds 0 .. seeds-1).
    Ts : sequence of int, optional
        Only these of the preset's sequence lengths.
    scheduler : str
        ``"local"`` (a Dask ``LocalCluster``), ``"serial"`` (this process,
        no Dask), or the address of a running Dask scheduler.
    workers : int, optional
        Worker processes of the local cluster; default one per core.
    progress : bool
        A progress bar per run (``"serial"`` only).
    """
    from ..plots import plot_study

    runs = study_runs(preset, steps_scale, models, seeds, Ts)
    check_writable_dir(out_dir)
    out = Path(out_dir)
    tasks = [(str(out / run_name(model, T, cfg.seed)), model, T, cfg.to_dict()) for model, T, cfg in runs]
    if scheduler == "serial":
        rows = [study_task(*t, progress=progress, log=log) for t in tasks]
    else:
        rows = _run_on_dask(tasks, scheduler, workers, log)
    make_dir(out)  # there already, unless there were no runs
    for T in sorted({r["T"] for r in rows}):
        plot_study(out / f"adding_T{T}.png", T, _curves(rows, T), BASELINE_MSE)
    write_table(out / "study.md", rows, preset, steps_scale)
    log(f"wrote {out / 'study.md'} and the figures adding_T*.png")
    return rows


def study_task(path: str, model: str, T: int, config: dict, *, progress=False, log=print) -> dict:
    """One run of the study, trained, resumed or reused; its table row. What a Dask worker runs."""
    complete_run(TrainConfig.from_dict(config), path, progress=progress, log=log)
    return _row(RunDir(path), model, T)


def _run_on_dask(tasks, scheduler: str, workers: int | None, log) -> list[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SchedulerError(
            "the study runs on Dask: pip install 'indrnn-np[dask]', or use --scheduler serial"
        ) from None
    cluster = None
    if scheduler == "local":
        n = workers or os.cpu_count() or 1
        one_thread = {
            k: "1"
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
        }
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, env=one_thread
        )
        log(f"Dask LocalCluster: {n} single-threaded worker processes")
    try:
        client = Client(cluster if cluster is not None else scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: not an address (no port, say)
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = {
            client.submit(
                study_task, *t, log=_quiet, key=f"study-{Path(t[0]).name}", pure=False, retries=2
            ): t
            for t in tasks
        }
        rows = {}
        for fut in as_completed(futures):
            row = fut.result()
            rows[futures[fut][0]] = row
            log(f"{row['run']}: {row['verdict']} (test MSE {row['test_mse']:.4f}, {row['wall_s']:.0f} s)")
        return [rows[t[0]] for t in tasks]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _quiet(*_a, **_k) -> None:
    pass


def _curves(rows, T):
    """(label, steps, mean, low, high) per model at T: the seeds' mean curve and their min..max."""
    out = []
    for model in MODELS:
        runs = [r for r in rows if r["T"] == T and r["model"] == model]
        if not runs:
            continue
        n = min(len(r["curve"][0]) for r in runs)
        steps = runs[0]["curve"][0][:n]
        values = np.array([r["curve"][1][:n] for r in runs], dtype=np.float64)
        label = LABELS[model] + (f", {len(runs)} seeds" if len(runs) > 1 else "")
        out.append((label, steps, values.mean(axis=0), values.min(axis=0), values.max(axis=0)))
    return out


def _row(run: RunDir, model: str, T: int) -> dict:
    """The table row of a finished or diverged run."""
    m = run.read_metrics()
    n = len(m["step"])
    if run.is_diverged():
        record, where = run.read_diverged(), run.file(run.DIVERGED)
        steps, wall = record["step"], (float(m["elapsed_s"][-1]) if n else float("nan"))
        test_mse = float(m["test_mse"][-1]) if n else float("nan")
        outcome = f"diverged at step {steps} (loss inf or NaN)"
    else:
        record, where = run.read_summary(), run.file(run.SUMMARY)
        steps, wall, test_mse = record["steps"], record["wall_s"], record["test_mse"]
        outcome = verdict(test_mse)
    cfg = TrainConfig.from_dict(record["config"], where=f"{where}: config")
    return dict(
        model=model,
        label=model_label(cfg),
        T=T,
        seed=cfg.seed,
        params=record["params"],
        steps=steps,
        lr=cfg.lr,
        test_mse=test_mse,
        best_test_mse=float(np.min(m["test_mse"])) if n else test_mse,
        steps_per_s=steps / wall if wall == wall and wall > 0 else float("nan"),
        wall_s=wall,
        verdict=outcome,
        run=run.path.name,
        curve=(m["step"].tolist(), m["test_mse"].tolist()),
    )


def _spread(values, fmt=".4f") -> str:
    """``mean`` for one value, ``mean ± std`` (sample standard deviation) for several."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def _mean(values) -> float:
    """Mean of the finite values; NaN when there is none (a run that diverged before its first row)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def write_table(path, rows, preset, steps_scale) -> None:
    """study.md: one line per model and T, mean ± standard deviation over the seeds."""
    p = PRESETS[preset]
    seeds = max(sum(1 for q in rows if q["model"] == r["model"] and q["T"] == r["T"]) for r in rows)
    lines = [
        f"# Adding problem study ({preset} preset, steps x {steps_scale:g}, {seeds} seed(s) per line)",
        "",
        f"Batch {p['batch']}, Adam, gradients clamped to ±10, u projected into [-2^(1/T), 2^(1/T)] (IndRNN), "
        f"test MSE on a fixed test set of {p['test_size']} sequences every {p['eval_every']} steps. "
        f"Baseline (always predict 1): {BASELINE_MSE:.3f}. With several seeds: mean ± standard deviation, "
        "and the verdict of each seed.",
        "",
        "| model | T | params | lr | steps | final test MSE | best test MSE | verdict | steps/s | wall time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["model"], r["T"]), []).append(r)
    for group in groups.values():
        r = group[0]
        verdicts = sorted({g["verdict"] for g in group})
        verdict_text = (
            verdicts[0]
            if len(verdicts) == 1
            else "; ".join(f"{sum(g['verdict'] == v for g in group)}x {v}" for v in verdicts)
        )
        steps = "/".join(sorted({str(g["steps"]) for g in group}))
        lines.append(
            f"| {r['label']} | {r['T']} | {r['params']:,} | {r['lr']:g} | {steps} | "
            f"{_spread([g['test_mse'] for g in group])} | {_spread([g['best_test_mse'] for g in group])} | "
            f"{verdict_text} | {_mean([g['steps_per_s'] for g in group]):.2f} | "
            f"{_mean([g['wall_s'] for g in group]):.0f} |"
        )
    lines.append("")
    write_text(path, "\n".join(lines))
