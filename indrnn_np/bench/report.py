"""What each benchmark command prints: Markdown tables with the machine and the settings named."""

from __future__ import annotations

import json
import os

import numpy as np

from ..report import check_writable_dir, check_writable_file, format_table, make_dir, write_json
from .sizes import LAYER_SIZES, SIMULATOR_LAYER_SIZES


def _add_ms(rows, keys) -> None:
    """Add a ``<name>_ms`` column in milliseconds for each ``<name>_s`` key present."""
    for r in rows:
        for key in keys:
            if key in r:
                r[key[: -len("_s")] + "_ms"] = 1e3 * r[key]


def layer_report(backends, Ts, B, M, N, dtype, repeats, json_path=None) -> str:
    """``bench layer``: one IndRNN layer's forward+backward per backend (CPU backends)."""
    import numpy as np

    from ..train.memory import Phase, check_fits, rehearse
    from .layer import bench_layer, machine_description

    dtype = np.dtype(dtype)

    def phases(T):  # the benchmark itself, at a few steps
        return [
            Phase(
                "step",
                "forward and backward of one layer",
                lambda: bench_layer(backends, T, B, M, N, dtype, 1),
            )
        ]

    T = max(Ts)
    check_fits(
        rehearse(f"bench layer, T = {T}, B = {B}, M = {M}, N = {N}", phases, T, levers=("--T", "--B", "--N"))
    )
    if json_path:
        check_writable_file(json_path)
    rows = []
    for T in Ts:
        rows += bench_layer(backends, T=T, B=B, M=M, N=N, dtype=dtype, repeats=repeats)
    _add_ms(rows, ("forward_s", "backward_s", "total_s", "recurrence_s"))
    if json_path:
        write_json(rows, json_path)
    return "\n".join(
        [
            f"IndRNN layer forward+backward, {dtype.name}, relu, median of {repeats} runs",
            f"machine: {machine_description()}",
            "",
            format_table(
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
            ),
        ]
    )


def cuda_layer_report(
    Ts=None, B=None, M=None, N=None, dtype="float32", repeats=None, json_path=None, progress=None
):
    """``bench layer --backend cuda``: the CUDA layer against the device's copy bandwidth and PyTorch.

    A size left as None takes its value from :data:`LAYER_SIZES`, or in Numba's CUDA simulator from
    :data:`SIMULATOR_LAYER_SIZES`. ``progress`` (optional) is called with a line before each part.
    """
    import numpy as np

    from ..ops import require_cuda
    from .gpu import bench_cuda_layer, device_name
    from .layer import machine_description

    simulator = require_cuda().simulator_enabled()
    if json_path:
        check_writable_file(json_path)
    given = dict(T=Ts, B=B, M=M, N=N, repeats=repeats)
    default = SIMULATOR_LAYER_SIZES if simulator else LAYER_SIZES
    size = {k: default[k] if v is None else v for k, v in given.items()}
    notes = []
    if simulator:
        notes.append(
            "Numba's CUDA simulator runs every GPU thread as a Python thread: these times say nothing about "
            "a GPU (sizes not given: " + " ".join(f"--{k} {v}" for k, v in _flat(SIMULATOR_LAYER_SIZES)) + ")"
        )
        larger = [
            k for k in ("T", "B", "M", "N") if max(_list(size[k])) > max(_list(SIMULATOR_LAYER_SIZES[k]))
        ]
        if larger and progress is not None:
            progress(
                f"Numba's CUDA simulator runs every GPU thread as a Python thread: {', '.join(larger)} above its "
                f"sizes ({' '.join(f'--{k} {v}' for k, v in _flat(SIMULATOR_LAYER_SIZES))}, about 2 s a layer "
                "call) take longer"
            )
    dtype = np.dtype(dtype)
    rows = bench_cuda_layer(
        Ts=size["T"],
        B=size["B"],
        M=size["M"],
        N=size["N"],
        dtype=dtype,
        repeats=size["repeats"],
        progress=progress,
    )
    repeats = size["repeats"]
    _add_ms(rows, ("recurrence_s", "layer_s", "torch_loop_s", "torch_lstm_s"))
    if json_path:
        write_json(rows, json_path)
    lines = [
        f"IndRNN layer forward+backward on {device_name()}, {dtype.name}, ReLU, median of {repeats} runs",
        f"host: {machine_description()}",
        *notes,
        "",
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
        ),
        "",
        f"device copy bandwidth measured in the same run: {rows[0]['copy_GBps']:.0f} GB/s (read + write)",
    ]
    lines += sorted({r["torch_note"] for r in rows if "torch_note" in r})
    return "\n".join(lines)


