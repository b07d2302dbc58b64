"""The command line: exit codes, tables and one-line errors."""

import json
import subprocess
import sys

import pytest

from indrnn_np.cli import main


def test_gradcheck_command_passes_and_prints_a_table(capsys):
    assert main(["gradcheck", "--backend", "numpy", "--backend", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| backend | activation | array | max rel. error | result |" in out
    for activation in ("relu", "tanh", "identity"):
        for array in ("x", "W", "u", "b", "h0"):
            assert f"| cpu | {activation} | {array} |" in out
    assert "32 passed, 0 failed" in out
    assert "| neuron | u | closed form u^T | BPTT dh0 | finite difference |" in out


def test_gradcheck_command_fails_on_a_broken_backward(monkeypatch, capsys):
    """The command must exit non-zero when a gradient is wrong."""
    import indrnn_np.ops as ops

    real = ops.indrnn_backward

    def broken(dh, cache):
        g = real(dh, cache)
        return g._replace(du=2 * g.du)

    monkeypatch.setattr(ops, "indrnn_backward", broken)
    assert main(["gradcheck", "--backend", "numpy"]) == 1
    out = capsys.readouterr().out
    assert "| numpy | relu | u |" in out and "FAIL" in out


def test_bench_layer_command_small(tmp_path, capsys):
    path = tmp_path / "bench.json"
    rc = main(
        [
            "bench",
            "layer",
            "--T",
            "20",
            "--B",
            "2",
            "--M",
            "3",
            "--N",
            "4",
            "--repeats",
            "2",
            "--json",
            str(path),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "| numpy | 20 | 2 | 3 | 4 |" in out and "| cpu | 20 | 2 | 3 | 4 |" in out
    rows = json.loads(path.read_text())
    assert {r["backend"] for r in rows} == {"numpy", "cpu"}
    assert all(r["total_s"] > 0 and r["recurrence_s"] > 0 for r in rows)


def test_bad_option_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "bench", "layer", "--T", "-5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "expected a positive integer, got -5" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_module_entry_point_runs_gradcheck():
    proc = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "gradcheck", "--backend", "cpu"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "16 passed, 0 failed" in proc.stdout
