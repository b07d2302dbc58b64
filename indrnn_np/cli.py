"""Layer 5: the command line, ``python -m indrnn_np <command> [options]``.

Commands
--------
gradcheck   finite-difference check of every gradient of the IndRNN layer
dynamics    Eq. 4 in numbers and plots; the u constraint in a training run
train       train an IndRNN on a task, with progress, metrics and checkpoints
study       the paper's adding-problem study with RNN, IRNN and LSTM baselines
neurons     read the neurons of a trained 2-layer IndRNN (paper Fig. 3 and 4)
bench layer forward+backward time of one layer, per backend
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Format ``rows`` as a Markdown table; ``columns`` are (key, header, format)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, rule]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            cells.append("—" if v is None else format(v, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class CliError(Exception):
    """A bad option value: printed as one line, exit status 2."""


def available_backends() -> list[str]:
    """The backends that can run here: numpy and cpu always, cuda when a target is found."""
    from .ops import cuda_available

    return ["numpy", "cpu"] + (["cuda"] if cuda_available() else [])


def cmd_gradcheck(args) -> int:
    from .gradcheck import DEFAULT_TOLERANCE, check_indrnn

    backends = args.backend or available_backends()
    rows = []
    for backend in backends:
        for activation in ("relu", "tanh", "identity"):
            for r in check_indrnn(backend, activation, seed=args.seed):
                rows.append(
                    dict(
                        backend=backend,
                        activation=activation,
                        array=r.name,
                        rel_error=r.rel_error,
                        result="pass" if r.passed else "FAIL",
                    )
                )
    print("IndRNN layer gradient check: float64, T=12 B=3 M=4 N=5, centered differences (eps=1e-6),")
    print(f"normwise relative error max|a-n| / (max|a| + max|n|), pass below {DEFAULT_TOLERANCE:g}.\n")
    print(
        format_table(
            rows,
            [
                ("backend", "backend", "s"),
                ("activation", "activation", "s"),
                ("array", "array", "s"),
                ("rel_error", "max rel. error", ".2e"),
                ("result", "result", "s"),
            ],
        )
    )
    failed = [r for r in rows if r["result"] != "pass"]

    from .gradcheck import closed_form_check

    print("\nEq. 4 three ways: identity activation, ∂J/∂h_T = 1 at the last step only (T=12),")
    print("so the closed form is ∂J/∂h_0 = u^T for every neuron (batch row 0 shown).\n")
    for backend in backends:
        cf_rows, errors = closed_form_check(backend, seed=args.seed)
        print(f"backend {backend}:")
        print(
            format_table(
                cf_rows,
                [
                    ("neuron", "neuron", "d"),
                    ("u", "u", ".6f"),
                    ("closed_form", "closed form u^T", ".12e"),
                    ("bptt", "BPTT dh0", ".12e"),
                    ("finite_difference", "finite difference", ".12e"),
                ],
            )
        )
        ok = errors["bptt_vs_closed_form"] < 1e-12 and errors["fd_vs_closed_form"] < DEFAULT_TOLERANCE
        print(
            f"rel. error: BPTT vs closed form {errors['bptt_vs_closed_form']:.2e}, finite difference vs closed form "
            f"{errors['fd_vs_closed_form']:.2e}, finite difference vs BPTT {errors['fd_vs_bptt']:.2e}: "
            f"{'pass' if ok else 'FAIL'}\n"
        )
        if not ok:
            failed.append({"closed_form": backend})
    n_checks = len(rows) + len(backends)
    print(f"{n_checks - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_dynamics(args) -> int:
    from .dynamics_report import write_report

    if args.epsilon <= 0 or args.gamma <= args.epsilon:
        raise CliError(f"need 0 < --epsilon < --gamma; got epsilon={args.epsilon}, gamma={args.gamma}")
    _check_writable_dir(args.out)
    write_report(args.out, epsilon=args.epsilon, gamma=args.gamma, train_steps=args.train_steps)
    return 0


def _check_writable_dir(path: str) -> None:
    """Create ``path`` if needed; a one-line CliError when it cannot be written."""
    import os

    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create output directory {path!r}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise CliError(f"output directory {path!r} is not writable")


def _table_and_json(rows, columns, json_path) -> int:
    """Print ``rows`` as a Markdown table and, with ``json_path``, write them as JSON too."""
    print(format_table(rows, columns))
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def _add_ms(rows, keys) -> None:
    """Add a ``<name>_ms`` column in milliseconds for each ``<name>_s`` key."""
    for r in rows:
        for key in keys:
            r[key.replace("_s", "_ms")] = 1e3 * r[key]


def cmd_bench_layer(args) -> int:
    from .bench import bench_layer, machine_description

    backends = args.backend or ["numpy", "cpu"]
    dtype = np.dtype(args.dtype)
    if backends == ["cuda"]:
        return _bench_cuda(args, dtype)
    if "cuda" in backends:
        raise CliError("--backend cuda runs on its own (it has its own table); leave out the CPU backends")
    rows = []
    for T in args.T:
        rows += bench_layer(backends, T=T, B=args.B, M=args.M, N=args.N, dtype=dtype, repeats=args.repeats)
    _add_ms(rows, ("forward_s", "backward_s", "total_s", "recurrence_s"))
    print(f"IndRNN layer forward+backward, {dtype.name}, relu, median of {args.repeats} runs")
    print(f"machine: {machine_description()}\n")
    return _table_and_json(
        rows,
        [
            ("backend", "backend", "s"),
            ("T", "T", "d"),
            ("B", "B", "d"),
            ("M", "M", "d"),
            ("N", "N", "d"),
            ("forward_ms", "forward (ms)", ".1f"),
            ("backward_ms", "backward (ms)", ".1f"),
            ("total_ms", "fwd+bwd (ms)", ".1f"),
            ("recurrence_ms", "recurrence only, fwd+bwd (ms)", ".1f"),
            ("speedup_vs_numpy", "speed-up vs numpy", ".1f"),
            ("compile_s", "first call (s)", ".2f"),
        ],
        args.json,
    )


def cmd_bench_batchnorm(args) -> int:
    from .bench import bench_batchnorm, machine_description

    rows = bench_batchnorm(T=args.T, B=args.B, N=args.N, layers=args.layers, repeats=args.repeats)
    _add_ms(rows, ("bn_forward_s", "bn_backward_s", "bn_total_s", "step_s"))
    print(f"batch norm over time, float32, median of {args.repeats} runs; machine: {machine_description()}")
    print(
        f"network: {args.layers} x {args.N} IndRNN with BN over time (pixel MNIST), forward+backward of one "
        f"batch; largest |y_cpu - y_numpy| = {rows[0]['max_abs_diff']:.2g}\n"
    )
    return _table_and_json(
        rows,
        [
            ("backend", "BN backend", "s"),
            ("T", "T", "d"),
            ("B", "B", "d"),
            ("N", "N", "d"),
            ("bn_forward_ms", "BN forward (ms)", ".2f"),
            ("bn_backward_ms", "BN backward (ms)", ".2f"),
            ("bn_speedup", "BN speed-up", ".1f"),
            ("step_ms", "network fwd+bwd (ms)", ".1f"),
            ("step_speedup", "network speed-up", ".2f"),
        ],
        args.json,
    )


def _default_out(task: str, T: int) -> str:
    """runs/<task>_T<T>, or the first free runs/<task>_T<T>-<k>: a default never reuses a run's folder."""
    import os

    base = os.path.join("runs", f"{task}_T{T}")
    out, k = base, 1
    while os.path.exists(os.path.join(out, "checkpoint.npz")) or os.path.exists(
        os.path.join(out, "metrics.csv")
    ):
        k += 1
        out = f"{base}-{k}"
    return out