def _list(v) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def _flat(sizes: dict):
    """(option, text) pairs of a sizes dict, lists as space-separated values."""
    return [(k, " ".join(str(x) for x in _list(v))) for k, v in sizes.items()]


def batchnorm_report(T, B, N, layers, repeats, json_path=None) -> str:
    """``bench batchnorm``: NumPy reference against the Numba batch norm, alone and in a network."""
    from ..train.memory import Phase, check_fits, rehearse
    from .layer import bench_batchnorm, machine_description

    def phases(Tp):  # the benchmark itself, at a few steps
        return [
            Phase(
                "step", "batch norm and a training step", lambda: bench_batchnorm(Tp, B, N, layers, repeats=1)
            )
        ]

    what = f"bench batchnorm, T = {T}, B = {B}, N = {N}"
    check_fits(rehearse(what, phases, T, levers=("--T", "--B", "--N")))
    if json_path:
        check_writable_file(json_path)
    rows = bench_batchnorm(T=T, B=B, N=N, layers=layers, repeats=repeats)
    _add_ms(rows, ("bn_forward_s", "bn_backward_s", "bn_total_s", "step_s"))
    if json_path:
        write_json(rows, json_path)
    return "\n".join(
        [
            f"batch norm over time, float32, median of {repeats} runs; machine: {machine_description()}",
            f"network: {layers} x {N} IndRNN with BN over time (pixel MNIST), forward+backward of one "
            f"batch; largest |y_cpu - y_numpy| = {rows[0]['max_abs_diff']:.2g}",
            "",
            format_table(
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
            ),
        ]
    )


def train_report(T, B, layers, hidden, steps, backend, dtype, json_path=None) -> str:
    """``bench train``: a training step of the adding network and its parts."""
    from ..train.memory import Phase, check_fits, rehearse
    from .layer import machine_description
    from .train import PARTS, adding_step, bench_train

    def phases(Tp):  # the benchmark's steps, at a few steps of T
        s = {}

        def build():
            s["step"] = adding_step(Tp, B, layers, hidden, backend, dtype)

        return [Phase("params", "building the model", build)] + [
            Phase("step", "training step", lambda: s["step"]()) for _ in range(2)
        ]

    what = f"bench train, T = {T}, batch {B}"
    check_fits(rehearse(what, phases, T, levers=("--T", "--B", "--hidden"), backend=backend))
    if json_path:
        check_writable_file(json_path)
    r = bench_train(T=T, B=B, layers=layers, hidden=hidden, steps=steps, backend=backend, dtype=dtype)
    if json_path:
        write_json(r, json_path)
    labels = {**PARTS, "other": "other: Python glue, element-wise NumPy, allocation"}
    rows = [
        dict(part=label, ms=1e3 * r[f"{key}_s"], share=r[f"{key}_share"]) for key, label in labels.items()
    ]
    return "\n".join(
        [
            f"training step, adding problem: T={T}, batch {B}, {layers} x {hidden} IndRNN, {dtype}, "
            f"backend {backend}, Adam, clip ±10",
            f"machine: {machine_description()}",
            "",
            f"{r['steps_per_s']:.2f} steps/s ({1e3 * r['step_s']:.1f} ms per step, median of {steps})",
            "",
            format_table(
                rows, [("part", "part", "s"), ("ms", "ms per step", ".2f"), ("share", "share", ".0%")]
            ),
            "",
            f"step time / (GEMM + recurrence time) = {r['step_over_gemm_plus_recurrence']:.2f}",
        ]
    )


def _ms(row, key):
    return None if key not in row else 1e3 * row[key]


