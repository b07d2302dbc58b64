"""How many of the project's own functions a debugger enters before the loop under Eq. 2.

Stepping into ``indrnn_forward(..., backend="numpy")`` (or ``indrnn_backward``) with a debugger,
every call into a function whose code lives in ``indrnn_np/`` is one more frame to step through
(or over) before the time loop of the NumPy reference. This counts them with :func:`sys.settrace`:
the ``call`` events of functions under ``indrnn_np/`` (comprehensions, generator expressions and
lambdas not counted; the entered function itself and the reference kernel counted; a generator
counted each time it is entered, as a debugger steps into it each time) from the call of the op
until the first execution of the first line of the loop body of the reference kernel: in
``recurrence_forward`` ``a = xw[t] + u * h_prev + b`` (Eq. 2), in ``recurrence_backward``
``g = dh[t] + carry`` (its BPTT). The fused reference kernels (``fused_forward``,
``fused_backward``) are targets too, so that the count can be taken where the NumPy backend took
the fused path (before issue 32).

Usage::

    python benchmarks/debugger_steps.py     # forward and backward, (T, B, N) = (5, 2, 3), M = 1 and 16

``tests/test_ops.py`` holds the NumPy backend to at most 10 calls with :func:`count_calls`.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np

import indrnn_np
from indrnn_np import indrnn_backward, indrnn_forward

#: The package's folder: a function whose code lives under it is the project's own.
PACKAGE = str(Path(indrnn_np.__file__).resolve().parent)

#: Code objects a debugger does not stop in as functions of their own.
NOT_COUNTED = {"<listcomp>", "<genexpr>", "<lambda>", "<dictcomp>", "<setcomp>"}

#: The reference kernels whose time loop ends the count, by direction.
TARGETS = {
    "forward": ("recurrence_forward", "fused_forward"),
    "backward": ("recurrence_backward", "fused_backward"),
}


def loop_body_line(fn) -> int:
    """The line number of the first line inside ``fn``'s ``for t in ...:`` loop."""
    lines, first = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if line.lstrip().startswith("for t in "):
            for j in range(i + 1, len(lines)):
                text = lines[j].strip()
                if text and not text.startswith("#"):
                    return first + j
    raise ValueError(f"{fn.__qualname__} has no 'for t in' loop")


def _targets(direction: str) -> dict:
    """{(file, line)} of the loop bodies of the reference kernels of one direction."""
    from indrnn_np.kernels import reference

    out = set()
    for name in TARGETS[direction]:
        fn = getattr(reference, name, None)
        if fn is not None:
            fn = inspect.unwrap(fn)
            out.add((str(Path(inspect.getsourcefile(fn)).resolve()), loop_body_line(fn)))
    return out


def count_calls(direction: str, fn, *args, **kwargs) -> tuple[int, list[str]]:
    """``(count, names)``: the project's functions entered by ``fn(*args, **kwargs)`` before the first
    line of the reference loop of ``direction`` ("forward" or "backward") runs.

    ``fn`` itself is counted. Raises RuntimeError when the loop is never reached.
    """
    targets = _targets(direction)
    files = {f for f, _ in targets}
    names: list[str] = []
    reached = False
    resolved: dict[str, str] = {}

    def where(code) -> str:
        f = resolved.get(code.co_filename)
        if f is None:
            f = resolved[code.co_filename] = str(Path(code.co_filename).resolve())
        return f

    def local(frame, event, arg):
        nonlocal reached
        if event == "line" and (where(frame.f_code), frame.f_lineno) in targets:
            reached = True
            sys.settrace(None)
            frame.f_trace = None
            return None
        return local

    def tracer(frame, event, arg):
        if reached or event != "call":
            return None
        code = frame.f_code
        f = where(code)
        if not f.startswith(PACKAGE) or code.co_name in NOT_COUNTED:
            return None
        names.append(f"{Path(f).relative_to(PACKAGE).as_posix()}:{code.co_name}")
        return local if f in files else None

    sys.settrace(tracer)
    try:
        fn(*args, **kwargs)
    finally:
        sys.settrace(None)
    if not reached:
        raise RuntimeError(f"the {direction} loop of the reference kernel was never reached")
    return len(names), names


def layer_args(T=5, B=2, M=16, N=3, seed=0):
    """x, W, u, b of one layer at (T, B, M, N), float64."""
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((T, B, M)),
        rng.standard_normal((M, N)) / np.sqrt(M),
        rng.uniform(0, 1, N),
        rng.standard_normal(N) * 0.1,
    )


def counts(M: int, T=5, B=2, N=3) -> dict[str, tuple[int, list[str]]]:
    """The forward and backward counts of ``backend="numpy"`` at (T, B, M, N)."""
    x, W, u, b = layer_args(T, B, M, N)
    fwd = count_calls("forward", indrnn_forward, x, W, u, b, backend="numpy")
    h, cache = indrnn_forward(x, W, u, b, backend="numpy")
    bwd = count_calls("backward", indrnn_backward, np.ones_like(h), cache)
    return {"forward": fwd, "backward": bwd}


def main() -> None:
    for M in (1, 16):
        for direction, (n, names) in counts(M).items():
            print(f"M = {M:2d} {direction:8s}: {n:2d} calls  " + " > ".join(names))


if __name__ == "__main__":
    main()
