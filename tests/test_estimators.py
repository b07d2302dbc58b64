"""IndRNNClassifier and IndRNNRegressor: scikit-learn's conventions on variable-length sequences."""

import os

import numpy as np
import pytest

from indrnn_np import IndRNNClassifier, IndRNNRegressor
from indrnn_np.estimators import NotFittedError
from indrnn_np.tasks.arrays import ArrayDataError, marker_sequences, pad_sequences
from indrnn_np.train import ConfigError, RunBusyError, RunChangedError, RunDir, TrainingInterrupted

FAST = dict(hidden=8, layers=1, steps=30, batch=16, eval_every=10, lr=3e-3)


@pytest.fixture(scope="module")
def markers():
    X, y = marker_sequences(120, min_length=5, max_length=30, seed=0)
    return X, y


def test_classifier_learns_marker_sequences_given_as_a_list(markers):
    X, y = markers
    Xt, yt = marker_sequences(200, min_length=5, max_length=30, seed=1)
    clf = IndRNNClassifier(hidden=16, layers=2, steps=250, batch=32, lr=3e-3, bidirectional=True)
    assert clf.fit(X, y) is clf
    assert clf.n_features_in_ == 2 and clf.max_length_ == max(len(s) for s in X)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])
    acc = clf.score(Xt, yt)
    assert acc > 0.6, acc  # chance is 0.25
    proba = clf.predict_proba(Xt)
    assert proba.shape == (200, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert 0 <= clf.summary_["test_error"] <= 1


def test_padded_array_with_lengths_equals_the_list(markers):
    X, y = markers
    x, lengths = pad_sequences(X)
    x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = np.nan  # the padding is never read
    a = IndRNNClassifier(**FAST).fit(X, y)
    b = IndRNNClassifier(**FAST).fit(x, y, lengths=lengths)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(x, lengths))
    np.testing.assert_array_equal(a.predict(X), b.predict(x, lengths=lengths))


def test_string_labels_come_back_as_given(markers):
    X, y = markers
    names = np.array(["a", "b", "c", "d"])[y]
    clf = IndRNNClassifier(**FAST).fit(X, names)
    assert set(clf.predict(X[:10])) <= {"a", "b", "c", "d"}
    np.testing.assert_array_equal(clf.classes_, ["a", "b", "c", "d"])


def test_regressor_per_sequence_and_per_step():
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((n, 1)).astype(np.float32) for n in rng.integers(3, 20, 80)]
    y_sum = np.array([s.sum() for s in X])
    reg = IndRNNRegressor(hidden=16, steps=300, batch=16, lr=3e-3)
    reg.fit(X, y_sum)
    pred = reg.predict(X)
    assert pred.shape == (80,)
    assert reg.score(X, y_sum) > 0.5
    y_step = [np.cumsum(s, axis=0) for s in X]  # a target at every step
    reg2 = IndRNNRegressor(**FAST).fit(X, y_step)
    out = reg2.predict(X)
    assert isinstance(out, list) and [len(o) for o in out] == [len(s) for s in X]
    assert out[0].shape == (len(X[0]), 1)
    assert np.isfinite(reg2.score(X, y_step))


def test_per_step_classification_with_padding_labels(markers):
    X, _ = markers
    y_step = [(s[:, 0] > 0).astype(int) for s in X]  # the sign of each step
    clf = IndRNNClassifier(**FAST).fit(X, y_step)
    out = clf.predict(X)
    assert [len(o) for o in out] == [len(s) for s in X]
    assert 0 <= clf.score(X, y_step) <= 1


def test_save_and_load_predict_the_same(markers, tmp_path):
    X, y = markers
    clf = IndRNNClassifier(**FAST, bidirectional=True, bn="time").fit(X, y)
    path = clf.save(tmp_path / "clf")
    assert path.name == "clf.npz"
    again = IndRNNClassifier.load(path)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.get_params() == clf.get_params()
    with pytest.raises(FileExistsError, match="exists: pass overwrite=True"):
        clf.save(path)
    with pytest.raises(ValueError, match="not a saved IndRNNRegressor"):
        IndRNNRegressor.load(path)


