"""scikit-learn's own estimator checks, with each failure that the sequential input explains listed and
reasoned; the random_state forms scikit-learn takes; the tags."""

import warnings

import numpy as np
import pytest

from indrnn_np import IndRNNClassifier, IndRNNRegressor
from indrnn_np.tasks.arrays import marker_sequences

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

TWO_D = "a 2-D X is (n, T): n sequences of T steps of one feature, so X.shape[1] is T, not a feature count"
#: The checks that fail, each for a reason tied to reading X as sequences; any other failure fails the
#: test, and so does a listed check that starts passing (the list must stay true).
COMMON = {
    "check_sample_weights_pandas_series": "X comes as a pandas DataFrame, which is refused (see below)",
    "check_sample_weight_equivalence_on_dense_data": "training draws random batches, and the check "
    "shuffles the weighted data: whole-number weights train bit for bit as repeated sequences in the same "
    "order (test_whole_number_weights_train_as_repeated_sequences_bit_for_bit), not in another",
    "check_n_features_in": f"n_features_in_ is M, the features of each step; {TWO_D}",
    "check_n_features_in_after_fitting": f"n_features_in_ is M, the features of each step; {TWO_D}",
    "check_estimators_empty_data_messages": f"{TWO_D}: an (n, 0) X has no steps, which the error says",
}
EXPECTED = {
    IndRNNClassifier: {
        **COMMON,
        "check_classifier_data_not_an_array": "a pandas DataFrame is refused: rows could be sequences or "
        "steps, so the error says how to convert either",
        "check_classifiers_train": f"predict(X.T) is valid input, not a feature mismatch: {TWO_D}, and X.T "
        "is n sequences' worth of steps read as T sequences",
    },
    IndRNNRegressor: {
        **COMMON,
        "check_regressor_data_not_an_array": "a pandas DataFrame is refused: rows could be sequences or "
        "steps, so the error says how to convert either",
        "check_regressor_multioutput": "predictions keep the network's dtype (float32 by default), not "
        "float64",
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("cls", [IndRNNClassifier, IndRNNRegressor], ids=lambda c: c.__name__)
def test_scikit_learns_checks_fail_only_where_listed_with_a_reason(cls):
    expected = EXPECTED[cls]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(cls(hidden=8, steps=20), expected_failed_checks=expected, on_fail=None)
    failed = sorted({r["check_name"] for r in results if r["status"] == "failed"})
    assert not failed, {
        r["check_name"]: repr(r["exception"])[:300] for r in results if r["status"] == "failed"
    }
    listed = {r["check_name"]: r["status"] for r in results if r["check_name"] in expected}
    now_pass = sorted(name for name, status in listed.items() if status != "xfail")
    assert not now_pass, f"listed as failing but passing now: {now_pass}"
    assert set(listed) == set(expected), (
        f"listed checks that scikit-learn no longer runs: {set(expected) - set(listed)}"
    )
    assert sum(r["status"] == "passed" for r in results) >= 40


def test_random_state_takes_what_check_random_state_takes():
    X, y = marker_sequences(30, seed=0)
    fit = lambda rs: IndRNNClassifier(hidden=4, steps=3, random_state=rs).fit(X, y)  # noqa: E731
    assert fit(7).config_.seed == 7
    # a RandomState or a Generator: a seed drawn from it, reproducibly from the same state
    assert fit(np.random.RandomState(0)).config_.seed == fit(np.random.RandomState(0)).config_.seed
    assert fit(np.random.default_rng(0)).config_.seed == fit(np.random.default_rng(0)).config_.seed
    g = np.random.default_rng(1)
    clf = IndRNNClassifier(hidden=4, steps=3, random_state=g)
    assert clf.fit(X, y).config_.seed != clf.fit(X, y).config_.seed  # the generator moves on
    np.random.seed(5)  # noqa: NPY002 (scikit-learn's None reads the legacy global state)
    a = fit(None).config_.seed
    np.random.seed(5)  # noqa: NPY002 (scikit-learn's None reads the legacy global state)
    assert fit(None).config_.seed == a  # None: NumPy's global state, as scikit-learn reads it
    for bad in (1.5, -1, True, "0"):
        with pytest.raises(ValueError, match="random_state must be an integer >= 0, None, a numpy.random"):
            fit(bad)
    with pytest.raises(ValueError, match="draws a new seed at every fit, so a fit with run_dir could never"):
        IndRNNClassifier(random_state=np.random.default_rng(0), run_dir="unused").fit(X, y)


def test_tags_say_sequences():
    from sklearn.utils import get_tags

    clf, reg = get_tags(IndRNNClassifier()), get_tags(IndRNNRegressor())
    assert clf.input_tags.three_d_array and reg.input_tags.three_d_array
    assert not clf.input_tags.allow_nan  # NaN only as padding at a sequence's end
    assert clf.classifier_tags.poor_score and reg.regressor_tags.poor_score
    assert reg.target_tags.multi_output and not clf.target_tags.multi_output


def test_inputs_scikit_learn_passes_are_read_or_refused_in_its_words():
    from sklearn.exceptions import DataConversionWarning

    from indrnn_np.tasks.arrays import ArrayDataError

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 6))
    y = (X[:, 0] > 0.5).astype(int)
    # numbers in an object array are numbers; a non-number is a TypeError naming where it is
    a = IndRNNClassifier(hidden=4, steps=3).fit(X, y).predict(X)
    b = IndRNNClassifier(hidden=4, steps=3).fit(X.astype(object), y).predict(X.astype(object))
    np.testing.assert_array_equal(a, b)
    bad = X.astype(object)
    bad[2, 3] = {"foo": "bar"}
    with pytest.raises(
        TypeError, match=r"X is an object array holding a non-number at X\[2, 3\]: .*must be a"
    ):
        IndRNNClassifier(hidden=4, steps=3).fit(bad, y)
    IndRNNRegressor(hidden=4, steps=3).fit(X, y.astype(object))  # object targets of numbers
    with pytest.raises(ArrayDataError, match="Complex data not supported: X has dtype complex128"):
        IndRNNClassifier(steps=3).fit(X + 1j, y)
    with pytest.raises(ValueError, match=r"Reshape your data: one sequence of 6 steps .*X.reshape\(1, -1\)"):
        IndRNNClassifier(hidden=4, steps=3).fit(X, y).predict(X[0])
    for cls in (IndRNNClassifier, IndRNNRegressor):
        with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
            cls(steps=3).fit(X, None)
    with pytest.raises(ValueError, match=r"got 1 sample\(s\)"):
        IndRNNRegressor(steps=3, validation_fraction=0.2).fit(X[:1], y[:1].astype(float))
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        c = IndRNNClassifier(hidden=4, steps=3).fit(X, y[:, None])
    np.testing.assert_array_equal(c.predict(X), a)  # the same fit as with y (n,)


