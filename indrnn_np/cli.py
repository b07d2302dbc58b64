"""Layer 5: the command line, ``python -m indrnn_np <command> [options]``.

Each command parses its options, calls one library function and prints what
it returns. An error the user can fix (:class:`indrnn_np.errors.UserError`:
a bad option, file, folder or a missing GPU) prints as one line with exit
status 2; Ctrl-C exits with 130. ``python -m indrnn_np --help`` lists the commands.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from .errors import UserError


class CliError(UserError):
    """Options that do not go together."""


class _Parser(argparse.ArgumentParser):
    """argparse with its mistakes on one line, ``error: <command>: <message>``, exit status 2 (the usage
    is what ``--help`` is for). Subcommands' parsers are of this class too."""

    #: A function ``(parser, args) -> args`` applied before parsing (train's: the run folder's TASK).
    prepare = None

    def error(self, message):
        command = self.prog.removeprefix("python -m indrnn_np").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"error: {where}{message} ({self.prog} --help lists the options)\n")

    def parse_known_args(self, args=None, namespace=None):
        if self.prepare is not None and args is not None:
            args = self.prepare(self, list(args))
        return super().parse_known_args(args, namespace)


def _task_of_resumed_run(parser, args: list[str]) -> list[str]:
    """``train --resume DIR ...`` without TASK: the run's task, read from its checkpoint, put first
    (then parsed as ``train TASK --resume DIR ...``). Options without TASK or --resume: one line."""
    if not args or not args[0].startswith("-") or any(a in ("-h", "--help") for a in args):
        return args  # a TASK (argparse names an unknown one), none at all (argparse asks for it), or help
    folder = None
    for i, a in enumerate(args):
        if a == "--resume" and i + 1 < len(args):
            folder = args[i + 1]
        elif a.startswith("--resume="):
            folder = a.removeprefix("--resume=")
    if folder is None:
        parser.error("give a TASK (python -m indrnn_np train TASK ...), or --resume DIR to continue a run")
    from .train import RunDir

    return [RunDir(folder).read_config().task, *args]


def cmd_gradcheck(a) -> int:
    from .gradcheck import gradcheck_report

    text, failed = gradcheck_report(a.backend, seed=a.seed, progress=sys.stderr)
    print(text)
    return 1 if failed else 0


def cmd_dynamics(a) -> int:
    from .experiments.dynamics_report import write_report

    write_report(a.out, epsilon=a.epsilon, gamma=a.gamma, train_steps=a.train_steps, overwrite=a.overwrite)
    return 0


def cmd_exercises(a) -> int:
    from .exercises import write_exercises, written_text

    print(written_text(write_exercises(a.dir)))
    return 0


def cmd_check(a) -> int:
    from .exercises import check_report

    # each piece as soon as it is known: a function that hangs (or a Ctrl-C) leaves the earlier ones shown
    _, status = check_report(
        a.file, seed=a.seed, time_limit=a.time_limit, out=lambda text: print(text, flush=True)
    )
    return status


def cmd_train(a) -> int:
    from .train.config import ConfigError

    try:
        return _train(a)
    except ConfigError as exc:  # the flag the user typed, not the configuration's field
        raise CliError(exc.for_command_line()) from None


def _train(a) -> int:
    from .train import RunDir, TrainingDiverged, TrainingInterrupted, recipe, resume, train
    from .train.config import fixed_on_resume, given_options
    from .train.memory import estimate_training

    given = given_options(a)
    try:
        if a.resume is not None:
            drop = fixed_on_resume(given) + (["--out"] if a.out else [])
            if drop:
                raise CliError(f"--resume continues a run with its own settings; drop {', '.join(drop)}")
            if a.dry_run:
                return _dry_run(lambda: estimate_training(RunDir(a.resume).read_config(), resume=True))
            resume(
                a.resume,
                steps=given.get("steps"),
                eval_every=given.get("eval_every"),
                checkpoint_every=given.get("checkpoint_every"),
                task=a.task,
                progress=not a.quiet,
                log=_log,
            )
        else:
            cfg = recipe(a.task, **given)
            if a.out == "":
                raise CliError("--out: the run folder's path is empty: give a folder's name")
            if a.dry_run:
                if a.out:  # refused as the run would be (a folder holding a run, a file, another writer)
                    RunDir(a.out).check_new()
                    RunDir(a.out).check_writable()
                return _dry_run(lambda: estimate_training(cfg))
            if a.out:
                train(cfg, a.out, progress=not a.quiet, log=_log)
            else:  # claimed before the rehearsal, so that a concurrent default takes the next name
                with RunDir.claim_first_free(f"runs/{cfg.task}_T{cfg.T}") as run:
                    train(cfg, run.path, progress=not a.quiet, log=_log)
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:
        print(str(exc), file=sys.stderr)
        return 130
    return 0


