"""Baselines, the adding-problem study and the neuron analysis."""

import json

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.experiments.neurons import (
    accumulator_scores,
    neuron_report,
    planted_accumulator,
    pre_activation_gradients,
)
from indrnn_np.experiments.study import MODELS, paper_lr, study_runs, verdict
from indrnn_np.nn import Adam, Dense, IndRNN, LastStep, Sequential, build_baseline, indrnn_regressor
from indrnn_np.train import ConfigError, RunDir, TrainConfig


def test_parameter_counts_match_the_paper():
    """Adding problem, 128 units, 2 inputs: RNN ≈ 16K, LSTM ≈ 67K, 2-layer IndRNN ≈ 17K."""
    assert build_baseline("rnn-tanh", 2, 1).num_params() == 16897
    assert build_baseline("irnn", 2, 1).num_params() == 16897
    assert build_baseline("lstm", 2, 1).num_params() == 67201
    assert indrnn_regressor(100).num_params() == 17281
    with pytest.raises(ValueError, match="model must be one of"):
        build_baseline("gru", 2, 1)


def test_irnn_is_identity_initialised():
    m = build_baseline("irnn", 2, 1, hidden=8)
    np.testing.assert_array_equal(m.params["irnn.U"], np.eye(8))
    np.testing.assert_array_equal(m.params["irnn.b"], 0)
    lstm = build_baseline("lstm", 2, 1, hidden=8)
    np.testing.assert_array_equal(lstm.params["lstm.b"][8:16], 1.0)  # forget-gate bias 1


def test_paper_learning_rates_and_the_study_plan():
    assert paper_lr("lstm", 1000) == paper_lr("rnn-tanh", 100) == 2e-3
    assert paper_lr("indrnn", 5000) == paper_lr("irnn", 100) == 2e-4
    assert paper_lr("irnn", 1000) == 1e-5
    runs = study_runs("default")
    Ts = {(m, T) for m, T, _ in runs}
    assert {("indrnn", 5000), ("lstm", 1000), ("irnn", 500), ("rnn-tanh", 100)} <= Ts
    assert ("lstm", 5000) not in Ts  # only IndRNN at T = 5000, as the paper
    steps = {(m, T): cfg.steps for m, T, cfg in runs}
    assert steps[("lstm", 100)] == steps[("irnn", 100)] == 10000  # enough to see them converge at T = 100
    only = study_runs("default", seeds=3, Ts=[100, 5000])
    assert {(m, T) for m, T, _ in only} == {(m, 100) for m in MODELS} | {("indrnn", 5000)}
    assert len(only) == 3 * 5
    with pytest.raises(ConfigError, match="T must be among the preset's 100, 500, 1000, 5000; got"):
        study_runs("default", Ts=[200])
    assert (
        verdict(0.005) == "solved (< 0.01)"
        and verdict(0.17) == "at baseline"
        and verdict(0.5) == "worse than baseline"
    )


@pytest.mark.parametrize("model", ["rnn-tanh", "irnn", "lstm"])
def test_train_command_runs_the_baselines(model, tmp_path):
    rc = main(
        [
            "train",
            "adding",
            "--model",
            model,
            "--T",
            "10",
            "--hidden",
            "8",
            "--steps",
            "6",
            "--batch",
            "4",
            "--eval-every",
            "3",
            "--test-size",
            "16",
            "--quiet",
            "--out",
            str(tmp_path / model),
        ]
    )
    assert rc == 0
    s = json.loads((tmp_path / model / "summary.json").read_text())
    assert s["config"]["model"] == model and np.isfinite(s["test_mse"])


def test_quick_study_produces_every_file(tmp_path, capsys):
    """The quick study on a 2-process Dask LocalCluster; then, run serially, it reuses every run."""
    out = tmp_path / "study"
    assert main(["study", "adding", "--quick", "--out", str(out), "--workers", "2"]) == 0
    assert "Dask LocalCluster: 2 single-threaded worker processes" in capsys.readouterr().out
    for T in (20, 40, 60):
        assert (out / f"adding_T{T}.png").stat().st_size > 1000
    table = (out / "study.md").read_text()
    assert "| model | T | params | lr | steps | final test MSE |" in table
    assert table.count("| 2 x 16 IndRNN |") == 3 and table.count("| 1 x 16 LSTM |") == 2
    assert table.count("| 1 x 16 IRNN |") == 2 and table.count("| 1 x 16 RNN (tanh) |") == 2
    for run in ("indrnn_T20", "lstm_T40", "indrnn_T60"):
        assert (out / run / "metrics.csv").exists() and (out / run / "checkpoint.npz").exists()
    capsys.readouterr()
    assert main(["study", "adding", "--quick", "--out", str(out), "--quiet", "--scheduler", "serial"]) == 0
    assert capsys.readouterr().out.count("reusing") == 9