def _weighted_fits(cls, X, y, w, **kw):
    a = cls(hidden=6, steps=40, validation_fraction=0.0, **kw).fit(X, y, sample_weight=w)
    reps = np.asarray(w).astype(int)
    Xr = [x for x, k in zip(X, reps, strict=True) for _ in range(k)]
    yr = np.repeat(np.asarray(y), reps, axis=0)
    b = cls(hidden=6, steps=40, validation_fraction=0.0, **kw).fit(Xr, yr)
    return a, b


@pytest.mark.parametrize("cls", [IndRNNClassifier, IndRNNRegressor], ids=lambda c: c.__name__)
def test_whole_number_weights_train_as_repeated_sequences_bit_for_bit(cls):
    X, y = marker_sequences(40, seed=3)
    if cls is IndRNNRegressor:
        y = y.astype(np.float64) + 0.5
    w = np.random.default_rng(0).integers(0, 4, len(X))  # zeros too: those sequences are left out
    a, b = _weighted_fits(cls, X, y, w)
    for name in a.model_.params:
        np.testing.assert_array_equal(a.model_.params[name], b.model_.params[name], err_msg=name)
    metric = "test_error" if cls is IndRNNClassifier else "test_mse"  # on the training data, weighted
    assert a.summary_[metric] == pytest.approx(b.summary_[metric], rel=1e-6)
    ones = cls(hidden=6, steps=40, validation_fraction=0.0).fit(X, y, sample_weight=np.ones(len(X)))
    none = cls(hidden=6, steps=40, validation_fraction=0.0).fit(X, y)
    for name in ones.model_.params:
        np.testing.assert_array_equal(ones.model_.params[name], none.model_.params[name], err_msg=name)