def _dry_run(estimate) -> int:
    """``--dry-run``: print ``estimate()``, part by part, and what is available; 0 when the run fits,
    1 when it does not (a run that cannot even be rehearsed in the memory there is included)."""
    from .train.memory import MemoryTooLarge, describe, fits, wanted

    try:
        with wanted():
            made = estimate()
    except MemoryTooLarge as exc:
        print(f"{exc}\ndoes NOT fit", file=sys.stdout)
        return 1
    print(describe(made))
    return 0 if fits(made) else 1


def cmd_study(a) -> int:
    from .experiments.study import MODELS, run_study

    preset = "quick" if a.quick else "default"
    run_study(
        a.out,
        preset=preset,
        steps_scale=a.steps_scale,
        models=a.models or MODELS,
        seeds=a.seeds,
        Ts=a.T,
        scheduler=a.scheduler,
        workers=a.workers,
        progress=not a.quiet,
    )
    return 0


def cmd_depth(a) -> int:
    from .experiments.depth import NETWORKS, run_depth

    run_depth(
        a.out,
        steps=a.steps,
        quick=a.quick,
        names=a.networks or tuple(NETWORKS),
        data=a.data,
        train_runs=not a.report_only,
    )
    return 0


def cmd_evaluate(a) -> int:
    from .train import evaluate_run

    r = evaluate_run(a.run)
    metric = next(k for k in r if k.startswith("test_"))
    print(f"{a.run}: {r['task']} at step {r['step']}, {metric} = {r[metric]:.5f} on the full test set")
    if metric == "test_error":
        print(f"test accuracy = {100 * (1 - r[metric]):.2f} %")
    return 0


def cmd_predict(a) -> int:
    from .train.predict import predict_run

    r = predict_run(a.run, a.data, a.out, proba=a.proba)
    step = " of each step" if r["per_step"] else ""
    what = {"classes": f"class{step}", "probabilities": f"class probabilities{step}", "values": "values"}
    print(
        f"predicted {r['n']} sequences with {a.run} ({r['task']}, step {r['step']}): {what[r['kind']]} -> "
        f"{r['out']}" + (f" (columns: {', '.join(r['columns'])})" if "columns" in r else "")
    )
    return 0


def cmd_neurons(a) -> int:
    from .experiments.neurons import neuron_report

    neuron_report(a.run, a.out, seq=a.seq)
    return 0


def cmd_curves(a) -> int:
    from .experiments.curves import compare_runs

    for r in compare_runs(a.runs, a.out, labels=a.labels, title=a.title or ""):
        print(
            f"{r['label']}: {r['task']} T={r['T']}, {r['metric']} {r['last']:.4g} at step {r['last_step']} "
            f"(best {r['best']:.4g})"
        )
    print(f"wrote {a.out}")
    return 0


def cmd_bench_layer(a) -> int:
    from .bench.report import cuda_layer_report, layer_report
    from .bench.sizes import LAYER_SIZES

    backends = a.backend or ["numpy", "cpu"]
    if "cuda" in backends and backends != ["cuda"]:
        raise CliError("--backend cuda runs on its own (it has its own table); leave out the CPU backends")
    if backends == ["cuda"]:  # sizes not given: the report's, smaller in the simulator
        print(cuda_layer_report(a.T, a.B, a.M, a.N, a.dtype, a.repeats, json_path=a.json, progress=_stderr))
    else:
        size = {k: LAYER_SIZES[k] if getattr(a, k) is None else getattr(a, k) for k in LAYER_SIZES}
        T, B, M, N, repeats = (size[k] for k in ("T", "B", "M", "N", "repeats"))
        print(layer_report(backends, T, B, M, N, a.dtype, repeats, json_path=a.json))
    return 0


def cmd_bench_batchnorm(a) -> int:
    from .bench.report import batchnorm_report

    print(batchnorm_report(a.T, a.B, a.N, a.layers, a.repeats, json_path=a.json))
    return 0


