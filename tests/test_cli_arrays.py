"""``train arrays`` reads the user's .npz as meant: it says whether it classifies or regresses and why,
keeps string labels' names and predicts them, refuses whole-number floats unless ``--task`` says which,
reads NaN padding, and warns in one line about features on far-apart scales."""

import json

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.tasks.arrays import marker_sequences, pad_sequences
from indrnn_np.train import TrainConfig, recipe

SMALL = ["--hidden", "8", "--steps", "20", "--eval-every", "10", "--quiet"]


@pytest.fixture(scope="module")
def marker_arrays():
    X, y = marker_sequences(60, min_length=5, max_length=20, seed=0)
    x, lengths = pad_sequences(X)
    return x, y, lengths


def _train(capsys, data, out, *extra):
    capsys.readouterr()
    rc = main(["train", "arrays", "--data", str(data), *SMALL, *extra, "--out", str(out)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _one_line_error(rc, err, message):
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], lines[0]


def test_the_first_lines_say_classification_or_regression_and_why(tmp_path, capsys, marker_arrays):
    x, y, lengths = marker_arrays
    np.savez(tmp_path / "c.npz", x=x, y=y, lengths=lengths)
    rc, out, _ = _train(capsys, tmp_path / "c.npz", tmp_path / "c")
    assert rc == 0
    data_line = out.splitlines()[1]
    assert data_line.startswith("data: classification (4 classes): y holds integer labels; "), data_line
    np.savez(tmp_path / "r.npz", x=x, y=x[:, 0, 0] + 0.25, lengths=lengths)
    rc, out, _ = _train(capsys, tmp_path / "r.npz", tmp_path / "r")
    assert rc == 0 and out.splitlines()[1].startswith("data: regression: y holds non-integral floats; ")


def test_string_labels_are_classes_whose_names_the_run_keeps_and_predict_writes(
    tmp_path, capsys, marker_arrays
):
    x, y, lengths = marker_arrays
    names = np.array(["north", "east", "south", "west, or so"])
    np.savez(tmp_path / "s.npz", x=x, y=names[y], lengths=lengths)  # unicode: no pickle needed
    run = tmp_path / "run"
    rc, out, _ = _train(capsys, tmp_path / "s.npz", run)
    assert rc == 0
    assert (
        "data: classification (4 classes): y holds strings ('east', 'north', 'south', 'west, or so')" in out
    )
    kept = np.load(run / "classes.npy", allow_pickle=False)
    np.testing.assert_array_equal(kept, np.sort(names))
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "p.npy"),
            ]
        )
        == 0
    )
    pred = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert pred.shape == (60,) and pred.dtype.kind == "U" and set(pred) <= set(names)
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    rows = (tmp_path / "p.csv").read_text().splitlines()
    expected = [f"{i},{c}" if "," not in c else f'{i},"{c}"' for i, c in enumerate(pred)]
    assert rows[0] == "sequence,class" and rows[1:] == expected
    assert main(["evaluate", "--run", str(run)]) == 0
    assert main(["train", "arrays", "--resume", str(run), "--steps", "30", "--quiet"]) == 0


def test_per_step_string_labels_leave_the_padding_out(tmp_path, capsys, marker_arrays):
    x, _, lengths = marker_arrays
    real = np.arange(x.shape[1])[None, :] < lengths[:, None]
    labels = np.where(x[:, :, 0] > 0, "up", "down")
    labels[~real] = ""  # the padding: not a class
    np.savez(tmp_path / "s.npz", x=x, y=labels, lengths=lengths)
    run = tmp_path / "run"
    rc, out, _ = _train(capsys, tmp_path / "s.npz", run)
    assert rc == 0 and "classification (2 classes)" in out
    np.testing.assert_array_equal(np.load(run / "classes.npy"), ["down", "up"])
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "p.npy"),
            ]
        )
        == 0
    )
    pred = np.load(tmp_path / "p.npy")
    assert pred.shape == x.shape[:2] and set(pred[real]) <= {"up", "down"} and set(pred[~real]) == {""}


