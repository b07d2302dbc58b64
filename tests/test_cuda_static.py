"""What the CUDA kernels cost on an H100/H200, checked without a GPU.

Every kernel of :func:`indrnn_np.kernels.cuda.kernel_table`, both dtypes, compiled to PTX by Numba and
to sm_90 code by ``ptxas -v`` (:mod:`indrnn_np.bench.cuda_static`): no kernel spills registers to
local memory or keeps a stack frame there. Skipped where ptxas or NVVM is missing; the occupancy
arithmetic is checked everywhere.
"""

import os

import pytest
from conftest import ptx_compile_missing

from indrnn_np.bench import cuda_static
from indrnn_np.bench.cuda_static import SM90, occupancy, parse_ptxas
from indrnn_np.cli import main

KERNELS = 39  # as tests/test_cuda.py::test_kernels_compile_to_ptx_and_float32_stays_float32 counts them


@pytest.fixture(scope="module")
def costs():
    ptxas = cuda_static.find_ptxas()
    if ptxas is None:
        pytest.skip(cuda_static.PTXAS_MISSING)
    missing = ptx_compile_missing({**os.environ, "NUMBA_ENABLE_CUDASIM": "0"})
    if missing:
        pytest.skip(missing)
    return cuda_static.measure(ptxas)


def test_no_kernel_spills_on_sm90(costs):
    """ptxas -v -arch=sm_90: 0 bytes spill stores, spill loads and stack frame in every kernel, both dtypes."""
    assert len(costs) == 2 * KERNELS
    assert {c.dtype for c in costs} == {"float32", "float64"}
    spilled = {
        f"{c.kernel}:{c.dtype}": (c.spill_stores, c.spill_loads, c.stack, c.registers)
        for c in costs
        if c.spills
    }
    assert spilled == {}, (
        "bytes spill stores, spill loads, stack frame and registers of the kernels that spill"
    )
    assert all(0 < c.registers <= 255 for c in costs)
    gemm = {c.dtype: c.shared for c in costs if c.kernel == "gemm"}
    assert gemm["float64"] == 2 * gemm["float32"] > 0  # the two tiles in shared memory, seen by ptxas
    for c in costs:
        blocks, fraction, _ = occupancy(c.registers, c.shared, c.threads_per_block)
        assert blocks >= 1 and 0 < fraction <= 1, c


def test_occupancy_as_cuda_computes_it():
    """The occupancy calculator's arithmetic on sm_90 (cudaOccupancy.h), at sizes worked out by hand."""
    assert occupancy(32, 0, 256) == (8, 1.0, "threads")  # 1024 registers a warp: 64 warps fit
    assert occupancy(34, 0, 256) == (6, 0.75, "registers")  # 1088 -> 1280 a warp: 12 a quarter, 48 warps
    assert occupancy(92, 0, 256) == (2, 0.25, "registers")  # 3072 a warp: 5 a quarter, 20 warps, 2 blocks
    assert occupancy(64, 0, 256) == (4, 0.5, "registers")
    assert occupancy(96, 33024, 128) == (5, 20 / 64, "registers")  # 6 blocks by shared memory
    assert occupancy(32, 33024, 128) == (
        6,
        24 / 64,
        "shared memory",
    )  # (33024 + 1024 reserved) x 6 <= 228 KiB
    assert occupancy(16, 0, 32) == (32, 0.5, "blocks")
    assert occupancy(255, 0, 1024)[0] == 0  # 255 x 1024 registers: more than a block may have
    assert occupancy(32, SM90["shared_per_block"] + 1, 256)[0] == 0


def test_ptxas_report_parsed():
    report = (
        "ptxas info    : Compiling entry function '_Z6kernel' for 'sm_90'\n"
        "ptxas info    : Function properties for _Z6kernel\n"
        "    224 bytes stack frame, 220 bytes spill stores, 220 bytes spill loads\n"
        "ptxas info    : Used 64 registers, used 1 barriers, 224 bytes cumulative stack size, 16512 bytes smem\n"
    )
    assert parse_ptxas(report) == dict(
        registers=64, shared=16512, spill_stores=220, spill_loads=220, stack=224
    )
    with pytest.raises(ValueError, match="not a ptxas -v report"):
        parse_ptxas("ptxas fatal   : Unresolved extern function")


def test_command_without_the_toolkit_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(cuda_static, "find_ptxas", lambda: None)
    assert main(["bench", "cuda-static"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ptxas (the CUDA toolkit's assembler) not found")


def test_command_prints_both_tables(costs, monkeypatch, capsys):
    monkeypatch.setattr(cuda_static, "measure", lambda ptxas: costs)  # compiled once, by the fixture
    assert main(["bench", "cuda-static"]) == 0
    out = capsys.readouterr().out
    assert "### float32" in out and "### float64" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| kernel")]
    assert len(rows) == 2 * KERNELS
    assert "ptxas -v -arch=sm_90" in out and "config.CUDA_THREADS_PER_BLOCK" in out
