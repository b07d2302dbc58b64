"""``bench compare``: this project against JAX and PyTorch, every measurement in a fresh process.

Each implementation at each size runs in a process of its own
(:mod:`indrnn_np.bench.worker`), the implementations take turns within a
round, and the rounds repeat: the number quoted is the median over rounds of
each process's median. The machine's limits (copy bandwidth and each GEMM
alone) are measured in their own processes in the same rounds, so every
ratio compares numbers taken side by side.

Two tables:

* one layer, forward + backward, at the sizes of :data:`LAYER_SIZES`;
* one training step of the adding network at :data:`STEP_TS`.

This project is also timed with NumPy imported before ``indrnn_np`` and
after it (the import order must not matter).

With ``against`` (another checkout of this project, :func:`against_checkout`),
this project's own rows are also run from that checkout, each right after its
counterpart in the same round: the same worker module (this checkout's, so
the requests are always ones it understands) with the other checkout's
``indrnn_np`` on the path, checked after every request. The report's
before/after ratios (:func:`before_after`) compare numbers taken side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np

from ..errors import UserError

#: (T, B, M, N): the adding problem's first-layer width at the paper's T, its input layer, a pixel-MNIST
#: hidden layer, a wide layer.
LAYER_SIZES = ((1000, 50, 128, 128), (1000, 50, 2, 128), (784, 32, 128, 128), (256, 64, 1024, 1024))
#: T of the training-step table (batch 50, 2 x 128, the quick start's network).
STEP_TS = (100, 1000)
STEP_B, STEP_N = 50, 128

LAYER_IMPLS = ("cpu", "numpy", "jax", "torch-rnn")
#: Layers with at most this many inputs are also timed with the fused kernels off (``INDRNN_FUSE_MAX_M=0``):
#: the default config.FUSE_MAX_M, fixed here so that the table does not depend on the environment.
FUSED_M = 8
STEP_IMPLS = ("indrnn", "jax", "torch-loop")
#: This project's implementations: the rows also run from the checkout of ``against``.
OURS = ("cpu", "numpy", "indrnn")
PEERS = ("jax", "torch-rnn", "torch-loop")


class BenchError(RuntimeError):
    """A worker process failed."""


#: Runs this checkout's worker file (``sys.argv[1]``) on the request (``sys.argv[2]``), then prints where
#: ``indrnn_np`` was imported from: the last line, after the worker's answer.
_LAUNCH = (
    "import json, runpy, sys\n"
    "worker = sys.argv.pop(1)\n"
    "runpy.run_path(worker, run_name='__main__')\n"
    "import indrnn_np\n"
    "print(json.dumps({'indrnn_np': indrnn_np.__file__, 'path': list(indrnn_np.__path__)}))"
)
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


def _root_env(root: str) -> dict:
    """The variables that make a fresh process import ``indrnn_np`` from the checkout ``root``."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": root if not path else root + os.pathsep + path}


def _package_dir(file: str) -> str:
    return os.path.realpath(os.path.dirname(file))


def ask(request: dict, timeout: float = 1800, env: dict | None = None, root: str | None = None) -> dict:
    """Run one request of :mod:`indrnn_np.bench.worker` in a fresh Python process; its JSON answer.

    Parameters
    ----------
    request : dict
        The worker's request (see :mod:`indrnn_np.bench.worker`).
    timeout : float
        Seconds before the process is stopped.
    env : dict, optional
        Variables to set in that process (on top of this one's).
    root : str, optional
        Another checkout of this project: the process imports ``indrnn_np`` from there (it runs in
        that folder, with it first on ``PYTHONPATH``); an answer from any other package is refused.

    Raises
    ------
    BenchError
        The worker failed, or (``root``) imported ``indrnn_np`` from elsewhere or lacks a module
        today's worker needs.
    """
    env = {**(env or {}), **(_root_env(root) if root else {})}
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCH, _WORKER, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
        cwd=root,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        raise BenchError(f"worker failed on {request}: {proc.stderr.strip()[-1500:]}")
    answer, where = json.loads(lines[-2]), json.loads(lines[-1])
    if root is not None:
        want = os.path.realpath(os.path.join(root, "indrnn_np"))
        if where["indrnn_np"] is None:  # a folder without __init__.py: a namespace package, not ours
            raise BenchError(
                f"the worker for {root} imported indrnn_np from {', '.join(where['path'])} "
                "(a folder without __init__.py, not a checkout of this project)"
            )
        if _package_dir(where["indrnn_np"]) != want:
            raise BenchError(
                f"the worker for {root} imported indrnn_np from {_package_dir(where['indrnn_np'])}"
            )
        if "missing" in answer:
            raise BenchError(f"its indrnn_np is too old for today's worker ({answer['missing']})")
    return answer