def render_compare(res: dict, scaling: dict, machine: str) -> str:
    """The Markdown report of ``bench compare`` (also used to re-render a saved compare.json)."""
    layer_rows = []
    for r in res["layer"]:
        layer_rows.append(
            {
                "size": f"({r['T']}, {r['B']}, {r['M']}, {r['N']})",
                "cpu": _ms(r, "cpu_s"),
                "cpu2": _ms(r, "cpu (indrnn_np first)_s"),
                "unfused": _ms(r, "cpu (unfused)_s"),
                "numpy": _ms(r, "numpy_s"),
                "jax": _ms(r, "jax_s"),
                "torch": _ms(r, "torch-rnn_s"),
                "bound": _ms(r, "bound_bound_s"),
                "ratio": r.get("ours_over_bound"),
                "jax_x": r.get("jax_over_ours"),
            }
        )
    step_rows = []
    for r in res["step"]:
        step_rows.append(
            {
                "T": r["T"],
                "ours": _ms(r, "indrnn_s"),
                "ours2": _ms(r, "indrnn (indrnn_np first)_s"),
                "jax": _ms(r, "jax_s"),
                "torch": _ms(r, "torch-loop_s"),
                "bound": _ms(r, "bound_bound_s"),
                "ratio": r.get("ours_over_bound"),
                "jax_x": r.get("jax_over_ours"),
                "compile": r.get("indrnn_compile_s"),
                "jax_compile": r.get("jax_compile_s"),
            }
        )
    ms = ".1f"
    lines = [
        f"Machine: {machine}. Every number is a median over {res['rounds']} interleaved rounds of fresh "
        "processes, each timing its own median after warm-up; float32.",
        "",
        "One IndRNN layer, forward + backward, ReLU, shapes (T, B, M, N), milliseconds:",
        "",
        format_table(
            layer_rows,
            [
                ("size", "size", "s"),
                ("cpu", "indrnn-np cpu", ms),
                ("cpu2", "cpu, indrnn_np imported first", ms),
                ("unfused", "cpu, W x_t by GEMM (unfused)†", ms),
                ("numpy", "indrnn-np numpy reference", ms),
                ("jax", "JAX lax.scan (jit)", ms),
                ("torch", "torch.nn.RNN relu", ms),
                ("bound", "bound*", ms),
                ("ratio", "cpu / bound", ".2f"),
                ("jax_x", "JAX / cpu", ".2f"),
            ],
        ),
        "",
        "A training step of the adding network (2 x 128 IndRNN, batch 50, dense head on the last step, MSE, "
        "Adam, clamp ±10, u projection, data generation included), milliseconds:",
        "",
        format_table(
            step_rows,
            [
                ("T", "T", "d"),
                ("ours", "indrnn-np", ms),
                ("ours2", "indrnn_np imported first", ms),
                ("jax", "JAX (whole step under jit)", ms),
                ("torch", "PyTorch per-step loop", ".0f"),
                ("bound", "bound*", ms),
                ("ratio", "indrnn-np / bound", ".2f"),
                ("jax_x", "JAX / indrnn-np", ".2f"),
                ("compile", "first step (s)", ".2f"),
                ("jax_compile", "JAX first step (s)", ".2f"),
            ],
        ),
        "",
        "*bound: each GEMM the computation needs, timed alone through NumPy's BLAS at its shape, plus the "
        "recurrence's minimum bytes (5 passes over a (T, B, N) array per layer) at the copy bandwidth "
        f"measured in the same rounds ({_bandwidth(res):.1f} GB/s read + write).",
        "",
        "†for M <= 8 the cpu column computes W x_t inside the recurrence (the fused kernels); this column is "
        "the same layer with them off (INDRNN_FUSE_MAX_M=0): one GEMM into a (T, B, N) array read back.",
    ]
    if res.get("against"):
        at = res["against"]
        rows = [
            {**r, "before": r["before_s"] * 1e3, "after": r["after_s"] * 1e3} for r in res["before_after"]
        ]
        lines += [
            "",
            f"Before and after: this project's rows also run from {at['path']} (`{at['label']}`), each "
            "right after its counterpart in the same rounds, milliseconds (before / after > 1: now faster):",
            "",
            format_table(
                rows,
                [
                    ("table", "table", "s"),
                    ("size", "size", "s"),
                    ("impl", "implementation", "s"),
                    ("before", f"before ({at['label']})", ms),
                    ("after", "after (this checkout)", ms),
                    ("before_over_after", "before / after", ".2f"),
                ],
            ),
        ]
    for note in res["missing"]:
        lines.append(f"\nskipped: {note}")
    return "\n".join(lines)


def _bandwidth(res):
    values = [r["bound_bandwidth_GBps"] for r in res["layer"] + res["step"] if "bound_bandwidth_GBps" in r]
    return float(np.median(values)) if values else float("nan")


