"""Counts of how the code is laid out, for issue 32's before/after: run it on any checkout.

    python benchmarks/house_counts.py [--json]

Everything is read from the code itself (Python's ``ast``) or measured by running it:

* lines of ``indrnn_np/train/memory.py`` and the largest module;
* above ``indrnn_np/kernels/``: comparisons of a backend name (``backend == "cuda"``, ``backend in
  ("cpu", ...)``, ``x.backend != "numpy"``), checks of where an array lives (calls of
  ``is_device_array``, ``cuda.is_cuda_array``, ``hasattr(a, "copy_to_host")``, the backend object's
  ``holds(a)``), the backend taken from where arrays live (calls of ``backend_of(...)``: the op then
  calls that backend's primitives, or asks its ``on_device``), places that validate a
  backend name (``check_choice("backend", ...)``, ``... in BACKENDS``) and attributes or fields that store
  one (``self.backend = ...``, ``backend: str`` in a class body);
* import circles between the package's modules, module-level imports only and all imports (a circle
  through an import inside a function does not fail at import time, but is still a circle of knowledge;
  imports under ``if TYPE_CHECKING:``, for annotations only, are left out);
* hops: the project frames on the stack, at a kernel call, through which a parameter travelled (frames
  with an argument ``backend``, resp. a non-None ``lengths``, or an argument holding it as an attribute:
  a config, a layer, a cache), the largest over the kernel calls of a
  small run started from the command line's ``main``: ``train adding`` for ``backend``, ``train arrays``
  on ragged sequences for ``lengths``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "indrnn_np"
BACKEND_NAMES = {"numpy", "cpu", "cuda"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_backend_ref(node) -> bool:
    return (isinstance(node, ast.Name) and node.id == "backend") or (
        isinstance(node, ast.Attribute) and node.attr == "backend"
    )


def _is_backend_const(node) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in BACKEND_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(_is_backend_const(e) for e in node.elts)
    return False


def _above_kernels(name: str) -> bool:
    return not name.startswith("indrnn_np.kernels")


def _counts_in(tree) -> dict:
    c = defaultdict(int)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_backend_ref(s) for s in sides) and any(_is_backend_const(s) for s in sides):
                c["backend_comparisons"] += 1
            if any(_is_backend_ref(s) for s in sides) and any(
                isinstance(s, ast.Name) and s.id in {"BACKENDS", "UPDATE_BACKENDS"} for s in sides
            ):
                c["backend_validations"] += 1
        elif isinstance(node, ast.Call):
            f = node.func
            fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if fname in {"is_device_array", "is_cuda_array", "holds"}:  # holds: Backend.holds(a)
                c["location_checks"] += 1
            elif fname == "backend_of":
                c["backend_from_arrays"] += 1
            elif fname == "hasattr" and len(node.args) == 2:
                a = node.args[1]
                if isinstance(a, ast.Constant) and a.value in {"copy_to_host", "__cuda_array_interface__"}:
                    c["location_checks"] += 1
            elif fname == "check_choice" and node.args:
                a = node.args[0]
                if isinstance(a, ast.Constant) and a.value == "backend":
                    c["backend_validations"] += 1
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "backend":
                    c["backend_stored"] += 1
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    if stmt.target.id == "backend":
                        c["backend_stored"] += 1
    return c


def _imports(name: str, path: Path, tree, modules: dict, top_only: bool) -> set[str]:
    out = set()
    is_pkg = path.name == "__init__.py"
    pkg_parts = name.split(".") if is_pkg else name.split(".")[:-1]
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for n in ast.walk(block)
    }
    body = tree.body if top_only else list(ast.walk(tree))
    for node in body:
        if id(node) in typing_only:  # for annotations only: never imported when the code runs
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                if sub in modules:
                    out.add(sub)
                elif mod in modules:
                    out.add(mod)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    out.add(alias.name)
    out.discard(name)
    return out


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def _package_edges_ok(a: str, b: str) -> bool:
    """A package importing its own submodule (``ops`` -> ``ops.basic``) is not a circle of knowledge."""
    return b.startswith(a + ".")


def static_counts() -> dict:
    modules = _modules()
    totals = defaultdict(int)
    lines = {}
    graphs = {"top": {}, "all": {}}
    for name, path in modules.items():
        text = path.read_text()
        lines[str(path.relative_to(ROOT))] = text.count("\n")
        tree = ast.parse(text)
        if _above_kernels(name):
            for k, v in _counts_in(tree).items():
                totals[k] += v
        for kind in graphs:
            deps = _imports(name, path, tree, modules, top_only=kind == "top")
            graphs[kind][name] = {
                d for d in deps if not _package_edges_ok(name, d) and not _package_edges_ok(d, name)
            }
    largest = max(lines.items(), key=lambda kv: kv[1])
    memory = lines.get("indrnn_np/train/memory.py", 0)
    return {
        "memory_py_lines": memory,
        "largest_file": {"path": largest[0], "lines": largest[1]},
        "backend_comparisons_above_kernels": totals["backend_comparisons"],
        "array_location_checks_above_kernels": totals["location_checks"],
        "backend_validations_above_kernels": totals["backend_validations"],
        "backend_stored_above_kernels": totals["backend_stored"],
        "backend_from_arrays_above_kernels": totals["backend_from_arrays"],
        "import_circles_module_level": _circles(graphs["top"]),
        "import_circles_all_imports": _circles(graphs["all"]),
    }


def _carries(frame, name: str, not_none: bool) -> bool:
    """Whether a frame received ``name``: an argument of that name, or an argument holding it as an
    attribute (a config, a layer, a cache), not None where ``not_none``."""
    code = frame.f_code
    nargs = code.co_argcount + code.co_kwonlyargcount
    for arg in code.co_varnames[:nargs]:
        if arg not in frame.f_locals:
            continue
        value = frame.f_locals[arg]
        if arg == name:
            found, v = True, value
        else:
            try:
                found, v = name in getattr(type(value), "__dict__", {}) or hasattr(value, name), None
                if found:
                    v = getattr(value, name)
            except Exception:
                found = False
        if found and (not not_none or v is not None):
            return True
    return False


def _hops(argv: list[str], name: str, *, not_none: bool) -> int:
    """The most project frames holding local ``name`` on the stack at any call into indrnn_np/kernels/."""
    from indrnn_np.cli import main

    pkg = str(PKG)
    kernels = str(PKG / "kernels")
    placement = str(PKG / "kernels" / "placement.py")  # where an array lives: a test, not a kernel
    best = [0]

    def tracer(frame, event, arg):
        filename = frame.f_code.co_filename
        if event == "call" and filename.startswith(kernels) and filename != placement:
            n = 0
            f = frame.f_back
            while f is not None:
                if f.f_code.co_filename.startswith(pkg) and _carries(f, name, not_none):
                    n += 1
                f = f.f_back
            best[0] = max(best[0], n)
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the command's own lines stay off --json's output
            rc = main(argv)
    finally:
        sys.settrace(old)
    if rc not in (0, None):
        raise SystemExit(f"{' '.join(argv)} exited {rc}")
    return best[0]


def hop_counts() -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        common = ["--steps", "2", "--eval-every", "2", "--hidden", "4", "--batch", "4", "--quiet"]
        backend = _hops(
            ["train", "adding", "--T", "12", "--test-size", "8", "--backend", "numpy", *common]
            + ["--out", os.path.join(tmp, "a")],
            "backend",
            not_none=False,
        )
        rng = np.random.default_rng(0)
        X = np.full((16, 10, 2), np.nan)
        y = np.arange(16) % 2
        for i in range(16):
            X[i, : 3 + i % 7] = rng.normal(size=(3 + i % 7, 2))
        data = os.path.join(tmp, "d.npz")
        np.savez(data, x=X, y=y)
        lengths = _hops(
            [
                "train",
                "arrays",
                "--data",
                data,
                "--backend",
                "numpy",
                *common,
                "--out",
                os.path.join(tmp, "b"),
            ],
            "lengths",
            not_none=True,
        )
    return {"hops_cli_to_kernel_backend": backend, "hops_cli_to_kernel_lengths": lengths}


def main() -> None:
    out = static_counts()
    out.update(hop_counts())
    if "--json" in sys.argv:
        print(json.dumps(out, indent=1))
        return
    for k, v in out.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