def _planted_run(tmp_path, T=60, N=4, planted=2):
    """A run folder holding :func:`planted_accumulator`'s hand-built network."""
    import dataclasses

    cfg = TrainConfig(T=T, hidden=N, layers=2, test_size=300)
    model = planted_accumulator(T, N, planted)
    run = tmp_path / "planted"
    run.mkdir()
    RunDir(run).save_checkpoint(
        model=model,
        opt=Adam(model.params),
        meta={
            "config": dataclasses.asdict(cfg),
            "step": 0,
            "elapsed_s": 0.0,
            "data_rng": np.random.default_rng(0).bit_generator.state,
            "acc": {"loss_sum": 0.0, "count": 0},
            "schedule": {},
            "task": {},
        },
    )
    return run


def test_neurons_finds_the_planted_accumulator(tmp_path):
    run = _planted_run(tmp_path)
    rep = neuron_report(run, log=lambda *a: None)
    assert rep["neuron"] == 2
    assert rep["r2"] > 0.999 and rep["runner_up_r2"] < 0.9
    assert rep["full_test_mse"] < 1e-8  # the hand-built network solves the task exactly
    assert rep["one_neuron_test_mse"] < 1e-8  # and so does its one-neuron second layer
    assert rep["marker_neurons"] == [0] and rep["layer1_active"] == 1  # the planted marker neuron
    for name in ("neurons_layer1.png", "neurons_layer2.png"):
        assert (run / name).stat().st_size > 5000
    assert json.loads((run / "neurons.json").read_text())["neuron"] == 2


def test_marker_neurons_fire_only_at_the_marked_steps():
    from indrnn_np.experiments.neurons import marker_neurons, marker_sums

    T, B = 50, 6
    marked = np.zeros((T, B), bool)
    marked[[3, 40], :] = True
    h = np.zeros((T, B, 5))
    h[:, :, 0][marked] = 0.3  # fires at every marker, nowhere else
    h[:, :, 1][marked] = 0.9  # stronger at the markers ...
    h[10, 0, 1] = 0.001  # ... with a trace elsewhere under 1 % of its activation
    h[:, :, 2] = 0.2  # active everywhere: not a marker neuron
    h[3, :, 3] = 0.5  # fires at only half the markers
    sums = marker_sums(h[:, :3], marked[:, :3]) + marker_sums(h[:, 3:], marked[:, 3:])  # chunks add up
    np.testing.assert_allclose(sums, marker_sums(h, marked))
    assert marker_neurons(sums, int(marked.sum())).tolist() == [1, 0]  # most activation first
    assert marker_neurons(sums, int(marked.sum()), fire=0.5).tolist() == [1, 0, 3]
    assert marker_neurons(sums, int(marked.sum()), share=1.0).tolist() == [0]
    with pytest.raises(ValueError, match=r"need h \(T, B, N\) and marked \(T, B\)"):
        marker_sums(h, marked[:, :2])


