"""The benchmark commands run (at toy sizes: timings belong in the README, not in tests)."""

import json

import pytest

from indrnn_np.bench.layer import recurrence_bytes
from indrnn_np.bench.peers import peak_memory, roofline
from indrnn_np.cli import main


def test_roofline_arithmetic():
    assert recurrence_bytes(1000, 50, 128, 4) == 5 * 1000 * 50 * 128 * 4
    r = roofline(10, 2, 3, 4, bandwidth=1e9, gemm={"flops": 1440, "seconds": 0.5})
    assert r["bound_s"] == pytest.approx(0.5 + 5 * 10 * 2 * 4 * 4 / 1e9)


def test_peak_memory_is_a_few_tbn_arrays():
    m = peak_memory(200, 4, 2, 16)
    assert m["h_bytes"] == m["tbn_bytes"] == 200 * 4 * 16 * 4
    assert m["tbn_bytes"] <= m["peak_bytes"] < 8 * m["tbn_bytes"]


def test_bench_compare_command_quick(tmp_path, capsys):
    """Every implementation in its own process; peers that are not installed are named, not faked."""
    assert main(["bench", "compare", "--quick", "--repeats", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| size | indrnn-np cpu | cpu, indrnn_np imported first |" in out
    data = json.loads((tmp_path / "compare.json").read_text())
    (layer,) = data["layer"]
    assert (layer["T"], layer["B"], layer["M"], layer["N"]) == (20, 2, 3, 4)
    for key in ("cpu_s", "cpu (indrnn_np first)_s", "numpy_s", "bound_bound_s"):
        assert layer[key] > 0, key
    assert layer["ours_over_bound"] == pytest.approx(layer["cpu_s"] / layer["bound_bound_s"])
    (step,) = data["step"]
    assert step["T"] == 10 and step["indrnn_s"] > 0 and step["indrnn (indrnn_np first)_s"] > 0
    for peer, key in (("jax", "jax_s"), ("torch-rnn", "torch-rnn_s"), ("torch-loop", "torch-loop_s")):
        table = step if peer != "torch-rnn" else layer
        assert key in table or any(m.startswith(peer) for m in data["missing"]), peer
    assert len(data["scaling"]["rows"]) == 2 and (tmp_path / "scaling.png").stat().st_size > 1000


def test_worker_answers_in_a_fresh_process():
    from indrnn_np.bench.compare import ask

    ans = ask(
        {
            "what": "layer",
            "impl": "numpy",
            "T": 5,
            "B": 2,
            "M": 3,
            "N": 4,
            "repeats": 2,
            "order": "indrnn-first",
        }
    )
    assert ans["median_s"] > 0 and ans["compile_s"] > 0
    bound = ask({"what": "bound", "of": "step", "T": 5, "B": 2, "N": 4})
    assert bound["bound_s"] == pytest.approx(
        bound["gemm_s"] + bound["recurrence_bytes"] / (bound["bandwidth_GBps"] * 1e9)
    )
    assert bound["recurrence_bytes"] == 2 * recurrence_bytes(5, 2, 4, 4)


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
    from indrnn_np import config
    from indrnn_np.kernels import cpu

    monkeypatch.setattr(config, "MEMORY_CHECK", False)  # the count is the benchmark's: no rehearsal's calls
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


@pytest.mark.slow
def test_bench_contention_command_quick(tmp_path, capsys):
    """Quiet and loaded, default, one thread and JAX, each in fresh processes; the quick start timed whole."""
    out_dir = tmp_path / "new"  # made when the results are written
    assert main(["bench", "contention", "--quick", "--quick-start-runs", "1", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "| T | implementation | quiet median | quiet p90 | loaded median | loaded p90 |" in out
    data = json.loads((out_dir / "contention.json").read_text())
    got = {(r["T"], r["condition"], r["impl"]) for r in data["rows"]}
    for cond in ("quiet", "loaded"):
        for impl in ("default", "one thread"):
            assert (10, cond, impl) in got
        assert (10, cond, "jax") in got or any(m.startswith("jax") for m in data["missing"])
    for r in data["rows"]:
        assert r["steps"] == 5 and 0 < r["median_ms"] <= r["p90_ms"]
    walls = {(w["condition"], w["impl"]): w["wall_s"] for w in data["quick_start"]}
    assert set(walls) == {(c, i) for c in ("quiet", "loaded") for i in ("default", "one thread")}
    assert all(w > 0 for w in walls.values())
    assert (out_dir / "contention.md").read_text().startswith("Machine: ")


def test_busy_process_runs_only_inside_the_block():
    from indrnn_np.bench.contention import busy_process

    with busy_process(False) as none:
        assert none is None
    with busy_process(True) as proc:
        assert proc.poll() is None  # spinning
    assert proc.poll() is not None  # ended with the block


def test_bench_scan_command_quick(tmp_path, capsys):
    """The crossover grid: each size in a fresh process, both algorithms timed, the table written."""
    assert main(["bench", "scan", "--quick", "--budget", "0.2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Speed-up of the scan" in out and "| T \\ B·N | 1 | 8 |" in out
    data = json.loads((tmp_path / "scan.json").read_text())
    assert [(r["T"], r["columns"]) for r in data["rows"]] == [(20, 1), (20, 8), (200, 1), (200, 8)]
    for r in data["rows"]:
        assert r["repeats"] >= 5
        assert r["speedup"] == pytest.approx(r["sequential"]["median_s"] / r["scan"]["median_s"])
        assert r["sequential"]["p90_s"] >= r["sequential"]["median_s"] > 0
    assert (tmp_path / "scan.md").read_text().startswith("# The recurrence")


def test_bench_scan_skips_a_size_that_cannot_fit_and_says_so(tmp_path, capsys):
    assert main(["bench", "scan", "--T", "20", "100000000000", "--columns", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "scan.json").read_text())
    assert [r["T"] for r in data["rows"]] == [20]
    assert data["skipped"] and "T = 100,000,000,000" in data["skipped"][0] and "GiB" in data["skipped"][0]
    md = (tmp_path / "scan.md").read_text()
    assert "Not measured: T = 100,000,000,000" in md
    assert "--T 20 100000000000 --columns 1" in md  # the command that made it