def compare_report(
    out_dir, *, rounds: int, repeats: int, peers: bool, quick: bool, progress=None, against=None
) -> str:
    """``bench compare``: this project against JAX and PyTorch and the machine's limits, each in its own
    process; writes compare.md, compare.json and scaling.png into ``out_dir``.

    ``against``: another checkout of this project (a folder); its rows run in the same rounds and the
    report has a before/after table. A bad folder is refused before any work.
    """
    from ..plots import plot_scaling
    from .compare import against_checkout, bench_compare
    from .layer import machine_description
    from .peers import bench_scaling

    check_writable_dir(out_dir)
    other = None if against is None else against_checkout(against)
    if quick:  # toy sizes: checks that every part runs, measures nothing worth quoting
        res = bench_compare(
            rounds=1,
            repeats=repeats,
            peers=peers,
            layer_sizes=((20, 2, 3, 4),),
            step_Ts=(10,),
            progress=progress,
            against=other,
        )
        scaling = bench_scaling(Ts=(10, 30), B=2, M=2, N=4, repeats=2)
    else:
        res = bench_compare(rounds=rounds, repeats=repeats, peers=peers, progress=progress, against=other)
        scaling = bench_scaling(repeats=max(3, repeats // 2))
    machine = machine_description()
    text = render_compare(res, scaling, machine)
    make_dir(out_dir)
    with open(os.path.join(out_dir, "compare.md"), "w") as fh:
        fh.write(text + "\n")
    with open(os.path.join(out_dir, "compare.json"), "w") as fh:
        json.dump({"machine": machine, **res, "scaling": scaling}, fh, indent=2)
    plot_scaling(
        os.path.join(out_dir, "scaling.png"),
        scaling["rows"],
        f"one layer, B={scaling['B']}, M={scaling['M']}, N={scaling['N']}",
    )
    return text + f"\n\nwrote {out_dir}/compare.md, compare.json, scaling.png"


def render_contention(res: dict, walls: list[dict], machine: str) -> str:
    """Markdown: the step table (median and 90th percentile, quiet and loaded) and the quick start's walls."""
    lines = [
        f"Machine: {machine}. Fresh processes, {res['rounds']} interleaved rounds; 'loaded': one other "
        "process spinning a core throughout. Every step after each process's first counts; milliseconds.",
        "",
        "Training step of the adding network (2 x 128 IndRNN, batch 50, Adam, clamp ±10):",
        "",
        "| T | implementation | quiet median | quiet p90 | loaded median | loaded p90 | loaded / quiet |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["T"], r["condition"], r["impl"]): r for r in res["rows"]}
    for T in sorted({r["T"] for r in res["rows"]}):
        for impl in dict.fromkeys(r["impl"] for r in res["rows"]):
            q, ld = by.get((T, "quiet", impl)), by.get((T, "loaded", impl))
            if q is None or ld is None:
                continue
            lines.append(
                f"| {T} | {impl} | {q['median_ms']:.2f} | {q['p90_ms']:.2f} | {ld['median_ms']:.2f} | "
                f"{ld['p90_ms']:.2f} | {ld['median_ms'] / q['median_ms']:.2f} |"
            )
    for key, reports in res.get("tuner", {}).items():
        lines.append(f"\nTuner, {key}: " + "; ".join(reports))
    if walls:
        lines += [
            "",
            f"The quick start (`python -m indrnn_np train adding`, {walls[0]['steps']} steps), "
            "whole-process wall seconds:",
            "",
        ]
        lines += ["| condition | implementation | wall (s) |", "|---|---|---|"]
        lines += [f"| {w['condition']} | {w['impl']} | {w['wall_s']:.1f} |" for w in walls]
    if res.get("missing"):
        lines += ["", "Not measured: " + "; ".join(res["missing"])]
    return "\n".join(lines)


def contention_report(out_dir, *, rounds: int, quick_start_runs: int, quick: bool, progress=None) -> str:
    """``bench contention``: steps quiet and beside one busy process; writes contention.md and .json."""
    from .contention import STEPS, bench_contention, quick_start_walls
    from .layer import machine_description

    check_writable_dir(out_dir)
    if quick:  # toy sizes: checks that every part runs, measures nothing worth quoting
        res = bench_contention(rounds=1, Ts=(10,), steps={10: 5}, progress=progress)
        walls = quick_start_walls(runs=quick_start_runs, steps=30, progress=progress)
    else:
        res = bench_contention(rounds=rounds, steps=STEPS, progress=progress)
        walls = quick_start_walls(runs=quick_start_runs, progress=progress)
    machine = machine_description()
    text = render_contention(res, walls, machine)
    make_dir(out_dir)
    with open(os.path.join(out_dir, "contention.md"), "w") as fh:
        fh.write(text + "\n")
    write_json({"machine": machine, **res, "quick_start": walls}, os.path.join(out_dir, "contention.json"))
    return text + f"\n\nwrote {out_dir}/contention.md, contention.json"