def test_whole_number_floats_are_refused_unless_task_says_which(tmp_path, capsys, marker_arrays):
    x, y, lengths = marker_arrays
    data = tmp_path / "f.npz"
    np.savez(data, x=x, y=y.astype(np.float64), lengths=lengths)
    rc, _, err = _train(capsys, data, tmp_path / "a")
    _one_line_error(rc, err, "y holds floats that are all whole numbers (0.0, 1.0, 2.0, 3.0)")
    assert "--task classification or --task regression" in err and not (tmp_path / "a").exists()
    rc, out, _ = _train(capsys, data, tmp_path / "c", "--task", "classification")
    assert rc == 0 and "data: classification (4 classes): --task classification; " in out
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["config"]["task_type"] == "classification" and "test_error" in summary
    rc, out, _ = _train(capsys, data, tmp_path / "r", "--task", "regression")
    assert rc == 0 and "data: regression: --task regression; " in out
    assert "test_mse" in json.loads((tmp_path / "r" / "summary.json").read_text())
    assert main(["train", "arrays", "--resume", str(tmp_path / "r"), "--steps", "30", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "arrays", "--data", str(data), "--task", "regression", "--dry-run"]) in (0, 1)
    assert capsys.readouterr().out.startswith("training arrays")
    np.savez(tmp_path / "g.npz", x=x, y=x[:, 0, 0] + 0.5, lengths=lengths)
    rc, _, err = _train(capsys, tmp_path / "g.npz", tmp_path / "g", "--task", "classification")
    _one_line_error(rc, err, "y must hold integer class labels")


def test_task_is_an_option_of_task_arrays_only(tmp_path, capsys):
    _one_line_error(
        main(["train", "adding", "--task", "regression", "--steps", "2", "--out", str(tmp_path / "a")]),
        capsys.readouterr().err,
        "--task is an option of task arrays, not of adding",
    )
    from indrnn_np.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "arrays", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--task {classification,regression}" in text and "floats that are all whole numbers" in text


def test_configs_saved_before_task_type_still_load(tmp_path):
    d = TrainConfig().to_dict()
    del d["task_type"]
    assert TrainConfig.from_dict(d) == TrainConfig()
    x = np.zeros((4, 3, 1))
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="all whole numbers"):
        recipe("arrays", data=str(tmp_path / "d.npz"))
    assert recipe("arrays", data=str(tmp_path / "d.npz"), task_type="regression").task_type == "regression"
    # a train arrays run saved before --task: its float y was regressed, whole numbers too
    old = recipe("arrays", data=str(tmp_path / "d.npz"), task_type="regression").to_dict()
    del old["task_type"]
    assert TrainConfig.from_dict(old).task_type == "regression"
    np.savez(tmp_path / "i.npz", x=x, y=np.array([0, 1, 0, 1]))
    old_int = {**recipe("arrays", data=str(tmp_path / "i.npz")).to_dict(), "data": str(tmp_path / "i.npz")}
    del old_int["task_type"]
    assert TrainConfig.from_dict(old_int).task_type is None


def test_nan_padded_x_without_lengths(tmp_path, capsys, marker_arrays):
    x, y, lengths = marker_arrays
    x_nan = x.astype(np.float64)
    x_nan[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = np.nan
    np.savez(tmp_path / "n.npz", x=x_nan[:45], y=y[:45], x_test=x_nan[45:], y_test=y[45:])
    np.savez(
        tmp_path / "z.npz",
        x=x[:45],
        y=y[:45],
        lengths=lengths[:45],
        x_test=x[45:],
        y_test=y[45:],
        lengths_test=lengths[45:],
    )
    rc, out_n, _ = _train(capsys, tmp_path / "n.npz", tmp_path / "n")
    rc2, out_z, _ = _train(capsys, tmp_path / "z.npz", tmp_path / "z")
    assert rc == rc2 == 0
    fingerprint = lambda out: out.splitlines()[1].split("data ")[-1]  # noqa: E731
    assert fingerprint(out_n) == fingerprint(out_z)  # the same padded arrays and lengths
    a = json.loads((tmp_path / "n" / "summary.json").read_text())["test_error"]
    assert a == json.loads((tmp_path / "z" / "summary.json").read_text())["test_error"]
    assert (
        main(
            [
                "predict",
                "--run",
                str(tmp_path / "n"),
                "--data",
                str(tmp_path / "n.npz"),
                "--out",
                str(tmp_path / "p.npy"),
            ]
        )
        == 0
    )


def test_features_on_far_apart_scales_are_one_warning_line(tmp_path, capsys, marker_arrays):
    x, y, lengths = marker_arrays
    scaled = x.copy()
    scaled[:, :, 0] *= 1e5
    np.savez(tmp_path / "w.npz", x=scaled, y=y, lengths=lengths)
    rc, _, err = _train(capsys, tmp_path / "w.npz", tmp_path / "w")
    assert rc == 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        f"warning: {tmp_path / 'w.npz'}: x's features are on very"
    ), err
    assert "SequenceScaler" in lines[0] and "feature 0 std" in lines[0]
    np.savez(tmp_path / "ok.npz", x=x, y=y, lengths=lengths)
    assert _train(capsys, tmp_path / "ok.npz", tmp_path / "ok")[2] == ""