def test_score_weighs_as_scikit_learn_metrics_do():
    from sklearn.metrics import accuracy_score, r2_score

    X, y = marker_sequences(50, seed=4)
    w = np.random.default_rng(1).uniform(0, 3, len(X))
    clf = IndRNNClassifier(hidden=6, steps=30).fit(X, y, sample_weight=w)
    assert clf.score(X, y, sample_weight=w) == pytest.approx(
        accuracy_score(y, clf.predict(X), sample_weight=w)
    )
    yr = y + np.random.default_rng(2).normal(size=len(y))
    reg = IndRNNRegressor(hidden=6, steps=30).fit(X, yr, sample_weight=w)
    assert reg.score(X, yr, sample_weight=w) == pytest.approx(r2_score(yr, reg.predict(X), sample_weight=w))
    assert reg.score(X, yr) == pytest.approx(r2_score(yr, reg.predict(X)))


def test_bad_weights_are_refused_by_name_and_a_run_dir_sees_them(tmp_path):
    from indrnn_np.train import RunChangedError

    X, y = marker_sequences(30, seed=5)
    fit = lambda w, **kw: IndRNNClassifier(hidden=4, steps=3, **kw).fit(X, y, sample_weight=w)  # noqa: E731
    for bad, message in [
        (-np.ones(30), r"sample_weight must be finite and >= 0; got sample_weight\[0\] = -1.0"),
        (np.full(30, np.nan), "must be finite and >= 0"),
        (
            np.ones(29),
            r"sample_weight must have shape \(n,\) = \(30,\), one weight per sequence; got \(29,\)",
        ),
        (np.zeros(30), "sample_weight is zero for every sequence"),
    ]:
        with pytest.raises(ValueError, match=message):
            fit(bad)
    with pytest.raises(TypeError, match="sample_weight must hold numbers"):
        fit(np.array(["a"] * 30))
    clf = IndRNNClassifier(hidden=4, steps=3).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        clf.score(X, y, sample_weight=[1, 2])
    run = tmp_path / "run"
    fit(np.ones(30), run_dir=run)
    with pytest.raises(RunChangedError, match="the data"):
        IndRNNClassifier(hidden=4, steps=5, run_dir=run).fit(X, y, sample_weight=np.arange(30) % 3 + 1)


def test_strings_are_refused_even_where_they_would_convert():
    X, y = marker_sequences(20, seed=6)
    x = np.array([np.pad(s, ((0, 80 - len(s)), (0, 0))) for s in X], dtype=object)
    x[3, 4, 1] = "1.5"
    with pytest.raises(TypeError, match=r"X is an object array holding a string at X\[3, 4, 1\]: '1.5'"):
        IndRNNClassifier(hidden=4, steps=3).fit(x, y)
    with pytest.raises(
        TypeError, match="sample_weight must hold numbers, one weight per sequence; got strings"
    ):
        IndRNNClassifier(hidden=4, steps=3).fit(X, y, sample_weight=np.array(["1"] * 20))
    clf = IndRNNClassifier(hidden=4, steps=3).fit(X, y)
    with pytest.raises(
        ValueError, match="sample_weight is zero for every sequence: every sequence would count"
    ):
        clf.score(X, y, sample_weight=np.zeros(20))
    with pytest.raises(ValueError, match="n_iter_no_change must be an integer >= 1"):
        IndRNNClassifier(steps=3, n_iter_no_change=0).fit(X, y)  # checked without early stopping too


def test_a_callback_class_rather_than_an_instance_is_refused_saying_so():
    from indrnn_np.train import Callback

    class Log(Callback):
        def on_evaluation(self, run, step, metrics):
            pass

    X, y = marker_sequences(20, seed=6)
    with pytest.raises(
        TypeError, match=r"callbacks\[0\] is the class Log, not a callback: pass an instance, Log\(\)"
    ):
        IndRNNClassifier(hidden=4, steps=3, callbacks=[Log]).fit(X, y)
