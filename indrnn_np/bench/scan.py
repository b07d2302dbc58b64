"""``bench scan``: the recurrence's time loop against its scan over time, over T and B·N.

The sequential kernels are parallel over the B·N columns and walk the T steps one after another;
the scan (``algorithm="scan"``, :func:`indrnn_np.kernels.reference.scan_forward`) cuts time into
chunks as well, for about three times the work. So the scan can only win where the columns are too
few to keep the machine busy. This benchmark finds where: one forward + backward of the recurrence
op (:func:`indrnn_np.ops.indrnn_recurrence_forward` and ``_backward``, relu, float32, u ~ U(0, 1))
for each T and each number of columns C = B·N (N = min(C, 128), B = C / N).

Each size runs in a fresh process (``python -m indrnn_np.bench.scan '<json request>'`` prints one
JSON line), and inside it the two algorithms take turns, call by call, so that both see the same
machine; the numbers are the medians and 90th percentiles of those calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

#: The grid of the report: sequence lengths and columns B·N.
TS = (100, 1_000, 10_000, 100_000)
COLUMNS = (1, 16, 128, 1_024, 6_400)
#: ``--quick``: toy sizes, to check that the command runs (and what the simulator can take).
QUICK_TS = (20, 200)
QUICK_COLUMNS = (1, 8)


def shape_of(columns: int) -> tuple[int, int]:
    """``(B, N)`` for C columns: N = min(C, 128), B = C // N (C a multiple of N when C > 128)."""
    N = min(columns, 128)
    if columns % N:
        raise ValueError(f"columns above 128 must be a multiple of 128; got {columns}")
    return columns // N, N


def _repeats(first_s: float, budget_s: float) -> int:
    """Calls per algorithm: as many as fit the budget, 5 to 21."""
    return max(5, min(21, int(budget_s / max(first_s, 1e-6))))


def measure(T: int, columns: int, backend: str = "cpu", budget_s: float = 4.0, seed: int = 0) -> dict:
    """Time both algorithms at one size in this process, alternating call by call.

    Returns
    -------
    dict
        ``T, B, N, columns, backend, repeats`` and, per algorithm (``sequential``, ``scan``),
        ``median_s``, ``p90_s`` and ``compile_s`` (the first call: Numba's compile or cache load).
    """
    import numpy as np

    from indrnn_np.ops import indrnn_recurrence_backward, indrnn_recurrence_forward
    from indrnn_np.ops.backend import resolve

    B, N = shape_of(columns)
    rng = np.random.default_rng(seed)
    xw = rng.standard_normal((T, B, N), dtype=np.float32)
    dh = rng.standard_normal((T, B, N), dtype=np.float32)
    u = rng.uniform(0, 1, N).astype(np.float32)
    b = np.zeros(N, np.float32)
    bk = resolve(backend)
    sync = lambda: None  # noqa: E731
    if bk.syncs:
        from numba import cuda

        sync = cuda.synchronize
    xw, dh, u, b = (bk.to_device(a) for a in (xw, dh, u, b))

    def call(algorithm):
        h, cache = indrnn_recurrence_forward(xw, u, b, None, "relu", backend, algorithm=algorithm)
        indrnn_recurrence_backward(dh, cache)
        sync()

    def timed(algorithm):
        t0 = time.perf_counter()
        call(algorithm)
        return time.perf_counter() - t0

    first = {a: timed(a) for a in ("sequential", "scan")}
    second = {a: timed(a) for a in ("sequential", "scan")}  # warm: caches, pools, page faults
    repeats = _repeats(max(second.values()), budget_s / 2)
    times = {"sequential": [], "scan": []}
    for r in range(repeats):
        order = ("sequential", "scan") if r % 2 == 0 else ("scan", "sequential")
        for a in order:
            times[a].append(timed(a))
    out = dict(T=T, B=B, N=N, columns=columns, backend=bk.name, repeats=repeats)
    if bk.on_device:
        from numba import cuda

        name = cuda.get_current_device().name
        out["device"] = name.decode() if isinstance(name, bytes) else str(name)
    for a, ts in times.items():
        out[a] = dict(median_s=float(np.median(ts)), p90_s=float(np.percentile(ts, 90)), compile_s=first[a])
    out["speedup"] = out["sequential"]["median_s"] / out["scan"]["median_s"]
    return out