def test_run_dir_keeps_checkpoints_and_a_later_fit_resumes(markers, tmp_path):
    X, y = markers
    run = tmp_path / "run"
    first = IndRNNClassifier(**{**FAST, "steps": 20}, run_dir=run).fit(X, y)
    for name in ("metrics.csv", "checkpoint.npz", "summary.json", "curve.png"):
        assert (run / name).is_file(), name
    longer = IndRNNClassifier(**{**FAST, "steps": 30}, run_dir=run).fit(X, y)  # resumes to 30
    straight = IndRNNClassifier(**{**FAST, "steps": 30}).fit(X, y)
    assert longer.summary_["steps"] == 30 and first.summary_["steps"] == 20
    np.testing.assert_allclose(longer.predict_proba(X), straight.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_errors_name_the_argument(markers):
    X, y = markers
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        IndRNNClassifier().predict(X)
    with pytest.raises(ArrayDataError, match=r"X has a NaN or infinite value in a real step: X\[0, 1, 0\]"):
        bad = [s.copy() for s in X]
        bad[0][1, 0] = np.nan
        IndRNNClassifier(**FAST).fit(bad, y)
    with pytest.raises(ArrayDataError, match=r"y must have one entry per sequence, n = 120"):
        IndRNNClassifier(**FAST).fit(X, y[:-1])
    with pytest.raises(ConfigError, match="hidden must be >= 1"):
        IndRNNClassifier(**{**FAST, "hidden": 0}).fit(X, y)
    with pytest.raises(ConfigError, match="bn frame .*use bn time for variable lengths"):
        IndRNNClassifier(**FAST, bn="frame").fit(X, y)
    clf = IndRNNClassifier(**FAST).fit(X, y)
    with pytest.raises(
        ValueError, match="X has 3 features per step, but this IndRNNClassifier was fitted with 2"
    ):
        clf.predict([np.zeros((4, 3))])
    with pytest.raises(ArrayDataError, match=r"lengths must be in \[1, T\]"):
        clf.predict(np.zeros((2, 5, 2)), lengths=np.array([5, 6]))


def test_scikit_learn_clone_cross_validation_and_grid_search(markers):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = markers
    clf = IndRNNClassifier(**FAST)
    assert is_classifier(clf) and is_regressor(IndRNNRegressor())
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "model_")
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    grid = GridSearchCV(clf, {"hidden": [4, 8]}, cv=2).fit(X, y)
    assert grid.best_params_["hidden"] in (4, 8)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert sklearn.__version__


def test_labels_are_checked_as_scikit_learn_checks_them(markers, tmp_path):
    X, y = markers
    with pytest.raises(ValueError, match=r"continuous values .*IndRNNRegressor fits numbers"):
        IndRNNClassifier(**FAST).fit(X, np.random.default_rng(0).random(len(X)))
    with pytest.raises(ValueError, match="one class .*needs at least 2"):
        IndRNNClassifier(**FAST).fit(X, np.zeros(len(X), int))
    with pytest.raises(ValueError, match=r"mixes labels of several types \(int, str\)"):
        IndRNNClassifier(**FAST).fit(X, np.array([1, "a"] * 60, dtype=object))
    with pytest.raises(ArrayDataError, match="y is empty"):
        IndRNNClassifier(**FAST).fit([], [])
    # labels from pandas come as objects: saved as strings, loaded back
    names = np.array(["cat", "dog", "eel", "fox"], dtype=object)[y]
    clf = IndRNNClassifier(**FAST).fit(X, names)
    again = IndRNNClassifier.load(clf.save(tmp_path / "m"))  # also found as "m" (save added .npz)
    np.testing.assert_array_equal(again.predict(X[:5]), clf.predict(X[:5]))
    assert IndRNNClassifier.load(tmp_path / "m").classes_.dtype.kind == "U"
    with pytest.raises(ValueError, match="one entry per sequence: 120 sequences; got 7"):
        clf.score(X, names[:7])