#: Options of `train` that --resume takes from the checkpoint instead.
_RESUME_FIXED = (
    "model",
    "T",
    "batch",
    "layers",
    "hidden",
    "residual",
    "bn",
    "bn_position",
    "dropout",
    "shift",
    "activation",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "decay_every",
    "u_constraint",
    "gamma",
    "clip_value",
    "clip_norm",
    "eval_every",
    "test_size",
    "checkpoint_every",
    "seed",
    "backend",
    "dtype",
    "data",
)


def cmd_train(args) -> int:
    from .tasks.data import DataError
    from .train import CheckpointError, TrainConfig, TrainingDiverged, TrainingInterrupted, train

    given = {k: getattr(args, k) for k in _RESUME_FIXED if getattr(args, k) is not None}
    if args.resume:
        if given:
            raise CliError(
                f"--resume continues a run with its own settings; drop {', '.join('--' + k.replace('_', '-') for k in given)}"
            )
        if args.out:
            raise CliError("give the run's folder once: --resume DIR (without --out)")
        out = args.resume
        cfg = TrainConfig(task=args.task, steps=args.steps or 0)
    else:
        from .train import recipe

        try:
            cfg = recipe(args.task, **given)
        except TypeError as exc:
            raise CliError(str(exc)) from None
        if args.steps is not None:
            cfg.steps = args.steps
        if args.no_clip:
            cfg.clip_value = None
        try:
            cfg.validate()
        except ValueError as exc:
            raise CliError(str(exc)) from None
        out = args.out or _default_out(cfg.task, cfg.T)
    _check_writable_dir(out)
    try:
        train(cfg, out, resume=bool(args.resume), progress=not args.quiet)
    except (CheckpointError, FileExistsError, DataError) as exc:
        raise CliError(str(exc)) from None
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:
        print(str(exc), file=sys.stderr)
        return 130
    return 0