def test_long_heat_maps_keep_single_step_spikes():
    from indrnn_np.plots import bin_max

    h = np.zeros((5003, 3), np.float32)
    h[2078, 1] = 0.25
    h[5002, 2] = 1.0  # in the padded last bin
    shown, k = bin_max(h, columns=1000)
    assert k == 6 and shown.shape == (834, 3) and shown.dtype == np.float32
    assert shown[2078 // 6, 1] == 0.25 and shown[-1, 2] == 1.0 and shown.sum() == pytest.approx(1.25)
    same, k1 = bin_max(h[:1000], columns=1000)
    assert k1 == 1 and np.shares_memory(same, h) and np.array_equal(same, h[:1000])  # short: drawn as is


def test_neuron_analysis_in_chunks_gives_the_same_report(tmp_path, monkeypatch):
    """At T = 5000 the analysis runs a few sequences at a time; the chunks change no number."""
    from indrnn_np.experiments import neurons

    run = _planted_run(tmp_path)
    whole = neuron_report(run, tmp_path / "whole", seq=5, fit_size=50, log=lambda *a: None)
    monkeypatch.setattr(neurons, "CHUNK", 7)
    chunked = neuron_report(run, tmp_path / "chunked", seq=5, fit_size=50, log=lambda *a: None)
    assert chunked.keys() == whole.keys()
    peaks = whole.pop("max_pre_activation_gradient")
    assert chunked.pop("max_pre_activation_gradient") == pytest.approx(peaks, rel=1e-5)  # float32 sums
    assert set(peaks) == {"indrnn1", "indrnn2"} and all(v > 0 for v in peaks.values())
    for k, v in whole.items():
        assert chunked[k] == (pytest.approx(v, rel=1e-9, abs=1e-12) if isinstance(v, float) else v), k


def test_pre_activation_gradients_match_finite_differences():
    """∂J/∂a_t read per step: layer 1 against J's derivative by x (W1 = I makes them equal),
    layer 2 summed over steps and sequences against J's derivative by its bias."""
    rng = np.random.default_rng(3)
    T, B, N = 7, 2, 3
    l1 = IndRNN.from_arrays(np.eye(N), rng.uniform(0.5, 1.2, N), np.full(N, 0.1))
    l2 = IndRNN.from_arrays(rng.uniform(0.1, 0.5, (N, N)), rng.uniform(0.5, 1.2, N), np.full(N, 0.1))
    model = Sequential(
        [
            ("a", l1),
            ("b", l2),
            ("last", LastStep()),
            ("head", Dense.from_arrays(rng.uniform(0.5, 1, (N, 1)), [0.0])),
        ]
    )
    x, y = rng.uniform(0.5, 1.0, (T, B, N)), rng.uniform(0, 1, (B, 1))

    def J():
        from indrnn_np.ops import mse_forward

        return mse_forward(model.forward(x, train=False)[0], y)[0]

    da = pre_activation_gradients(model, x, y)
    assert list(da) == ["a", "b"] and da["a"].shape == (T, B, N)
    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        x[idx] += eps
        hi = J()
        x[idx] -= 2 * eps
        lo = J()
        x[idx] += eps
        fd[idx] = (hi - lo) / (2 * eps)
    np.testing.assert_allclose(da["a"], fd, rtol=1e-6, atol=1e-10)
    assert np.abs(da["a"][0]).max() > 0.1 * np.abs(da["a"]).max()  # the early steps are not all zero
    b = l2.params["b"]
    for n in range(N):
        b[n] += eps
        hi = J()
        b[n] -= 2 * eps
        lo = J()
        b[n] += eps
        assert da["b"][..., n].sum() == pytest.approx((hi - lo) / (2 * eps), rel=1e-6)


def test_neurons_command_errors(tmp_path):
    assert main(["neurons", "--run", str(tmp_path / "nothing")]) == 2
    rc = main(
        [
            "train",
            "adding",
            "--model",
            "lstm",
            "--T",
            "10",
            "--hidden",
            "4",
            "--steps",
            "2",
            "--quiet",
            "--test-size",
            "8",
            "--out",
            str(tmp_path / "lstm"),
        ]
    )
    assert rc == 0 and (tmp_path / "lstm" / "checkpoint.npz").exists()  # the setup run itself worked
    assert main(["neurons", "--run", str(tmp_path / "lstm")]) == 2


def test_accumulator_scores():
    y = np.linspace(0, 2, 50)
    h = np.stack([3 * y + 1, np.zeros(50), np.sin(7 * y)], axis=1)
    s = accumulator_scores(h, y)
    assert s[0] == pytest.approx(1.0) and s[1] == 0.0 and s[2] < 0.5


def test_a_diverged_run_is_a_row_of_the_study(tmp_path, monkeypatch):
    import indrnn_np.experiments.study as study

    # Adam at lr 1000 on the IRNN overflows within a few steps at every T
    monkeypatch.setattr(study, "paper_lr", lambda model, T: 1e3)
    rows = study.run_study(
        tmp_path / "s", preset="quick", models=("irnn",), scheduler="serial", log=lambda *a: None
    )
    assert len(rows) == 2 and all(r["verdict"].startswith("diverged at step") for r in rows)
    assert {r["params"] for r in rows} == {build_baseline("irnn", 2, 1, hidden=16).num_params()}
    record = json.loads((tmp_path / "s" / "irnn_T20" / "diverged.json").read_text())
    assert record["step"] == rows[0]["steps"] and "params" in record
    assert "diverged at step" in (tmp_path / "s" / "study.md").read_text()


def test_study_with_seeds_reports_mean_and_spread(tmp_path):
    from indrnn_np.experiments.study import run_study

    rows = run_study(
        tmp_path / "s", preset="quick", models=("indrnn",), seeds=2, scheduler="serial", log=lambda *a: None
    )
    assert sorted(r["run"] for r in rows if r["T"] == 20) == ["indrnn_T20", "indrnn_T20_seed1"]
    assert {r["seed"] for r in rows} == {0, 1}
    a, b = (r["test_mse"] for r in rows if r["T"] == 20)
    assert a != b  # two seeds, two different runs
    table = (tmp_path / "s" / "study.md").read_text()
    assert "2 seed(s) per line" in table and table.count(" ± ") >= 6  # final and best at three T


def test_study_scheduler_errors(tmp_path):
    from indrnn_np.experiments.study import SchedulerError, run_study, study_runs
    from indrnn_np.train import ConfigError

    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        run_study(tmp_path / "s", preset="quick", scheduler="tcp://127.0.0.1:1", log=lambda *a: None)
    with pytest.raises(ConfigError, match="seeds must be"):
        study_runs("quick", seeds=0)


def test_neurons_on_a_one_neuron_second_layer(tmp_path, capsys):
    """A 16,1 network: layer 2's only neuron has no runner-up to compare with."""
    run = str(tmp_path / "run")
    args = ["train", "adding", "--T", "12", "--widths", "16,1", "--steps", "5", "--quiet", "--out", run]
    assert main(args) == 0
    assert main(["neurons", "--run", run, "--out", str(tmp_path / "n")]) == 0
    assert "it is the layer's only neuron" in capsys.readouterr().out
    report = json.loads((tmp_path / "n" / "neurons.json").read_text())
    assert report["runner_up_r2"] is None