def test_per_step_targets_must_match_their_sequences(markers):
    X, _ = markers
    y = [(s[:, 0] > 0).astype(int) for s in X]
    y[0] = y[0][:2]
    with pytest.raises(ArrayDataError, match=r"y\[0\] must have one entry per step of X\[0\]"):
        IndRNNClassifier(**FAST).fit(X, y)
    targets = [np.cumsum(s[:, 0]) for s in X]  # (T_i,): one value per step
    reg = IndRNNRegressor(**FAST).fit(X, targets)
    assert reg.head_ == "all" and reg.n_outputs_ == 1
    assert [p.shape for p in reg.predict(X[:3])] == [(len(s),) for s in X[:3]]


def test_run_dir_refuses_other_data_and_a_random_seed(markers, tmp_path):
    X, y = markers
    run = tmp_path / "run"
    IndRNNClassifier(**FAST, run_dir=run).fit(X, y)
    with pytest.raises(
        RunChangedError, match="the data: the arrays given to IndRNNClassifier.fit: 120 train / 120 test"
    ):
        IndRNNClassifier(**{**FAST, "steps": 40}, run_dir=run).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="random_state=None .*give random_state an integer"):
        IndRNNClassifier(**FAST, run_dir=tmp_path / "other", random_state=None).fit(X, y)
    with pytest.raises(
        ValueError,
        match="random_state must be an integer >= 0, None, a numpy.random.RandomState or a numpy.random.Generator; got 'x'",
    ):
        IndRNNClassifier(**FAST, random_state="x").fit(X, y)


def test_a_changed_keyword_with_the_same_run_dir_is_refused_naming_each(markers, tmp_path):
    X, y = markers
    run = tmp_path / "run"
    IndRNNClassifier(**FAST, run_dir=run).fit(X, y)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for change, said in (
        (dict(lr=1e-3, activation="tanh"), ["activation: 'relu' in the run, 'tanh' now", "lr: 0.003 in the run, 0.001 now"]),
        (dict(gamma=4.0, u_constraint="nonnegative"), ["u_constraint: 'symmetric' in the run, 'nonnegative' now",
                                                       "gamma: 2.0 in the run, 4.0 now"]),
        (dict(random_state=1), ["random_state: 0 in the run, 1 now"]),
        (dict(dropout=0.1, optimizer="sgd"), ["dropout: 0.0 in the run, 0.1 now", "optimizer: 'adam' in the run, 'sgd' now"]),
        (dict(weight_decay=1e-4, schedule="step"), ["weight_decay: 0.0 in the run, 0.0001 now",
                                                   "schedule: 'none' in the run, 'step' now"]),
    ):  # fmt: skip
        with pytest.raises(RunChangedError) as info:
            IndRNNClassifier(**{**FAST, **change}, run_dir=run).fit(X, y)
        assert sorted(info.value.differences) == sorted(said), info.value.differences
        assert "Fit with the run's values, or give another run_dir" in str(info.value)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # what may change: more steps, the cadence of evaluations and checkpoints, progress
    more = IndRNNClassifier(**{**FAST, "steps": 40, "eval_every": 5, "checkpoint_every": 7}, run_dir=run).fit(
        X, y
    )
    assert more.summary_["steps"] == 40


def _fitted_state(clf, X):
    return clf.classes_.copy(), clf.predict_proba(X), clf.config_.to_dict(), clf.n_features_in_, clf.model_


def _same_state(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2:] == b[2:]