def cmd_bench_train(a) -> int:
    from .bench.report import train_report

    print(train_report(a.T, a.B, a.layers, a.hidden, a.steps, a.backend, a.dtype, json_path=a.json))
    return 0


def cmd_bench_compare(a) -> int:
    from .bench.compare import BenchError
    from .bench.report import compare_report

    try:
        text = compare_report(
            a.out,
            rounds=a.rounds,
            repeats=a.repeats,
            peers=not a.no_peers,
            quick=a.quick,
            progress=_stderr,
            against=a.against,
        )
    except BenchError as exc:  # a worker process failed: its reason in one line, not a traceback
        print(f"error: {str(exc).splitlines()[-1] if str(exc) else exc!r}", file=sys.stderr)
        return 1
    print(text)
    return 0


def cmd_bench_scan(a) -> int:
    from .bench import scan
    from .ops.backend import resolve

    resolve(a.backend).require()  # cuda: one line saying how to get a GPU target, before any process starts
    Ts, columns = (scan.QUICK_TS, scan.QUICK_COLUMNS) if a.quick else (scan.TS, scan.COLUMNS)
    bad = [c for c in a.columns or () if c > 128 and c % 128]
    if bad:
        raise CliError(f"--columns above 128 must be multiples of 128 (B·N with N = 128); got {bad[0]}")
    try:
        text = scan.crossover_report(
            a.out,
            backend=a.backend,
            Ts=a.T or Ts,
            columns=a.columns or columns,
            budget_s=a.budget,
            progress=_stderr,
        )
    except RuntimeError as exc:
        raise CliError(f"{exc}; the sizes measured before it are in {a.out}") from None
    print(text)
    return 0


def cmd_bench_cuda_static(a) -> int:
    from .bench.cuda_static import static_report

    print(static_report())
    return 0


def cmd_bench_contention(a) -> int:
    from .bench.report import contention_report

    print(
        contention_report(
            a.out, rounds=a.rounds, quick_start_runs=a.quick_start_runs, quick=a.quick, progress=_stderr
        )
    )
    return 0


#: What the bench commands' size options are.
_LAYER_SIZE_HELP = {
    "T": "sequence length(s)",
    "B": "batch size",
    "M": "input features",
    "N": "neurons",
    "repeats": "timed calls of each measurement (the median is reported)",
}
_DTYPE_HELP = "floating-point type (default: float32)"

#: The depth command's networks (names only: the CLI imports no experiment to build its parser).
_DEPTH_NETWORKS = ("indrnn-bn", "res-indrnn", "dense-indrnn", "lstm", "rnn-tanh")


