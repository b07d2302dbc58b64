"""What the GPU kernels cost, known without a GPU: registers, shared memory, spills, occupancy on sm_90.

Every kernel of :func:`indrnn_np.kernels.cuda.kernel_table`, both dtypes, is compiled to PTX by
``numba.cuda.compile_ptx`` for compute capability 9.0 (NVVM, no driver needed) and on to SASS by the
CUDA toolkit's ``ptxas -v -arch=sm_90``, whose report gives the registers a thread, the static shared
memory a block, and the bytes spilled to local memory. The theoretical occupancy on an H100 or H200
follows from these and the kernel's block size as launched (read from :mod:`indrnn_np.config`), with
the limits of :data:`SM90` as CUDA's occupancy calculator (``cudaOccupancy.h``) combines them.

``python -m indrnn_np bench cuda-static`` prints the tables; ``tests/test_cuda_static.py`` fails on any
spill. The compile runs in a child process with ``NUMBA_ENABLE_CUDASIM=0`` (in Numba's simulator
there is nothing to compile), started by :func:`measure`.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass

from ..errors import UserError

#: Compute capability the kernels are compiled for: an H100 or H200 (Hopper).
CC = (9, 0)
ARCH = "sm_90"

#: The per-SM limits of compute capability 9.0 (CUDA C++ Programming Guide, "Compute Capabilities",
#: and cudaOccupancy.h): the same on an H100 and an H200.
SM90 = {
    "registers_per_sm": 65536,
    "registers_per_block": 65536,
    "register_unit": 256,  # registers are allocated per warp, in units of 256
    "sub_partitions": 4,  # a warp's registers come from one of the SM's 4 quarters
    "threads_per_sm": 2048,
    "warps_per_sm": 64,
    "blocks_per_sm": 32,
    "shared_per_sm": 228 * 1024,
    "shared_per_block": 227 * 1024,
    "shared_reserved_per_block": 1024,  # kept by the system for each resident block (sm_80 on)
    "shared_unit": 128,
}


class ToolkitMissing(UserError):
    """ptxas, NVVM or numba-cuda is not installed: the static costs cannot be computed here."""


@dataclass
class KernelCost:
    """One kernel of one dtype, compiled for sm_90.

    Attributes
    ----------
    kernel, dtype : str
    threads_per_block : int
        As launched (:func:`indrnn_np.kernels.cuda.kernel_table`).
    launched_by : str
        Where ``threads_per_block`` comes from.
    registers : int
        Registers a thread (ptxas).
    shared : int
        Static shared memory a block, bytes (ptxas).
    spill_stores, spill_loads, stack : int
        Bytes a thread spills to local memory, loads back, and its local stack frame (ptxas).
    """

    kernel: str
    dtype: str
    threads_per_block: int
    launched_by: str
    registers: int
    shared: int
    spill_stores: int
    spill_loads: int
    stack: int

    @property
    def spills(self) -> bool:
        """Whether the kernel uses local memory (a spill or a stack frame)."""
        return bool(self.spill_stores or self.spill_loads or self.stack)


def find_ptxas() -> str | None:
    """The ptxas to use: ``$CUDA_HOME/bin``, ``$CUDA_PATH/bin``, the PATH, the ``nvidia-cuda-nvcc`` wheel
    that the ``cuda-kernels`` extra installs (``nvidia/cuda_nvcc/bin``), then the newest
    ``/usr/local/cuda*/bin``; None when there is none."""
    roots = [os.environ.get(var) for var in ("CUDA_HOME", "CUDA_PATH")]
    for root in filter(None, roots):
        if os.access(os.path.join(root, "bin", "ptxas"), os.X_OK):
            return os.path.join(root, "bin", "ptxas")
    found = shutil.which("ptxas")
    if found:
        return found
    try:
        wheel = importlib.util.find_spec("nvidia.cuda_nvcc")
    except ImportError:  # no nvidia namespace package at all
        wheel = None
    locations = (wheel.submodule_search_locations if wheel else None) or []
    candidates = [os.path.join(d, "bin", "ptxas") for d in locations]
    candidates += sorted(glob.glob("/usr/local/cuda*/bin/ptxas"), key=_version_key, reverse=True)
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def _version_key(path: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", path))


PTXAS_MISSING = (
    "ptxas (the CUDA toolkit's assembler) not found: pip install 'indrnn-np[cuda-kernels]' brings it (the "
    "nvidia-cuda-nvcc wheel), or put a CUDA toolkit's bin/ on the PATH or set CUDA_HOME; it turns the "
    "kernels' PTX into sm_90 code and counts their registers and spills"
)


def ptxas_version(ptxas: str) -> str:
    """``ptxas --version``'s release line (``release 13.0, V13.0.88``)."""
    out = subprocess.run([ptxas, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"release [^\n]*", out)
    return match.group(0) if match else out.strip().splitlines()[-1] if out.strip() else "unknown version"


_PTXAS_NUMBERS = {
    "registers": r"Used (\d+) registers",
    "shared": r"(\d+) bytes smem",
    "spill_stores": r"(\d+) bytes spill stores",
    "spill_loads": r"(\d+) bytes spill loads",
    "stack": r"(\d+) bytes stack frame",
}


def parse_ptxas(report: str) -> dict[str, int]:
    """The numbers of one kernel's ``ptxas -v`` report (its stderr); 0 where a number is not printed.

    Raises
    ------
    ValueError
        When the report has no register count (not a ``-v`` report of one kernel).
    """
    if not re.search(_PTXAS_NUMBERS["registers"], report):
        raise ValueError(f"not a ptxas -v report: {report[-500:]!r}")
    return {k: int(m.group(1)) if (m := re.search(p, report)) else 0 for k, p in _PTXAS_NUMBERS.items()}


def occupancy(
    registers: int, shared: int, threads_per_block: int, limits: dict = SM90
) -> tuple[int, float, str]:
    """Theoretical occupancy of a kernel on one SM, as CUDA's occupancy calculator computes it.

    Parameters
    ----------
    registers : int
        Registers a thread.
    shared : int
        Shared memory a block, bytes (static plus dynamic).
    threads_per_block : int
    limits : dict
        The SM's limits (:data:`SM90`).

    Returns
    -------
    blocks : int
        Resident blocks an SM.
    fraction : float
        Resident warps over the SM's most (``limits["warps_per_sm"]``).
    limiter : str
        What caps ``blocks``: ``"threads"``, ``"blocks"``, ``"registers"`` or ``"shared memory"``
        (the first of these, in that order, when several cap it alike).
    """
    warps = -(-threads_per_block // 32)
    caps = {"blocks": limits["blocks_per_sm"], "threads": limits["warps_per_sm"] // warps}
    per_warp = -(-registers * 32 // limits["register_unit"]) * limits["register_unit"]
    if per_warp * warps > limits["registers_per_block"]:
        caps["registers"] = 0
    elif per_warp:
        parts = limits["sub_partitions"]
        caps["registers"] = (limits["registers_per_sm"] // parts // per_warp) * parts // warps
    if shared > limits["shared_per_block"]:
        caps["shared memory"] = 0
    else:
        unit = limits["shared_unit"]
        block = -(-shared // unit) * unit + limits["shared_reserved_per_block"]
        caps["shared memory"] = limits["shared_per_sm"] // block
    blocks = min(caps.values())
    order = ("threads", "blocks", "registers", "shared memory")
    limiter = next(k for k in order if caps.get(k) == blocks)
    return blocks, blocks * warps / limits["warps_per_sm"], limiter


def _compile_all(ptxas: str) -> list[dict]:
    """In the child process (``NUMBA_ENABLE_CUDASIM=0``): every kernel of both dtypes through ptxas."""
    from numba import cuda

    from ..kernels import cuda as ck

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        for dtype in ("float32", "float64"):
            for entry in ck.kernel_table(dtype):
                options = entry.kernel.targetoptions
                ptx, _ = cuda.compile_ptx(
                    entry.kernel.py_func,
                    entry.signature,
                    cc=CC,
                    launch_bounds=options.get("launch_bounds"),
                    fastmath=options.get("fastmath", False),
                )
                with open(path, "w") as fh:
                    fh.write(ptx)
                cap = options.get("max_registers")
                cmd = [ptxas, "-v", f"-arch={ARCH}", *([f"-maxrregcount={cap}"] if cap else []), path]
                proc = subprocess.run([*cmd, "-o", os.devnull], capture_output=True, text=True)
                if proc.returncode:
                    raise RuntimeError(f"ptxas failed on {entry.name} ({dtype}): {proc.stderr[-1000:]}")
                numbers = parse_ptxas(proc.stderr)
                rows.append(
                    asdict(
                        KernelCost(entry.name, dtype, entry.threads_per_block, entry.launched_by, **numbers)
                    )
                )
    return rows


#: Exit statuses of the child, each a missing piece named in the error.
_NO_NUMBA_CUDA, _NO_NVVM = 3, 4


def _child(ptxas: str) -> int:
    try:
        from numba.cuda.cudadrv import nvvm
    except ImportError as exc:
        print(f"numba's CUDA target cannot be imported ({exc})", file=sys.stderr)
        return _NO_NUMBA_CUDA
    try:
        nvvm.NVVM()
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return _NO_NVVM
    print(json.dumps(_compile_all(ptxas)))
    return 0


def measure(ptxas: str | None = None) -> list[KernelCost]:
    """Compile every kernel of both dtypes for sm_90 and read ptxas's report of each.

    Parameters
    ----------
    ptxas : str, optional
        The assembler (default: :func:`find_ptxas`).

    Returns
    -------
    list of KernelCost
        float32's kernels, then float64's, in :func:`indrnn_np.kernels.cuda.kernel_table`'s order.

    Raises
    ------
    ToolkitMissing
        No ptxas, no NVVM, or no numba-cuda: the message names what is missing and how to get it.
    """
    ptxas = ptxas or find_ptxas()
    if ptxas is None:
        raise ToolkitMissing(PTXAS_MISSING)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np.bench.cuda_static", ptxas], capture_output=True, text=True, env=env
    )
    why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    if proc.returncode in (_NO_NUMBA_CUDA, _NO_NVVM):
        what = (
            "numba-cuda"
            if proc.returncode == _NO_NUMBA_CUDA
            else "NVVM (the CUDA toolkit's compiler library)"
        )
        raise ToolkitMissing(
            f"{what} not found ({why}): pip install 'indrnn-np[cuda-kernels]' brings numba-cuda with the "
            "toolkit wheels"
        )
    if proc.returncode:
        raise RuntimeError(f"compiling the kernels failed:\n{proc.stderr[-3000:]}")
    return [KernelCost(**row) for row in json.loads(proc.stdout.strip().splitlines()[-1])]


def _percent(fraction: float) -> str:
    return f"{100 * fraction:g} %"


def format_table(costs: list[KernelCost], dtype: str) -> str:
    """One dtype's Markdown table: kernel, block, registers, shared memory, spills, occupancy."""
    lines = [
        "| kernel | threads/block | registers/thread | shared (static, B) | spills (st/ld/stack, B) "
        "| blocks/SM | occupancy | limited by |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for c in costs:
        if c.dtype != dtype:
            continue
        blocks, fraction, limiter = occupancy(c.registers, c.shared, c.threads_per_block)
        spills = f"{c.spill_stores}/{c.spill_loads}/{c.stack}" if c.spills else "0"
        lines.append(
            f"| {c.kernel} | {c.threads_per_block} | {c.registers} | {c.shared} | {spills} | {blocks} "
            f"| {_percent(fraction)} | {limiter} |"
        )
    return "\n".join(lines)


def static_report(ptxas: str | None = None) -> str:
    """The tables of ``python -m indrnn_np bench cuda-static``, with where each number comes from.

    Parameters
    ----------
    ptxas : str, optional
        The assembler (default: :func:`find_ptxas`).

    Returns
    -------
    str
        Markdown: a table per dtype, then the sources.

    Raises
    ------
    ToolkitMissing
        See :func:`measure`.
    """
    ptxas = ptxas or find_ptxas()
    if ptxas is None:
        raise ToolkitMissing(PTXAS_MISSING)
    costs = measure(ptxas)
    blocks_from = sorted({f"{c.threads_per_block}: {c.launched_by}" for c in costs})
    L = SM90
    parts = []
    for dtype in ("float32", "float64"):
        parts += [f"### {dtype}", "", format_table(costs, dtype), ""]
    parts += [
        "Where the numbers come from:",
        "",
        f"- registers/thread, shared (static), spills: `ptxas -v -arch={ARCH}` ({ptxas}, "
        f"{ptxas_version(ptxas)}) on the PTX of `numba.cuda.compile_ptx(..., cc={CC})`, the signatures of "
        "`indrnn_np.kernels.cuda.kernel_table`; spills are the bytes of spill stores / spill loads / stack "
        "frame a thread, 0 when all three are 0;",
        "- threads/block: as the kernels are launched, read from `indrnn_np.config` — "
        + "; ".join(blocks_from)
        + ";",
        f"- blocks/SM and occupancy (resident warps over {L['warps_per_sm']}): the sm_90 limits of an H100 "
        f"or H200 — {L['registers_per_sm']:,} registers an SM allocated per warp in units of "
        f"{L['register_unit']} from {L['sub_partitions']} quarters, {L['threads_per_sm']:,} threads, "
        f"{L['warps_per_sm']} warps and {L['blocks_per_sm']} blocks an SM, {L['shared_per_sm'] // 1024} KiB "
        f"shared memory an SM ({L['shared_per_block'] // 1024} KiB a block, {L['shared_reserved_per_block']} B "
        f"reserved a block, allocated in units of {L['shared_unit']} B) — combined as CUDA's occupancy "
        "calculator (cudaOccupancy.h) does, with the largest shared-memory carveout. Theoretical: the "
        "occupancy a profiler measures on a GPU can only be lower.",
    ]
    return "\n".join(parts)


if __name__ == "__main__":  # the child process of measure()
    sys.exit(_child(sys.argv[1]))