def cmd_study(args) -> int:
    from .study import MODELS, run_study

    models = tuple(args.models) if args.models else MODELS
    if args.steps_scale <= 0:
        raise CliError(f"--steps-scale must be > 0; got {args.steps_scale}")
    _check_writable_dir(args.out)
    run_study(
        args.out,
        preset="quick" if args.quick else "default",
        steps_scale=args.steps_scale,
        models=models,
        progress=not args.quiet,
    )
    return 0


def cmd_evaluate(args) -> int:
    from .analysis import load_run
    from .tasks.data import DataError
    from .train import CheckpointError

    try:
        model, cfg, task = load_run(args.run)
    except (CheckpointError, DataError) as exc:
        raise CliError(str(exc)) from None
    result = task.evaluate(model) if cfg.task == "adding" else task.evaluate(model, full=True)
    ((metric, value),) = result.items()
    print(f"{args.run}: {cfg.task}, {metric} = {value:.5f} on the full test set")
    if metric == "test_error":
        print(f"test accuracy = {100 * (1 - value):.2f} %")
    with open(os.path.join(args.run, "evaluation.json"), "w") as fh:
        json.dump({metric: value, "full_test_set": True}, fh, indent=2)
    return 0


def cmd_neurons(args) -> int:
    from .analysis import AnalysisError, neuron_report
    from .train import CheckpointError

    if args.out:
        _check_writable_dir(args.out)
    try:
        neuron_report(args.run, args.out, seq=args.seq)
    except (AnalysisError, CheckpointError) as exc:
        raise CliError(str(exc)) from None
    return 0