@pytest.mark.parametrize("labels", [[0, 1000, 2000, 3000], [1, 2, 3, 4]], ids=["far apart", "from 1"])
def test_integer_labels_other_than_0_to_c_are_c_classes_and_come_back_as_given(
    tmp_path, capsys, marker_arrays, labels
):
    x, y, lengths = marker_arrays
    labels = np.array(labels)
    np.savez(tmp_path / "i.npz", x=x, y=labels[y], lengths=lengths)
    run = tmp_path / "run"
    rc, out, _ = _train(capsys, tmp_path / "i.npz", run)
    assert rc == 0 and "data: classification (4 classes)" in out, out  # not 3001, nor 5
    np.testing.assert_array_equal(np.load(run / "classes.npy", allow_pickle=False), labels)
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(tmp_path / "i.npz"),
                "--out",
                str(tmp_path / "p.npy"),
            ]
        )
        == 0
    )
    pred = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert pred.dtype.kind == "i" and set(pred.tolist()) <= set(labels.tolist())


def test_predict_proba_writes_each_class_probability_under_its_name(tmp_path, capsys, marker_arrays):
    import csv

    from indrnn_np.train.predict import predict_run

    x, y, lengths = marker_arrays
    names = np.array(["north", "east", "south", "west, or so"])
    np.savez(tmp_path / "s.npz", x=x, y=names[y], lengths=lengths)
    run = tmp_path / "run"
    assert _train(capsys, tmp_path / "s.npz", run)[0] == 0
    data = str(tmp_path / "s.npz")
    assert main(["predict", "--run", str(run), "--data", data, "--out", str(tmp_path / "c.npy")]) == 0
    capsys.readouterr()
    assert (
        main(["predict", "--run", str(run), "--data", data, "--out", str(tmp_path / "p.npy"), "--proba"]) == 0
    )
    line = capsys.readouterr().out
    assert "class probabilities -> " in line and "(columns: east, north, south, west, or so)" in line, line
    p = np.load(tmp_path / "p.npy")
    assert p.shape == (60, 4) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    kept = np.load(run / "classes.npy")
    np.testing.assert_array_equal(kept[p.argmax(axis=1)], np.load(tmp_path / "c.npy"))  # the same classes
    assert (
        main(["predict", "--run", str(run), "--data", data, "--out", str(tmp_path / "p.csv"), "--proba"]) == 0
    )
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0] == ["sequence", "east", "north", "south", "west, or so"]  # the names, quoted where needed
    np.testing.assert_allclose(np.array(rows[1:], float)[:, 1:], p, rtol=1e-6)

    # per step: NaN in the padding
    labels = np.where(x[:, :, 0] > 0, 1, 0)
    np.savez(tmp_path / "steps.npz", x=x, y=labels, lengths=lengths)
    assert _train(capsys, tmp_path / "steps.npz", tmp_path / "steps")[0] == 0
    r = predict_run(tmp_path / "steps", tmp_path / "steps.npz", tmp_path / "ps.npy", proba=True)
    assert r["kind"] == "probabilities" and r["per_step"] and r["columns"] == ["0", "1"]
    ps = np.load(tmp_path / "ps.npy")
    real = np.arange(x.shape[1])[None, :] < lengths[:, None]
    assert ps.shape == (60, x.shape[1], 2) and np.isnan(ps[~real]).all()
    np.testing.assert_allclose(ps[real].sum(axis=-1), 1, rtol=1e-5)

    # a regression run has no classes: refused in one line, nothing written
    np.savez(tmp_path / "r.npz", x=x, y=x[:, 0, 0] + 0.25, lengths=lengths)
    assert _train(capsys, tmp_path / "r.npz", tmp_path / "r")[0] == 0
    capsys.readouterr()
    rc = main(
        ["predict", "--run", str(tmp_path / "r"), "--data", data, "--out", str(tmp_path / "x.csv"), "--proba"]
    )
    _one_line_error(rc, capsys.readouterr().err, "--proba writes class probabilities, but ")
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(TypeError, match="proba must be True or False"):
        predict_run(run, data, tmp_path / "y.npy", proba="yes")


def test_predict_rehearses_a_run_whose_sequences_are_longer_than_the_probes(tmp_path, capsys, monkeypatch):
    """Sequences of 40 steps: the memory rehearsal cuts the run's task to 16 and 32 steps (it once
    rebuilt the task at T = 16 instead, which task arrays refuses: every predict failed)."""
    from indrnn_np import config

    monkeypatch.setattr(config, "MEMORY_CHECK", True)
    X, y = marker_sequences(40, min_length=35, max_length=40, seed=1)
    x, lengths = pad_sequences(X)
    np.savez(tmp_path / "m.npz", x=x, y=y, lengths=lengths)
    assert _train(capsys, tmp_path / "m.npz", tmp_path / "run")[0] == 0
    out = tmp_path / "p.csv"
    rc = main(
        ["predict", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "m.npz"), "--out", str(out)]
    )
    assert rc == 0, capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 41
