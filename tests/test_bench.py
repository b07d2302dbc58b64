"""The benchmark commands run (at toy sizes: timings belong in the README, not in tests)."""

import json

import numpy as np
import pytest

from indrnn_np.bench.layer import recurrence_bytes
from indrnn_np.bench.peers import bench_sizes, peak_memory, roofline
from indrnn_np.cli import main


def test_roofline_arithmetic():
    assert recurrence_bytes(1000, 50, 128, 4) == 5 * 1000 * 50 * 128 * 4
    r = roofline(10, 2, 3, 4, bandwidth=1e9, gemm={"flops": 1440, "seconds": 0.5})
    assert r["bound_s"] == pytest.approx(0.5 + 5 * 10 * 2 * 4 * 4 / 1e9)


def test_bench_sizes_with_or_without_peers():
    res = bench_sizes({"toy": dict(T=12, B=2, M=3, N=4)}, repeats=2, peers=True)
    row = res["rows"][0]
    assert row["cpu_roofline_fraction"] == pytest.approx(row["roofline_s"] / row["cpu_s"])
    for key, peer in (("torch_rnn_s", "torch"), ("jax_scan_s", "jax")):
        assert key in row or any(peer in n for n in res["notes"]), key  # measured, or skipped with a note


def test_peak_memory_is_a_few_tbn_arrays():
    m = peak_memory(200, 4, 2, 16)
    assert m["h_bytes"] == m["tbn_bytes"] == 200 * 4 * 16 * 4
    assert m["tbn_bytes"] <= m["peak_bytes"] < 8 * m["tbn_bytes"]


def test_bench_compare_command_quick(tmp_path, capsys):
    assert main(["bench", "compare", "--quick", "--repeats", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| size | T | B | M | N | roofline (ms) | indrnn-np cpu (ms) |" in out
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["rows"][0]["size"] == "toy" and len(data["scaling"]["rows"]) == 2
    assert (tmp_path / "scaling.png").stat().st_size > 1000
    assert np.isfinite(data["bandwidth_GBps"])


def test_bench_train_command(capsys, tmp_path):
    assert (
        main(
            [
                "bench",
                "train",
                "--T",
                "30",
                "--B",
                "4",
                "--hidden",
                "8",
                "--steps",
                "3",
                "--json",
                str(tmp_path / "t.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| GEMMs (BLAS) |" in out and "| recurrence kernels (Numba) |" in out
    r = json.loads((tmp_path / "t.json").read_text())
    # the timed parts do not overlap: together they are at most the whole step
    assert r["other_s"] >= 0, r


def test_bench_batchnorm_switches_every_batch_norm_of_the_network(tmp_path, monkeypatch):
    from indrnn_np.kernels import cpu

    calls = []
    real = cpu.batchnorm_rows_forward
    monkeypatch.setattr(cpu, "batchnorm_rows_forward", lambda *a: calls.append(1) or real(*a))
    path = tmp_path / "bn.json"
    args = ["bench", "batchnorm", "--T", "12", "--B", "3", "--N", "4", "--layers", "2", "--repeats", "2"]
    assert main([*args, "--json", str(path)]) == 0
    rows = json.loads(path.read_text())
    assert [r["backend"] for r in rows] == ["numpy", "cpu"]
    assert rows[0]["max_abs_diff"] < 1e-5
    assert rows[1]["bn_speedup"] == pytest.approx(rows[0]["bn_total_s"] / rows[1]["bn_total_s"])
    # cpu: 1 + 3 calls on the bare array, and per network pass (1 warm-up + 2 timed) 3 BNs (2 layers + head)
    assert len(calls) == 4 + 3 * 3