def against_checkout(path: str) -> dict:
    """Check that ``path`` holds another checkout of this project, and name it; nothing is run there.

    Returns
    -------
    dict
        ``root`` (the absolute path) and ``label``: ``git rev-parse --short HEAD`` there (``+`` when
        tracked files differ from it), or the folder's name when it is not a git checkout.

    Raises
    ------
    UserError
        ``path`` is missing, is no checkout of indrnn-np, or a process started there does not import
        its ``indrnn_np``.
    """
    if not str(path).strip():
        raise UserError("--against '': an empty folder name (give a checkout of indrnn-np)")
    root = os.path.abspath(path)
    if os.path.isfile(root):
        raise UserError(f"--against {path}: it is a file, not a folder (give a checkout of indrnn-np)")
    if not os.path.isdir(root):
        raise UserError(f"--against {path}: no such folder (give a checkout of indrnn-np)")
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.realpath(root) == os.path.realpath(here):
        raise UserError(f"--against {path}: that is this checkout itself (give another one)")
    if not os.path.isfile(os.path.join(root, "indrnn_np", "bench", "worker.py")):
        raise UserError(f"--against {path}: not a checkout of indrnn-np (no indrnn_np/bench/worker.py in it)")
    probe = subprocess.run(
        [sys.executable, "-c", "import indrnn_np; print(indrnn_np.__file__)"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **_root_env(root)},
        cwd=root,
    )
    got = probe.stdout.strip().splitlines()
    want = os.path.realpath(os.path.join(root, "indrnn_np"))
    if probe.returncode != 0 or not got or _package_dir(got[-1]) != want:
        where = _package_dir(got[-1]) if probe.returncode == 0 and got else "nowhere (it failed)"
        raise UserError(f"--against {path}: a process started there imports indrnn_np from {where}")
    for req in _PROBES:  # every kind of request the rounds send, at toy sizes: a too-old checkout fails here
        try:
            ask(req, timeout=600, root=root)
        except BenchError as exc:
            raise UserError(f"--against {path}: {exc}") from None
    return {"root": root, "label": _checkout_label(root)}


#: One toy request of each kind :func:`requests` sends to another checkout, run before the rounds.
_PROBES = (
    dict(what="layer", impl="cpu", T=3, B=2, M=2, N=4, repeats=1),
    dict(what="layer", impl="numpy", T=3, B=2, M=2, N=4, repeats=1),
    dict(what="step", impl="indrnn", order="numpy-first", T=3, B=2, N=4, repeats=1),
)


def _checkout_label(root: str) -> str:
    def git(*args):
        try:
            out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=30)
        except OSError:  # no git on this machine
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return os.path.basename(root)
    return head + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def requests(
    *,
    layer_sizes=LAYER_SIZES,
    step_Ts=STEP_TS,
    peers=True,
    repeats=5,
    step_B=STEP_B,
    step_N=STEP_N,
    against=None,
):
    """Every request of one round, as (table, key, request).

    ``against``: a label (:func:`against_checkout`); each of this project's requests is followed by the
    same request marked ``"at": against``, to run from that checkout.
    """
    out = []
    for T, B, M, N in layer_sizes:
        key = (T, B, M, N)
        shape = dict(T=T, B=B, M=M, N=N, repeats=repeats)
        out.append(("layer", key, dict(what="bound", of="layer", **shape)))
        out.append(("layer", key, dict(what="layer", impl="cpu", order="numpy-first", **shape)))
        out.append(("layer", key, dict(what="layer", impl="cpu", order="indrnn-first", **shape)))
        out.append(("layer", key, dict(what="layer", impl="numpy", **shape)))
        if M <= FUSED_M:  # the same layer with W x_t by a GEMM, as before the fused kernels
            out.append(
                ("layer", key, dict(what="layer", impl="cpu", env={"INDRNN_FUSE_MAX_M": "0"}, **shape))
            )
        if peers:
            out += [("layer", key, dict(what="layer", impl=i, **shape)) for i in ("jax", "torch-rnn")]
    for T in step_Ts:
        shape = dict(T=T, B=step_B, N=step_N)
        many = max(repeats, int(2.0 / (T * 1e-4)))  # about 2 s of steps at 0.1 ms per time step
        out.append(("step", T, dict(what="bound", of="step", **shape)))
        out.append(("step", T, dict(what="step", impl="indrnn", order="numpy-first", repeats=many, **shape)))
        out.append(("step", T, dict(what="step", impl="indrnn", order="indrnn-first", repeats=many, **shape)))
        if peers:
            out.append(("step", T, dict(what="step", impl="jax", repeats=many, **shape)))
            out.append(
                ("step", T, dict(what="step", impl="torch-loop", repeats=3 if T >= 1000 else 10, **shape))
            )
    if against is None:
        return out
    both = []
    for table, key, req in out:
        both.append((table, key, req))
        if req.get("impl") in OURS:
            both.append((table, key, {**req, "at": against}))
    return both