def test_a_refused_or_interrupted_fit_leaves_the_fitted_estimator_as_it_was(markers, tmp_path, monkeypatch):
    import signal

    from indrnn_np.tasks.arrays import ArrayTask

    X, y = markers
    words = np.array(["walk", "run", "sit", "stand"])[y]
    run = tmp_path / "run"
    clf = IndRNNClassifier(**FAST, run_dir=run).fit(X, words)
    state = _fitted_state(clf, X)
    bad = [s.copy() for s in X]
    bad[3][2, 1] = np.nan
    with pytest.raises(ArrayDataError):  # bad input, with other labels
        clf.fit(bad, np.array(["a", "b", "c", "d"])[y])
    _same_state(_fitted_state(clf, X), state)
    with pytest.raises(ArrayDataError):  # another number of classes
        clf.fit(bad, np.array(["a", "b", "c", "c"])[y])
    _same_state(_fitted_state(clf, X), state)
    with RunDir(run).writing(python=True, log=lambda *a: None):  # the folder busy with another writer
        with pytest.raises(RunBusyError, match="is being written by process"):
            clf.set_params(steps=40).fit(X, words)
    _same_state(_fitted_state(clf, X), state)
    with pytest.raises(RunChangedError):  # a changed setting
        clf.set_params(lr=1e-2).fit(X, words)
    clf.set_params(lr=FAST["lr"])
    _same_state(_fitted_state(clf, X), state)

    def no_memory(*a, **kw):
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(type(clf), "_train", no_memory)
    with pytest.raises(MemoryError):  # memory
        clf.fit(X, words)
    monkeypatch.undo()
    _same_state(_fitted_state(clf, X), state)

    calls = []
    real = ArrayTask.train_batch

    def ctrl_c_at_step_25(self, rng, B):
        calls.append(1)
        if len(calls) == 5:  # the 5th step of this fit: 20 + 5
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, rng, B)

    monkeypatch.setattr(ArrayTask, "train_batch", ctrl_c_at_step_25)
    with pytest.raises(TrainingInterrupted, match="call fit again with the same run_dir"):  # Ctrl-C
        clf.fit(X, words)
    monkeypatch.undo()
    _same_state(_fitted_state(clf, X), state)
    clf.fit(X, words)  # again: resumes from the Ctrl-C checkpoint to 40 steps
    straight = IndRNNClassifier(**{**FAST, "steps": 40}).fit(X, words)
    np.testing.assert_allclose(clf.predict_proba(X), straight.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_cross_validation_in_one_run_dir_is_refused_not_mixed(markers, tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.model_selection import cross_val_score

    X, y = markers
    run = tmp_path / "run"
    with pytest.raises(RunChangedError, match="the data:"):
        cross_val_score(IndRNNClassifier(**FAST, run_dir=run), X, y, cv=2, error_score="raise")
    assert RunDir(run).read_metrics()["step"].tolist() == [10, 20, 30]  # the first fold's run, alone


def test_a_damaged_saved_estimator_is_one_line(markers, tmp_path):
    X, y = markers
    path = IndRNNClassifier(**FAST).fit(X, y).save(tmp_path / "m")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 4
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"m.npz: damaged \(its checksum does not match"):
        IndRNNClassifier.load(path)


def test_regressor_converts_y_before_reading_its_shape():
    class NotAnArray:  # what scikit-learn's check_regressor_data_not_an_array passes
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return np.asarray(self.a, dtype=dtype)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 6, 1)).astype(np.float32)
    reg = IndRNNRegressor(**FAST).fit(x, NotAnArray(x.sum(axis=(1, 2))))
    assert reg.predict(x).shape == (30,)