def ask(request: dict, timeout: float = 3600) -> dict:
    """:func:`measure` in a fresh Python process; its JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np.bench.scan", json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise RuntimeError(f"the size T = {request['T']}, B·N = {request['columns']} failed: {why}")
    return json.loads(lines[-1])


def _ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def table(rows: list[dict]) -> str:
    """The report's Markdown: speed-ups (sequential / scan), then the times, then the crossover."""
    if not rows:
        return "No size measured yet.\n"
    Ts = sorted({r["T"] for r in rows})
    Cs = sorted({r["columns"] for r in rows})
    at = {(r["T"], r["columns"]): r for r in rows}
    head = "| T \\ B·N | " + " | ".join(f"{c:,}" for c in Cs) + " |\n|---|" + "---|" * len(Cs) + "\n"
    speed = head + "".join(
        f"| {T:,} | "
        + " | ".join(
            (f"**{at[T, c]['speedup']:.2f}x**" if at[T, c]["speedup"] > 1 else f"{at[T, c]['speedup']:.2f}x")
            if (T, c) in at
            else "-"
            for c in Cs
        )
        + " |\n"
        for T in Ts
    )
    times = head + "".join(
        f"| {T:,} | "
        + " | ".join(
            f"{_ms(at[T, c]['sequential']['median_s'])} ({_ms(at[T, c]['sequential']['p90_s'])}) / "
            f"{_ms(at[T, c]['scan']['median_s'])} ({_ms(at[T, c]['scan']['p90_s'])})"
            if (T, c) in at
            else "-"
            for c in Cs
        )
        + " |\n"
        for T in Ts
    )
    wins = [
        f"T = {T:,}, B·N = {c:,} ({at[T, c]['speedup']:.2f}x)"
        for T in Ts
        for c in Cs
        if at.get((T, c), {}).get("speedup", 0) > 1
    ]
    crossover = (
        "The scan is faster at " + "; ".join(wins) + "."
        if wins
        else "The scan is faster at none of these sizes."
    )
    return (
        "Speed-up of the scan (sequential median / scan median; > 1: the scan is faster, in bold):\n\n"
        + speed
        + "\nTimes in ms, median (90th percentile), sequential / scan:\n\n"
        + times
        + "\n"
        + crossover
        + "\n"
    )


#: Bytes one size needs, in (T, B, N) float32 arrays: x W and dh (the inputs), h and ∂J/∂a, and the
#: numbers' generation (float32 draws, one array at a time).
ARRAYS_PER_SIZE = 5


def needed_bytes(T: int, columns: int) -> int:
    """About the memory one size's process needs (float32), for the skip before it starts."""
    return ARRAYS_PER_SIZE * 4 * T * columns


def crossover_report(
    out_dir, *, backend="cpu", Ts=TS, columns=COLUMNS, budget_s=4.0, command=None, progress=None
) -> str:
    """Measure the grid (each size in a fresh process), write ``scan.json`` and ``scan.md`` into
    ``out_dir`` (``scan-cuda.*`` for the GPU) after every size, and return the Markdown.

    A size whose arrays would not fit in the memory available now (:func:`needed_bytes`) is skipped,
    and the report says so; a size whose process fails ends the run with the sizes before it written.

    Parameters
    ----------
    command : str, optional
        The command line to quote in the report (default: the command with these arguments).

    Raises
    ------
    OutputError
        ``out_dir`` cannot be created or written (checked before anything is measured).
    ValueError
        A column count above 128 that is not a multiple of 128.
    RuntimeError
        A size's process failed (the report holds the sizes measured before it).
    """
    import os

    from ..ops.backend import CPU, resolve
    from ..report import check_writable_dir, make_dir
    from ..train.memory import available_memory
    from .layer import machine_description

    check_writable_dir(out_dir)
    for c in columns:
        shape_of(c)
    if command is None:
        command = (
            f"python -m indrnn_np bench scan --backend {backend} --T {' '.join(map(str, Ts))} "
            f"--columns {' '.join(map(str, columns))} --budget {budget_s:g} --out {out_dir}"
        )
    bk = resolve(backend)
    stem = "scan" if bk is CPU else f"scan-{bk.name}"
    machine = machine_description()
    when = time.strftime("%Y-%m-%d")
    rows, skipped = [], []

    def write():
        device = next((r["device"] for r in rows if r.get("device")), None)
        where = f"{device}; host: {machine}" if device else machine
        notes = "".join(f"\nNot measured: {note}.\n" for note in skipped)
        text = (
            f"# The recurrence: sequential time loop against the scan ({backend}, {when})\n\n"
            f"Machine: {where}.\n\n"
            f"`{command}`: one forward + backward of the recurrence op (relu, float32), each size in a "
            "fresh process, the two algorithms alternating call by call.\n\n" + table(rows) + notes
        )
        make_dir(out_dir)
        record = dict(
            date=when, machine=where, command=command, budget_s=budget_s, Ts=list(Ts), columns=list(columns)
        )
        with open(os.path.join(out_dir, f"{stem}.json"), "w") as fh:
            json.dump(dict(record, rows=rows, skipped=skipped), fh, indent=2)
            fh.write("\n")
        with open(os.path.join(out_dir, f"{stem}.md"), "w") as fh:
            fh.write(text)
        return text

    text = write()
    for T in Ts:
        for c in columns:
            room = available_memory().bytes
            if not bk.on_device and room is not None and needed_bytes(T, c) > room:
                skipped.append(
                    f"T = {T:,}, B·N = {c:,} (needs about {needed_bytes(T, c) / 2**30:.1f} GiB, "
                    f"{room / 2**30:.1f} GiB available)"
                )
                text = write()
                continue
            if progress:
                progress(f"bench scan: T = {T}, B·N = {c} ({backend})")
            rows.append(ask(dict(T=T, columns=c, backend=backend, budget_s=budget_s)))
            text = write()
    return text


if __name__ == "__main__":
    req = json.loads(sys.argv[1])
    print(json.dumps(measure(req["T"], req["columns"], req.get("backend", "cpu"), req.get("budget_s", 4.0))))