def _bench_cuda(args, dtype) -> int:
    from .bench import bench_cuda_layer, machine_description
    from .ops import CudaUnavailableError
    from .ops.indrnn import _cuda_kernels

    try:
        _cuda_kernels()
    except CudaUnavailableError as exc:
        raise CliError(str(exc)) from None
    from numba import cuda

    rows = bench_cuda_layer(Ts=args.T, B=args.B, M=args.M, N=args.N, dtype=dtype, repeats=args.repeats)
    for r in rows:
        r["recurrence_ms"] = 1e3 * r["recurrence_s"]
        r["layer_ms"] = 1e3 * r["layer_s"]
        for k in ("torch_loop_s", "torch_lstm_s"):
            if k in r:
                r[k.replace("_s", "_ms")] = 1e3 * r[k]
    name = getattr(cuda.get_current_device(), "name", "Numba's CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else name
    print(f"IndRNN layer forward+backward on {name}, {dtype.name}, ReLU, median of {args.repeats} runs")
    print(f"host: {machine_description()}\n")
    print(
        format_table(
            rows,
            [
                ("T", "T", "d"),
                ("B", "B", "d"),
                ("M", "M", "d"),
                ("N", "N", "d"),
                ("recurrence_ms", "recurrence fwd+bwd (ms)", ".3f"),
                ("recurrence_GBps", "recurrence GB/s", ".0f"),
                ("fraction_of_copy", "of copy bandwidth", ".0%"),
                ("layer_ms", "whole layer fwd+bwd (ms)", ".3f"),
                ("torch_loop_ms", "PyTorch per-step loop (ms)", ".2f"),
                ("torch_loop_over_layer", "loop / layer", ".1f"),
                ("torch_lstm_ms", "cuDNN LSTM (ms)", ".3f"),
                ("torch_lstm_over_layer", "LSTM / layer", ".2f"),
            ],
        )
    )
    print(f"\ndevice copy bandwidth measured in the same run: {rows[0]['copy_GBps']:.0f} GB/s (read + write)")
    if any("torch_note" in r for r in rows):
        print(rows[0]["torch_note"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def cmd_bench_train(args) -> int:
    from .bench import bench_train, machine_description

    r = bench_train(
        T=args.T,
        B=args.B,
        layers=args.layers,
        hidden=args.hidden,
        steps=args.steps,
        backend=args.backend,
        dtype=args.dtype,
    )
    print(
        f"training step, adding problem: T={r['T']}, batch {r['B']}, {r['layers']} x {r['hidden']} IndRNN, "
        f"{r['dtype']}, backend {r['backend']}, Adam, clip ±10"
    )
    print(f"machine: {machine_description()}\n")
    print(f"{r['steps_per_s']:.2f} steps/s ({1e3 * r['step_s']:.1f} ms per step, median of {args.steps})\n")
    rows = [
        dict(part=label, ms=1e3 * r[f"{key}_s"], share=r[f"{key}_share"])
        for key, label in (
            ("gemm", "GEMMs (BLAS)"),
            ("recurrence", "recurrence kernels (Numba)"),
            ("optimizer", "optimizer + u projection"),
            ("data", "data generation"),
            ("other", "other: Python glue, element-wise NumPy, allocation"),
        )
    ]
    print(
        format_table(rows, [("part", "part", "s"), ("ms", "ms per step", ".2f"), ("share", "share", ".0%")])
    )
    print(f"\nstep time / (GEMM + recurrence time) = {r['step_over_gemm_plus_recurrence']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=2)
    return 0


def render_compare(res: dict, scaling: dict, machine: str, repeats: int) -> str:
    """The Markdown report of ``bench compare`` (also used to re-render a saved compare.json)."""
    cols = [
        ("size", "size", "s"),
        ("T", "T", "d"),
        ("B", "B", "d"),
        ("M", "M", "d"),
        ("N", "N", "d"),
        ("roofline_ms", "roofline (ms)", ".1f"),
        ("cpu_ms", "indrnn-np cpu (ms)", ".1f"),
        ("cpu_roofline_fraction", "cpu: of roofline", ".0%"),
        ("numpy_ms", "indrnn-np numpy (ms)", ".1f"),
        ("jax_scan_ms", "JAX scan (ms)", ".1f"),
        ("jax_compile_s", "JAX compile (s)", ".2f"),
        ("torch_rnn_ms", "torch RNN fused (ms)", ".1f"),
        ("torch_lstm_ms", "torch LSTM (ms)", ".1f"),
        ("torch_loop_ms", "torch per-step loop (ms)", ".0f"),
    ]
    for r in res["rows"]:
        for k in (
            "roofline_s",
            "cpu_s",
            "numpy_s",
            "jax_scan_s",
            "torch_rnn_s",
            "torch_lstm_s",
            "torch_loop_s",
        ):
            if k in r:
                r[k[: -len("_s")] + "_ms"] = 1e3 * r[k]
    ratio_cols = [
        ("size", "size", "s"),
        ("numpy_over_cpu", "numpy / cpu", ".1f"),
        ("jax_scan_over_cpu", "JAX / cpu", ".2f"),
        ("torch_rnn_over_cpu", "torch RNN / cpu", ".2f"),
        ("torch_lstm_over_cpu", "torch LSTM / cpu", ".2f"),
        ("torch_loop_over_cpu", "torch loop / cpu", ".1f"),
        ("gemm_gflops", "BLAS GFLOP/s at these shapes", ".0f"),
        ("recurrence_MB", "recurrence MB moved", ".0f"),
    ]
    lines = [
        f"One IndRNN layer, forward + backward, float32, ReLU; median of {repeats} runs after warm-up.",
        f"Machine: {machine}; copy bandwidth {res['bandwidth_GBps']:.1f} GB/s (read + write).",
        "",
        format_table(res["rows"], cols),
        "",
        "Ratios (time / indrnn-np cpu time, pair by pair; > 1: cpu faster):",
        "",
        format_table(res["rows"], ratio_cols),
    ]
    for note in res["notes"] + scaling["notes"]:
        lines.append(f"\nskipped: {note}")
    text = "\n".join(lines)
    return text


def cmd_bench_compare(args) -> int:
    from .bench import machine_description
    from .bench_peers import bench_scaling, bench_sizes
    from .plots import plot_scaling

    _check_writable_dir(args.out)
    if args.quick:  # toy sizes: checks that every part runs, measures nothing worth quoting
        sizes = {"toy": dict(T=20, B=2, M=3, N=4)}
        res = bench_sizes(sizes, repeats=args.repeats, peers=not args.no_peers)
        scaling = bench_scaling(Ts=(10, 30), B=2, M=2, N=4, peers=not args.no_peers, repeats=2)
    else:
        res = bench_sizes(repeats=args.repeats, peers=not args.no_peers)
        scaling = bench_scaling(peers=not args.no_peers, repeats=max(3, args.repeats // 2))
    machine = machine_description()
    text = render_compare(res, scaling, machine, args.repeats)
    print(text)
    with open(os.path.join(args.out, "compare.md"), "w") as fh:
        fh.write(text + "\n")
    with open(os.path.join(args.out, "compare.json"), "w") as fh:
        json.dump({"machine": machine, **res, "scaling": scaling}, fh, indent=2)
    plot_scaling(
        os.path.join(args.out, "scaling.png"),
        scaling["rows"],
        f"one layer, B={scaling['B']}, M={scaling['M']}, N={scaling['N']}",
    )
    print(f"\nwrote {args.out}/compare.md, compare.json, scaling.png")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m indrnn_np", description="IndRNN in NumPy and Numba.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gradcheck", help="finite-difference check of every IndRNN gradient")
    g.add_argument(
        "--backend",
        action="append",
        choices=["numpy", "cpu", "cuda"],
        help="repeatable; default: every available backend",
    )
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_gradcheck)

    d = sub.add_parser("dynamics", help="Eq. 4 in numbers and plots, and the u constraint in training")
    d.add_argument("--out", required=True, help="directory for the plots and dynamics.json")
    d.add_argument("--epsilon", type=float, default=0.01, help="smallest useful gradient ε (default 0.01)")
    d.add_argument("--gamma", type=float, default=2.0, help="largest tolerated gradient γ (default 2)")
    d.add_argument(
        "--train-steps", type=_positive_int, default=300, help="steps of the training demonstration"
    )
    d.set_defaults(func=cmd_dynamics)

    t = sub.add_parser(
        "train",
        help="train an IndRNN on a task (progress, metrics, checkpoints, resume)",
        description="Train an IndRNN. Unset options take the defaults of indrnn_np.train.TrainConfig, "
        "which solve the adding problem at T=100 (test MSE < 0.01) in a couple of minutes on 2 cores.",
    )
    t.add_argument(
        "task",
        choices=["adding", "mnist", "pmnist", "rowmnist", "ptb-char"],
        help="adding problem; pixel, permuted or row-by-row MNIST; char-level Penn Treebank",
    )
    t.add_argument(
        "--data",
        help="folder of the data files (MNIST IDX files, or PTB text); default: "
        "$INDRNN_MNIST_DIR / $INDRNN_PTB_DIR, else the copies in the data extra",
    )
    t.add_argument("--out", help="run folder (default runs/<task>_T<T>, never an existing run's)")
    t.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR from its checkpoint (--steps may extend it)"
    )
    t.add_argument(
        "--model",
        choices=["indrnn", "rnn-tanh", "irnn", "lstm"],
        help="IndRNN (default) or a single-layer baseline: tanh RNN, IRNN (ReLU RNN, U = I), LSTM",
    )
    t.add_argument("--steps", type=_positive_int, help="total training steps (default 3000)")
    t.add_argument("--T", type=_positive_int, help="sequence length (default 100)")
    t.add_argument("--batch", type=_positive_int, help="batch size (default 50)")
    t.add_argument("--layers", type=_positive_int, help="IndRNN layers, or residual depth (default 2)")
    t.add_argument("--hidden", type=_positive_int, help="neurons per layer (default 128)")
    t.add_argument(
        "--residual", action="store_const", const=True, help="residual IndRNN (pre-activation blocks)"
    )
    t.add_argument(
        "--bn", choices=["none", "time", "frame"], help="batch norm: none (default), over time, frame-wise"
    )
    t.add_argument(
        "--bn-position",
        dest="bn_position",
        choices=["before", "after"],
        help="BN before the recurrence (Weight-BN-IndRec, default) or after it",
    )
    t.add_argument("--dropout", type=float, help="dropout, one mask per sequence (default 0)")
    t.add_argument(
        "--shift",
        type=int,
        help="MNIST tasks: move each training image by a random whole number of pixels, "
        "up to this many in each direction (default 0: no augmentation)",
    )
    t.add_argument("--activation", choices=["relu", "tanh", "identity"], help="default relu")
    t.add_argument("--optimizer", choices=["adam", "sgd"], help="default adam")
    t.add_argument("--lr", type=float, help="learning rate (default 2e-4, the paper's for ReLU models)")
    t.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    t.add_argument(
        "--weight-decay",
        dest="weight_decay",
        type=float,
        help="L2 on weights, not on u or biases (default 0)",
    )
    t.add_argument(
        "--schedule",
        choices=["step", "plateau", "none"],
        help="lr x0.1 every --decay-every steps (default), when the mean training loss between "
        "evaluations stops falling (plateau; the test metric is never used), or none",
    )
    t.add_argument("--decay-every", dest="decay_every", type=_positive_int, help="default 20000 (the paper)")
    t.add_argument(
        "--u-constraint",
        dest="u_constraint",
        choices=["symmetric", "nonnegative", "none"],
        help="project u into [-u_max, u_max] (default), [0, u_max], or not at all",
    )
    t.add_argument("--gamma", type=float, help="largest gradient growth γ; u_max = γ^(1/T) (default 2)")
    t.add_argument(
        "--clip-value", dest="clip_value", type=float, help="element-wise gradient clamp (default 10)"
    )
    t.add_argument("--no-clip", action="store_true", help="no element-wise gradient clamp")
    t.add_argument(
        "--clip-norm", dest="clip_norm", type=float, help="global gradient-norm clipping (default off)"
    )
    t.add_argument(
        "--eval-every", dest="eval_every", type=_positive_int, help="steps between evaluations (default 100)"
    )
    t.add_argument("--test-size", dest="test_size", type=_positive_int, help="test sequences (default 1000)")
    t.add_argument("--checkpoint-every", dest="checkpoint_every", type=_positive_int, help="default 500")
    t.add_argument("--seed", type=int, help="default 0")
    t.add_argument("--backend", choices=["cpu", "numpy", "cuda"], help="default cpu")
    t.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    t.add_argument("--quiet", action="store_true", help="no progress line")
    t.set_defaults(func=cmd_train)

    st = sub.add_parser(
        "study", help="the paper's adding-problem study: RNN, IRNN, LSTM, IndRNN at several T"
    )
    st.add_argument("task", choices=["adding"])
    st.add_argument("--out", required=True, help="study folder (runs inside it are reused or resumed)")
    st.add_argument(
        "--quick", action="store_true", help="tiny CI-sized preset (seconds), not the hour-long default"
    )
    st.add_argument(
        "--steps-scale", dest="steps_scale", type=float, default=1.0, help="multiply every step budget"
    )
    st.add_argument("--models", nargs="+", choices=["indrnn", "rnn-tanh", "irnn", "lstm"], help="default all")
    st.add_argument("--quiet", action="store_true", help="no progress line")
    st.set_defaults(func=cmd_study)

    ev = sub.add_parser("evaluate", help="the test metric of a run's checkpoint on the full test set")
    ev.add_argument("--run", required=True, help="a run folder")
    ev.set_defaults(func=cmd_evaluate)

    ne = sub.add_parser(
        "neurons", help="plot a trained 2-layer IndRNN's neurons; the one-neuron second layer"
    )
    ne.add_argument("--run", required=True, help="a run folder of `train adding` (2-layer IndRNN)")
    ne.add_argument("--out", help="where to write the plots (default: the run folder)")
    ne.add_argument("--seq", type=int, default=0, help="which test sequence to plot (default 0)")
    ne.set_defaults(func=cmd_neurons)

    b = sub.add_parser("bench", help="benchmarks")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    bl = bsub.add_parser("layer", help="forward+backward time of one IndRNN layer")
    bl.add_argument(
        "--backend",
        action="append",
        choices=["numpy", "cpu", "cuda"],
        help="repeatable; default numpy and cpu",
    )
    bl.add_argument("--T", type=_positive_int, nargs="+", default=[1000])
    bl.add_argument("--B", type=_positive_int, default=50)
    bl.add_argument("--M", type=_positive_int, default=128)
    bl.add_argument("--N", type=_positive_int, default=128)
    bl.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bl.add_argument("--repeats", type=_positive_int, default=7)
    bl.add_argument("--json", help="also write the rows to this JSON file")
    bl.set_defaults(func=cmd_bench_layer)
    bc = bsub.add_parser(
        "compare", help="this project against PyTorch and JAX, and against the machine's limits"
    )
    bc.add_argument("--out", required=True, help="folder for compare.md, compare.json and scaling.png")
    bc.add_argument("--repeats", type=_positive_int, default=7)
    bc.add_argument(
        "--no-peers", dest="no_peers", action="store_true", help="only this project and the limits"
    )
    bc.add_argument("--quick", action="store_true", help="toy sizes, to check the command runs")
    bc.set_defaults(func=cmd_bench_compare)
    bn = bsub.add_parser(
        "batchnorm",
        help="batch norm over time: NumPy reference vs Numba, alone and in the pixel-MNIST network",
    )
    bn.add_argument("--T", type=_positive_int, default=784)
    bn.add_argument("--B", type=_positive_int, default=32)
    bn.add_argument("--N", type=_positive_int, default=128)
    bn.add_argument("--layers", type=_positive_int, default=6)
    bn.add_argument("--repeats", type=_positive_int, default=7)
    bn.add_argument("--json", help="also write the rows to this JSON file")
    bn.set_defaults(func=cmd_bench_batchnorm)
    bt = bsub.add_parser("train", help="a training step of the adding network, split into its parts")
    bt.add_argument("--T", type=_positive_int, default=1000)
    bt.add_argument("--B", type=_positive_int, default=50)
    bt.add_argument("--layers", type=_positive_int, default=2)
    bt.add_argument("--hidden", type=_positive_int, default=128)
    bt.add_argument("--steps", type=_positive_int, default=20)
    bt.add_argument("--backend", choices=["cpu", "numpy"], default="cpu")
    bt.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bt.add_argument("--json", help="also write the result to this JSON file")
    bt.set_defaults(func=cmd_bench_train)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