def test_per_step_targets_of_a_nan_padded_x_leave_the_padding_out(markers):
    X, _ = markers
    x, lengths = pad_sequences(X)
    pad = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    x[pad] = np.nan  # tslearn's padding: the lengths come from it
    y = (x[..., 0] > 0).astype(int)
    y[pad] = -1  # whatever the padding holds is not a class
    clf = IndRNNClassifier(**FAST).fit(x, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    y_list = [(s[:, 0] > 0).astype(int) for s in X]
    assert clf.score(x, y) == clf.score(X, y_list)
    reg = IndRNNRegressor(**FAST).fit(x, np.where(pad, np.nan, x[..., 0])[..., None])
    targets = [s[:, :1] for s in X]
    assert reg.score(x, np.where(pad, np.nan, x[..., 0])[..., None]) == pytest.approx(reg.score(X, targets))


def test_other_labels_with_the_same_run_dir_are_refused(markers, tmp_path):
    X, y = markers
    IndRNNClassifier(**FAST, run_dir=tmp_path / "r").fit(X, y)
    with pytest.raises(
        RunChangedError, match=r"classes: \[0, 1, 2, 3\] in the run, \['a', 'b', 'c', 'd'\] now"
    ):
        IndRNNClassifier(**FAST, run_dir=tmp_path / "r").fit(X, np.array(["a", "b", "c", "d"])[y])


def test_ctrl_c_stops_cross_validation_rather_than_scoring_nan(markers, monkeypatch):
    pytest.importorskip("sklearn")
    import signal

    from sklearn.model_selection import cross_val_score

    from indrnn_np import config
    from indrnn_np.tasks.arrays import ArrayTask

    X, y = markers
    calls = []
    real = ArrayTask.train_batch
    monkeypatch.setattr(config, "MEMORY_CHECK", False)  # the calls counted are training's (no rehearsal)

    def ctrl_c(self, rng, B):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, rng, B)

    monkeypatch.setattr(ArrayTask, "train_batch", ctrl_c)
    with pytest.raises(TrainingInterrupted):
        cross_val_score(IndRNNClassifier(**FAST), X, y, cv=3)
    assert len(calls) == 3  # stopped at the first fold


def test_two_folds_fitted_at_once_into_one_run_dir_are_refused(markers, tmp_path):
    pytest.importorskip("sklearn")
    from joblib import parallel_backend
    from sklearn.model_selection import cross_val_score

    X, y = markers
    run = tmp_path / "run"
    with parallel_backend("threading", n_jobs=2), pytest.raises((RunBusyError, RunChangedError)):
        cross_val_score(IndRNNClassifier(**FAST, run_dir=run), X, y, cv=2, error_score="raise")
    import time

    deadline = time.monotonic() + 120
    while (run / ".lock").exists() and time.monotonic() < deadline:  # the other fold's thread ends
        time.sleep(0.05)
    assert RunDir(run).read_metrics()["step"].tolist() == [10, 20, 30]  # one fold's run, never two mixed


def test_score_with_labels_laid_out_otherwise_than_the_fit_names_both_layouts():
    """Labels per sequence against a per-step classifier, or the other way, or per-step labels of another T:
    one ArrayDataError saying what the model was fitted on, not a NumPy broadcasting error."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 6, 2)).astype(np.float32)
    y_seq, y_step = np.arange(12) % 2, (rng.random((12, 6)) > 0.5).astype(int)
    per_seq = IndRNNClassifier(**FAST).fit(X, y_seq)
    with pytest.raises(ArrayDataError, match=r"shape \(12, 6\).*one label per sequence"):
        per_seq.score(X, y_step)
    per_step = IndRNNClassifier(**FAST).fit(X, y_step)
    with pytest.raises(ArrayDataError, match=r"shape \(12,\).*one label per step"):
        per_step.score(X, y_seq)
    with pytest.raises(ArrayDataError, match="y has 4 columns .* X has T = 6"):
        per_step.score(X, y_step[:, :4])
    assert 0 <= per_seq.score(X, y_seq) <= 1 and 0 <= per_step.score(X, y_step) <= 1


def test_one_class_is_named_as_the_user_wrote_it():
    X = np.zeros((4, 3, 1), np.float32)
    with pytest.raises(ValueError, match=r"y has one class \(0\)"):
        IndRNNClassifier(**FAST).fit(X, np.zeros(4, int))
