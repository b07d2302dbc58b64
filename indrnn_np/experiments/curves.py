"""Several runs' learning curves on one figure (the T = 1000 and T = 5000 runs side by side, say).

Each run folder's ``metrics.csv`` is read as it stands, so a run still in
progress, or one stopped before its steps, is drawn to its last evaluation.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..tasks.adding import BASELINE_MSE
from ..train import RunDir
from ..train.rundir import metric_of_columns


class CurvesError(UserError):
    """Runs whose curves cannot share a figure."""


def compare_runs(runs, out, *, labels=None, title: str = "") -> list[dict]:
    """Plot the test metric of several run folders against the training step into ``out``.

    Parameters
    ----------
    runs : sequence of paths
        Run folders of ``train`` (each with a checkpoint and ``metrics.csv``).
    out : path
        The figure to write, ``.png`` or another format matplotlib writes (checked before anything is read).
    labels : sequence of str, optional
        One per run; default the folders' names.
    title : str

    Returns
    -------
    list of dict
        Per run: ``run``, ``label``, ``task``, ``T``, ``metric``, ``last_step``,
        ``last`` (the metric at the last evaluation) and ``best``.

    Raises
    ------
    CurvesError
        No runs, labels of another count, or runs with different test metrics.
    RunDirError
        A folder without a readable checkpoint or metrics file.
    OutputError
        ``out`` cannot be written.
    """
    from ..plots import check_figure_file, plot_curves

    runs = [Path(r) for r in runs]
    if not runs:
        raise CurvesError("give at least one run folder")
    if labels is not None and len(labels) != len(runs):
        raise CurvesError(f"give one label per run: {len(runs)} runs, {len(labels)} labels")
    check_figure_file(out)
    rows, curves = [], []
    for i, path in enumerate(runs):
        run = RunDir(path)
        cfg = run.read_config()
        m = run.read_metrics()
        metric = metric_of_columns(m)
        if not len(m["step"]):
            raise CurvesError(f"{path}: no evaluation in its metrics yet")
        label = labels[i] if labels is not None else path.name
        curves.append((label, m["step"], m[metric]))
        rows.append(
            dict(
                run=str(path),
                label=label,
                task=cfg.task,
                T=cfg.T,
                metric=metric,
                last_step=int(m["step"][-1]),
                last=float(m[metric][-1]),
                best=float(m[metric].min()),
            )
        )
    metrics = sorted({r["metric"] for r in rows})
    if len(metrics) > 1:
        raise CurvesError(f"the runs measure different things ({', '.join(metrics)}); plot them apart")
    baseline = BASELINE_MSE if all(r["task"] == "adding" for r in rows) else None
    plot_curves(out, curves, ylabel=metrics[0], title=title, baseline=baseline)
    return rows


__all__ = ["CurvesError", "compare_runs"]