def _log(line: str) -> None:
    """A run's log line on stdout; once stdout is a closed pipe (``| head``), the run goes on silently."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    """Send what is still printed to stdout nowhere: the program reading it has stopped (``| head``)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _int_at_least(minimum: int, what: str):
    """An argparse type: an int of at least ``minimum``, else one line saying what was expected."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonnegative_int = _int_at_least(0, "an integer >= 0")


#: The longest time limit in seconds (a day): what SIGALRM's timer takes everywhere (1e10 overflowed it).
MAX_SECONDS = 86_400.0


def _positive_seconds(text: str) -> float | None:
    """An argparse type: a number of seconds in (0, :data:`MAX_SECONDS`], or ``inf``: None, no limit."""
    expected = f"expected a number of seconds > 0 and at most {MAX_SECONDS:g}, or inf for no limit"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}; got {text!r}") from None
    if value == float("inf"):
        return None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{expected}; got {text}")
    return value


def _train_parser(sub) -> None:
    from .tasks import TASKS
    from .train.config import add_train_options
    from .train.recipes import FROM_DATA, defaults

    t = sub.add_parser(
        "train",
        help="train a network on a task (progress, metrics, checkpoints, resume)",
        description="Train a network on one of the tasks below, with that task's recipe as the defaults "
        "(the paper's settings, sized for a CPU). The run folder holds the configuration, metrics.csv, "
        "checkpoints and summary.json; --resume DIR continues it (python -m indrnn_np train --resume DIR: "
        "the folder's run names its task).",
        epilog="Each task has its own options and defaults: python -m indrnn_np train TASK --help "
        "(e.g. train adding --help). Example: python -m indrnn_np train adding --T 100 --steps 3000",
    )
    t.prepare = _task_of_resumed_run
    tasks = t.add_subparsers(dest="task", required=True, metavar="TASK", title="tasks")
    for name, what in TASKS.items():
        p = tasks.add_parser(
            name, help=what, description=f"Train on {what}. Defaults are this task's recipe."
        )
        p.add_argument(
            "--out",
            help="run folder (default: runs/<task>_T<T>, or runs/<task>_T<T>-2, -3, ...: never an existing folder)",
        )
        p.add_argument(
            "--resume",
            metavar="DIR",
            help="continue the run in DIR with its own settings; --steps may extend it (default: a new run)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--dry-run",
            dest="dry_run",
            action="store_true",
            help="print the run's estimated peak memory, part by part, and what is available (the run "
            "rehearsed at T = 16 and 32: a few seconds); train nothing, write nothing; exit status 1 "
            "when it would not fit",
        )
        add_train_options(p, defaults(name), FROM_DATA.get(name))
        p.set_defaults(func=cmd_train)


def _bench_parser(sub) -> None:
    from .bench.sizes import LAYER_SIZES, SIMULATOR_LAYER_SIZES

    b = sub.add_parser("bench", help="benchmarks").add_subparsers(
        dest="bench_command", required=True, metavar="BENCHMARK"
    )
    backends = dict(
        action="append",
        choices=["numpy", "cpu", "cuda"],
        help="kernels to time, repeatable; cuda alone (default: numpy and cpu)",
    )
    json_opt = dict(help="also write the result to this JSON file, checked before the work (default: none)")
    bl = b.add_parser("layer", help="forward+backward time of one IndRNN layer")
    bl.add_argument("--backend", **backends)
    for name, default in LAYER_SIZES.items():
        in_sim = SIMULATOR_LAYER_SIZES[name]
        text = (
            f"(default: {' '.join(map(str, default)) if name == 'T' else default};"
            f" {' '.join(map(str, in_sim)) if name == 'T' else in_sim} in Numba's CUDA simulator)"
        )
        bl.add_argument(
            f"--{name}",
            type=_positive_int,
            nargs="+" if name == "T" else None,
            help=f"{_LAYER_SIZE_HELP[name]} {text}",
        )
    bl.add_argument("--dtype", choices=["float32", "float64"], default="float32", help=_DTYPE_HELP)
    bl.add_argument("--json", **json_opt)
    bl.set_defaults(func=cmd_bench_layer)
    bc = b.add_parser(
        "compare", help="this project against PyTorch and JAX, and against the machine's limits"
    )
    bc.add_argument("--out", required=True, help="folder for compare.md, compare.json and scaling.png")
    bc.add_argument(
        "--rounds", type=_positive_int, default=3, help="interleaved rounds of fresh processes (default: 3)"
    )
    bc.add_argument(
        "--repeats", type=_positive_int, default=5, help="timed calls in each process (default: 5)"
    )
    bc.add_argument(
        "--no-peers", dest="no_peers", action="store_true", help="only this project and the limits"
    )
    bc.add_argument("--quick", action="store_true", help="toy sizes, to check the command runs")
    bc.add_argument(
        "--against",
        metavar="PATH",
        help="another checkout of indrnn-np (e.g. a git worktree of an older commit): this project's rows "
        "also run from there in the same rounds, and the report has a before/after column (default: none)",
    )
    bc.set_defaults(func=cmd_bench_compare)
    bs = b.add_parser(
        "scan",
        help="the recurrence's time loop against its scan over time, over T and B·N: the crossover",
        description=(
            "Times one forward + backward of the recurrence (relu, float32) with algorithm='sequential' and "
            "'scan' at each T and each B·N (N = min(B·N, 128)), each size in a fresh process, the two "
            "alternating call by call; writes scan.md and scan.json (scan-cuda.* for --backend cuda) after "
            "every size. Sizes whose arrays would not fit in the available memory are skipped and named."
        ),
    )
    bs.add_argument("--out", required=True, help="folder for scan.md and scan.json (scan-cuda.* on the GPU)")
    bs.add_argument(
        "--backend", choices=["cpu", "cuda"], default="cpu", help="kernels to time (default: cpu)"
    )
    bs.add_argument(
        "--T", type=_positive_int, nargs="+", help="sequence lengths (default: 100 1000 10000 100000)"
    )
    bs.add_argument(
        "--columns",
        type=_positive_int,
        nargs="+",
        help="columns B·N, N = min(B·N, 128) (default: 1 16 128 1024 6400)",
    )
    bs.add_argument(
        "--budget",
        type=_positive_seconds,
        default=4.0,
        help="seconds of timed calls per size, both algorithms together (default: 4.0)",
    )
    bs.add_argument(
        "--quick",
        action="store_true",
        help="toy sizes, to check the command runs: T = 20 200, B·N = 1 8 (--T and --columns override them)",
    )
    bs.set_defaults(func=cmd_bench_scan)
    bx = b.add_parser(
        "cuda-static",
        help="registers, shared memory, spills and occupancy of every CUDA kernel on sm_90, without a GPU",
        description=(
            "Compiles every CUDA kernel (float32 and float64) to PTX with Numba and to sm_90 code with the CUDA "
            "toolkit's ptxas -v, and prints a Markdown table per dtype: registers a thread, static shared "
            "memory, spills, and the theoretical occupancy on an H100/H200 at each kernel's launch block size. "
            "Needs ptxas (CUDA toolkit) and NVVM (pip install 'indrnn-np[cuda-kernels]'); no GPU."
        ),
    )
    bx.set_defaults(func=cmd_bench_cuda_static)
    bk = b.add_parser(
        "contention", help="training steps quiet and beside one busy process: default, one thread, JAX"
    )
    bk.add_argument("--out", required=True, help="folder for contention.md and contention.json")
    bk.add_argument(
        "--rounds", type=_positive_int, default=3, help="interleaved rounds of fresh processes (default: 3)"
    )
    bk.add_argument(
        "--quick-start-runs",
        dest="quick_start_runs",
        type=int,
        choices=range(0, 6),
        metavar="{0..5}",
        default=1,
        help="times to run the 3000-step quick start in each condition, 0: none (default: 1)",
    )
    bk.add_argument("--quick", action="store_true", help="toy sizes, to check the command runs")
    bk.set_defaults(func=cmd_bench_contention)
    bn = b.add_parser(
        "batchnorm", help="batch norm over time: NumPy reference vs Numba, alone and in a network"
    )
    for name, default in (("T", 784), ("B", 32), ("N", 128), ("layers", 6), ("repeats", 7)):
        what = {"layers": "layers of the network timed with batch norm", **_LAYER_SIZE_HELP}[name]
        bn.add_argument(f"--{name}", type=_positive_int, default=default, help=f"{what} (default: {default})")
    bn.add_argument("--json", **json_opt)
    bn.set_defaults(func=cmd_bench_batchnorm)
    bt = b.add_parser("train", help="a training step of the adding network, split into its parts")
    sizes = {
        **_LAYER_SIZE_HELP,
        "layers": "IndRNN layers",
        "hidden": "neurons per layer",
        "steps": "timed training steps (after a warm-up step)",
    }
    for name, default in (("T", 1000), ("B", 50), ("layers", 2), ("hidden", 128), ("steps", 20)):
        bt.add_argument(
            f"--{name}", type=_positive_int, default=default, help=f"{sizes[name]} (default: {default})"
        )
    bt.add_argument(
        "--backend", choices=["cpu", "numpy"], default="cpu", help="kernels of the recurrence (default: cpu)"
    )
    bt.add_argument("--dtype", choices=["float32", "float64"], default="float32", help=_DTYPE_HELP)
    bt.add_argument("--json", **json_opt)
    bt.set_defaults(func=cmd_bench_train)


def build_parser() -> argparse.ArgumentParser:
    from .exercises.grader import TIME_LIMIT

    p = _Parser(prog="python -m indrnn_np", description="IndRNN in NumPy and Numba.")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gradcheck", help="finite-difference check of every IndRNN gradient")
    g.add_argument(
        "--backend",
        action="append",
        choices=["numpy", "cpu", "cuda"],
        help="backend to check, repeatable (default: all that run here)",
    )
    g.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=0,
        help="random seed of the checked inputs and weights (default: 0)",
    )
    g.set_defaults(func=cmd_gradcheck)
    ex = sub.add_parser(
        "exercises",
        help="write the exercises: five IndRNN functions to fill in (forward, BPTT, the u projection, "
        "finite differences, the scan's composition), graded by `check`",
        description="Write DIR/indrnn_exercises.py: the forward pass of Eq. 2, BPTT, the projection of u, "
        "centred finite differences and the composition of two clamped affine maps of the scan, each "
        "with its docstring (shapes, the paper's equation) and its body left blank. An existing file is "
        "never replaced.",
        epilog="Then: python -m indrnn_np check DIR/indrnn_exercises.py",
    )
    ex.add_argument(
        "dir",
        metavar="DIR",
        help="folder to write indrnn_exercises.py into (made if missing; must not hold one)",
    )
    ex.set_defaults(func=cmd_exercises)
    ck = sub.add_parser(
        "check",
        help="grade an exercises file against the project's own code: passed, or what is wrong and a hint",
        description="Import FILE and run each of its five functions on random shapes (float32 and float64, "
        "T = 1 and B = 1 included) against the project's own code, the gradients also against centred "
        "finite differences in float64; print per function: passed, not done yet, or what is wrong and "
        "a hint for the usual mistake that explains it, each as soon as it is known. A function running "
        "past --time-limit fails and the others are still graded; Ctrl-C names the function it was "
        "grading (exit status 130). Exit status 0 when all five pass, 1 otherwise, 2 when FILE cannot "
        "be imported.",
    )
    ck.add_argument(
        "file", metavar="FILE", help="the exercises file (written by: python -m indrnn_np exercises DIR)"
    )
    ck.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=0,
        help="random seed of the checked shapes and values (default: 0)",
    )
    ck.add_argument(
        "--time-limit",
        type=_positive_seconds,
        default=TIME_LIMIT,
        metavar="SECONDS",
        help="seconds each function may run, its calls on all its cases together; past it, it fails "
        f"(default: {TIME_LIMIT:g}; at most {MAX_SECONDS:g}; inf: no limit; enforced with SIGALRM: on Unix "
        "only, elsewhere no limit applies)",
    )
    ck.set_defaults(func=cmd_check)
    d = sub.add_parser("dynamics", help="Eq. 4 in numbers and plots, and the u constraint in training")
    d.add_argument("--out", required=True, help="folder for the plots and dynamics.json")
    d.add_argument("--epsilon", type=float, default=0.01, help="smallest useful gradient ε (default: 0.01)")
    d.add_argument("--gamma", type=float, default=2.0, help="largest tolerated gradient γ (default: 2)")
    d.add_argument(
        "--train-steps",
        type=_positive_int,
        default=800,
        help="training demonstration: steps (at most) of each of its three runs: free, with the u projection, "
        "with gradient clipping (default: 800)",
    )
    d.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the report already in --out (without it, a folder holding one is refused)",
    )
    d.set_defaults(func=cmd_dynamics)
    _train_parser(sub)
    st = sub.add_parser(
        "study", help="the paper's adding-problem study: RNN, IRNN, LSTM, IndRNN at several T"
    )
    st.add_argument("task", choices=["adding"], help="the task (only adding)")
    st.add_argument("--out", required=True, help="study folder (runs inside it are reused or resumed)")
    st.add_argument(
        "--quick", action="store_true", help="tiny CI-sized preset (seconds), not the hour-long default"
    )
    st.add_argument(
        "--steps-scale",
        dest="steps_scale",
        type=float,
        default=1.0,
        help="multiply every step budget by this (default: 1)",
    )
    st.add_argument(
        "--models",
        nargs="+",
        choices=["indrnn", "rnn-tanh", "irnn", "lstm"],
        help="models to run (default: all)",
    )
    st.add_argument("--seeds", type=_positive_int, default=1, help="runs of each configuration (default: 1)")
    st.add_argument(
        "--T",
        nargs="+",
        type=_positive_int,
        help="only these of the preset's sequence lengths (default: all)",
    )
    st.add_argument(
        "--scheduler",
        default="local",
        help="where the runs run: local (a Dask LocalCluster), serial (one run after another, no Dask), "
        "or the address of a Dask scheduler, tcp://host:8786 (default: local)",
    )
    st.add_argument(
        "--workers", type=_positive_int, help="worker processes of the local cluster (default: the cores)"
    )
    st.add_argument("--quiet", action="store_true", help="no progress bar (with --scheduler serial)")
    st.set_defaults(func=cmd_study)
    dp = sub.add_parser(
        "depth",
        help="21-layer IndRNN (BN, residual, dense), LSTM and tanh RNN: gradient against layer, row-MNIST",
    )
    dp.add_argument("--out", required=True, help="folder (its runs/ are reused or resumed)")
    dp.add_argument(
        "--steps", type=_positive_int, default=15000, help="training steps of every network (default: 15000)"
    )
    dp.add_argument(
        "--networks", nargs="+", choices=list(_DEPTH_NETWORKS), help="networks to run (default: all)"
    )
    dp.add_argument("--quick", action="store_true", help="tiny sizes, to check that it runs")
    dp.add_argument("--data", help="folder of the MNIST IDX files (default: as train rowmnist's)")
    dp.add_argument(
        "--report-only",
        dest="report_only",
        action="store_true",
        help="train nothing: report the runs as they stand (a run in progress at its last checkpoint)",
    )
    dp.set_defaults(func=cmd_depth)
    ev = sub.add_parser("evaluate", help="the test metric of a run's checkpoint on the full test set")
    ev.add_argument("--run", required=True, help="a run folder")
    ev.set_defaults(func=cmd_evaluate)
    pr = sub.add_parser(
        "predict", help="a run's predictions for the sequences of an .npz file (x, optional lengths)"
    )
    pr.add_argument("--run", required=True, help="a run folder")
    pr.add_argument(
        "--data", required=True, help=".npz file: x (n, T, M) samples first, or (n, T); optional lengths (n,)"
    )
    pr.add_argument(
        "--out",
        required=True,
        help="a new .npy or .csv file (never overwritten): class indices (names for string labels), or values, "
        "per sequence or per step",
    )
    pr.add_argument(
        "--proba",
        action="store_true",
        help="a classification run's class probabilities instead of its classes, one column per class "
        "(the class names are the .csv's header)",
    )
    pr.set_defaults(func=cmd_predict)
    ne = sub.add_parser(
        "neurons", help="plot a trained 2-layer IndRNN's neurons; the one-neuron second layer"
    )
    ne.add_argument("--run", required=True, help="a run folder of `train adding` (2-layer IndRNN)")
    ne.add_argument("--out", help="where to write the plots (default: the run folder)")
    ne.add_argument("--seq", type=int, default=0, help="which test sequence to plot (default: 0)")
    ne.set_defaults(func=cmd_neurons)
    cu = sub.add_parser("curves", help="several runs' test metric against the step, on one figure")
    cu.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    cu.add_argument("--out", required=True, help="the figure to write (.png)")
    cu.add_argument("--labels", nargs="+", help="one label per run (default: the folders' names)")
    cu.add_argument("--title", help="the figure's title (default: none)")
    cu.set_defaults(func=cmd_curves)
    _bench_parser(sub)
    return p


def main(argv=None) -> int:
    """Run one command; its warnings print as one line each, ``warning: <message>``, on stderr."""
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings()
        return _main(argv)


def _one_line_warnings():
    """A ``warnings.showwarning`` that prints each warning's message once, on one line of stderr."""
    shown = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = "warning: " + " ".join(str(message).split())
        if text not in shown:
            shown.add(text)
            print(text, file=sys.stderr, flush=True)

    return show