def _label(req: dict) -> str:
    if req["what"] == "bound":
        return "bound"
    impl = req["impl"] + (f"@{req['at']}" if "at" in req else "")
    if req.get("order") == "indrnn-first":
        impl += " (indrnn_np first)"
    if req.get("env", {}).get("INDRNN_FUSE_MAX_M") == "0":
        impl += " (unfused)"
    return impl


def bench_compare(
    *,
    rounds=3,
    repeats=5,
    peers=True,
    layer_sizes=LAYER_SIZES,
    step_Ts=STEP_TS,
    progress=None,
    against=None,
):
    """Interleaved rounds of fresh-process measurements; medians over the rounds.

    ``against``: :func:`against_checkout`'s answer; this project's rows also run from there, and the
    result has ``against`` (its label and folder) and ``before_after`` (:func:`before_after`).

    Returns
    -------
    dict
        ``layer`` and ``step``: lists of rows, one per size, with each
        implementation's median seconds (``<label>_s``), compile seconds, the
        bound and its parts; ``missing``: peers not installed; ``rounds``.
    """
    tag = None if against is None else against["label"]
    reqs = requests(layer_sizes=layer_sizes, step_Ts=step_Ts, peers=peers, repeats=repeats, against=tag)
    samples = defaultdict(list)
    missing = set()
    for r in range(rounds):
        for i, (table, key, req) in enumerate(reqs):
            if progress:
                progress(f"round {r + 1}/{rounds}, {i + 1}/{len(reqs)}: {table} {key} {_label(req)}")
            ans = ask(
                {k: v for k, v in req.items() if k not in ("env", "at")},
                env=req.get("env"),
                root=against["root"] if "at" in req else None,
            )
            if "missing" in ans:
                missing.add(f"{req['impl']}: {ans['missing']} not installed (pip install 'indrnn-np[bench]')")
                continue
            samples[(table, key, _label(req))].append(ans)
    tables = {"layer": {}, "step": {}}
    for (table, key, label), answers in samples.items():
        row = tables[table].setdefault(key, _key_fields(table, key))
        if label == "bound":
            for k in answers[0]:
                row[f"bound_{k}"] = float(np.median([a[k] for a in answers]))
        else:
            row[f"{label}_s"] = float(np.median([a["median_s"] for a in answers]))
            row[f"{label}_compile_s"] = float(np.median([a["compile_s"] for a in answers]))
    res = {
        "rounds": rounds,
        "repeats": repeats,
        "layer": [_ratios(r, "cpu") for r in tables["layer"].values()],
        "step": [_ratios(r, "indrnn") for r in tables["step"].values()],
        "missing": sorted(missing),
    }
    if against is not None:
        res["against"] = {"label": tag, "path": against["root"]}
        res["before_after"] = before_after(res, tag)
    return res


def before_after(res: dict, label: str) -> list[dict]:
    """Each of this project's rows timed here and at ``label``: before / after (> 1: now faster).

    Parameters
    ----------
    res : dict
        :func:`bench_compare`'s tables (``layer`` and ``step`` rows with ``<label>_s`` times).
    label : str
        The other checkout's label: its times are the rows' ``<impl>@<label>..._s``.

    Returns
    -------
    list of dict
        One per (table, size, implementation) timed both ways: ``table``, ``size``, ``impl`` (today's
        label), ``before_s``, ``after_s`` and ``before_over_after``.
    """
    out = []
    for table in ("layer", "step"):
        for row in res[table]:
            size = (
                f"({row['T']}, {row['B']}, {row['M']}, {row['N']})" if table == "layer" else f"T={row['T']}"
            )
            for key in row:
                impl = key[: -len("_s")]
                if not key.endswith("_s") or key.endswith("compile_s") or "@" in impl:
                    continue
                name, _, rest = impl.partition(" ")
                before = row.get(f"{name}@{label}{' ' + rest if rest else ''}_s")
                if before is None or not row[key]:
                    continue
                out.append(
                    dict(
                        table=table,
                        size=size,
                        impl=impl,
                        before_s=before,
                        after_s=row[key],
                        before_over_after=before / row[key],
                    )
                )
    return out


def _key_fields(table, key):
    if table == "layer":
        return dict(zip(("T", "B", "M", "N"), key, strict=True))
    return dict(T=key, B=STEP_B, N=STEP_N)


def _ratios(row: dict, ours: str) -> dict:
    """Each time over ours (> 1: ours faster), ours over the bound, and the import orders' ratio."""
    base = row.get(f"{ours}_s")
    if base:
        for k in list(row):
            if (
                k.endswith("_s")
                and not k.endswith("compile_s")
                and not k.startswith("bound")
                and "@" not in k  # the other checkout's times: see before_after
                and k != f"{ours}_s"
            ):
                row[k[: -len("_s")] + "_over_ours"] = row[k] / base
        if "bound_bound_s" in row:
            row["ours_over_bound"] = base / row["bound_bound_s"]
    return row