def _main(argv) -> int:
    try:  # building the parser reads the INDRNN_* settings too: a bad one is a user's error
        args = build_parser().parse_args(argv)
        from .allocator import apply_policy

        apply_policy()  # the process's allocator gives freed arrays back (indrnn_np.allocator)
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # outside a run's steps (TrainingOutOfMemory is a UserError): building it
        from . import config

        why = " ".join(str(exc).split()) or "MemoryError"
        skipped = (
            ""
            if config.MEMORY_CHECK
            else "; INDRNN_MEMORY_CHECK=0 skipped the check that would have refused it"
        )
        print(
            f"error: ran out of memory ({why}){skipped}; --dry-run shows the memory a run needs",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        # a run's Ctrl-C (TrainingInterrupted) says where its checkpoint is; a bare one, that it stopped
        print(str(exc) or "interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the output went to a program that stopped reading: no traceback
        _stdout_to_devnull()
        return 1
    except OSError as exc:
        # a full disk, a quota or a file-size limit met outside the run's own files (Numba's cache of
        # compiled kernels, say): one line too; the run's files were written whole or not at all
        from .files import DISK_FULL, reason

        if exc.errno not in DISK_FULL:
            raise
        where = exc.filename or "outside the run's files (Numba's cache of compiled kernels, say)"
        print(
            f"error: a write failed, {where}: {reason(exc)}; every file of a run is written whole or not at "
            "all: make room and run the command again (--resume DIR continues a run from its last checkpoint)",
            file=sys.stderr,
        )
        return 2
