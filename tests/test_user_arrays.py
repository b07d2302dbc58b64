"""What users hand the estimators, read as they meant it: DataFrames and sparse matrices refused with the
conversion, object arrays and Series of sequences read as lists, NaN padding as tslearn writes it, a
warning for features on far-apart scales, and scikit-learn's metadata routing of ``lengths``."""

import warnings

import numpy as np
import pytest

from indrnn_np import IndRNNClassifier, IndRNNRegressor
from indrnn_np.tasks.arrays import (
    ArrayDataError,
    arrays_task,
    feature_scale_warning,
    marker_sequences,
    pad_sequences,
    sensor_sequences,
    target_scale_warning,
)

FAST = dict(hidden=8, layers=1, steps=30, batch=16, eval_every=10, lr=3e-3)


@pytest.fixture(scope="module")
def markers():
    return marker_sequences(60, min_length=5, max_length=25, seed=0)


def _nan_padded(X):
    x, lengths = pad_sequences(X, dtype=np.float64)
    x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = np.nan
    return x, lengths


# ---------------------------------------------------------------- forms that are not sequences: refused


def test_a_dataframe_is_refused_with_what_to_give_and_how_to_convert():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.zeros((4, 6)))
    with pytest.raises(ArrayDataError) as info:
        pad_sequences(df)
    text = str(info.value)
    assert "\n" not in text and text.startswith("X is a pandas DataFrame of shape (4, 6)")
    assert "(n, T, M)" in text and "list of (T_i, M) arrays" in text
    assert "X.to_numpy()[:, :, None]" in text and "groupby" in text
    with pytest.raises(ArrayDataError, match="X is a pandas DataFrame"):  # before any training
        IndRNNClassifier(**FAST).fit(df, np.arange(4) % 2)


def test_a_sparse_matrix_is_refused_with_the_conversion():
    sparse = pytest.importorskip("scipy.sparse")
    for m in (sparse.csr_matrix(np.eye(3)), sparse.csr_array(np.eye(3))):
        with pytest.raises(
            ArrayDataError, match=r"X is a scipy sparse matrix of shape \(3, 3\).*toarray\(\)"
        ):
            pad_sequences(m)


def test_an_object_array_of_numbers_is_read_and_one_of_other_things_refused():
    x, lengths = pad_sequences(np.array([[1, 2.5], [3, 4]], dtype=object))  # as scikit-learn reads it
    np.testing.assert_array_equal(x[:, :, 0], [[1, 2.5], [3, 4]])
    with pytest.raises(TypeError, match=r"X is an object array holding a string at X\[0, 1\]: .a."):
        pad_sequences(np.array([[1, "a"], [2, "b"]], dtype=object))
    with pytest.raises(ArrayDataError, match=r"X.astype\(float\)"):  # 1-D: neither sequences nor (n, T)
        pad_sequences(np.array([1.0, 2.0], dtype=object))


def test_object_arrays_and_series_of_sequences_are_the_lists_they_hold(markers):
    X, _ = markers
    expected = pad_sequences(X)
    obj = np.empty(len(X), dtype=object)
    obj[:] = X
    for given in (obj, tuple(X)):
        got = pad_sequences(given)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    pd = pytest.importorskip("pandas")
    got = pad_sequences(pd.Series(list(X)))
    np.testing.assert_array_equal(got[1], expected[1])
    with pytest.raises(ArrayDataError, match="a list of sequences has its own lengths"):
        pad_sequences(obj, lengths=expected[1])


def test_a_one_feature_series_of_1d_sequences():
    pd = pytest.importorskip("pandas")
    s = pd.Series([np.arange(3.0), np.arange(5.0)])
    x, lengths = pad_sequences(s)
    assert x.shape == (2, 5, 1) and lengths.tolist() == [3, 5]


# ---------------------------------------------------------------- NaN padding


def test_nan_padding_gives_each_sequence_its_length(markers):
    X, _ = markers
    x_nan, true_lengths = _nan_padded(X)
    x, lengths = pad_sequences(x_nan)
    np.testing.assert_array_equal(lengths, true_lengths)
    np.testing.assert_array_equal(x, pad_sequences(X)[0])  # zeros in the padding, as for the list
    two_d, lens2 = pad_sequences(x_nan[:, :, 0])  # (n, T): one feature
    np.testing.assert_array_equal(lens2, true_lengths)


def test_a_step_with_some_value_is_real():
    x = np.full((2, 5, 2), np.nan)
    x[0, :3] = 1.0
    x[1, :2] = 1.0
    x[1, 3, 1] = 0.0  # one value in step 3: steps 0..3 are real, step 2 and part of 3 are NaN inside
    with pytest.raises(
        ArrayDataError,
        match=r"X has a NaN or infinite value in a real step: X\[1, 2, 0\], a NaN inside a sequence \(row 1 has values up to step 3\)",
    ):
        pad_sequences(x)


def test_a_partly_nan_step_and_an_all_nan_sequence_are_errors():
    x = np.full((3, 4, 2), np.nan)
    x[:, :2] = 1.0
    x[1, 1, 0] = np.nan  # a partly-NaN last step
    with pytest.raises(ArrayDataError, match=r"X\[1, 1, 0\].*NaN padding must fill whole steps"):
        pad_sequences(x)
    x[1, 1, 0] = 1.0
    x[2] = np.nan
    with pytest.raises(ArrayDataError, match=r"X\[2\] is all NaN"):
        pad_sequences(x)
    with pytest.raises(ArrayDataError, match="lengths must be in"):  # with lengths: as before
        pad_sequences(x, lengths=np.array([2, 2, 0]))
    x[2, :2] = 1.0
    x[2, 0, 0] = np.inf
    with pytest.raises(ArrayDataError, match=r"NaN or infinite value in a real step: X\[2, 0, 0\]"):
        pad_sequences(x)


def test_with_lengths_the_nan_padding_is_never_read(markers):
    X, _ = markers
    x_nan, lengths = _nan_padded(X)
    x_nan[0, -1] = 5.0  # garbage beyond lengths[0]
    x, got = pad_sequences(x_nan, lengths)
    np.testing.assert_array_equal(got, lengths)
    np.testing.assert_array_equal(x, pad_sequences(X)[0])


def test_arrays_task_reads_nan_padded_training_and_test_arrays(markers):
    X, y = markers
    x_nan, lengths = _nan_padded(X)
    task = arrays_task(x_nan[:40], y[:40], X_test=x_nan[40:], y_test=y[40:])
    np.testing.assert_array_equal(task.lengths, lengths[:40])
    np.testing.assert_array_equal(task.lengths_test, lengths[40:])


def test_the_estimators_fit_predict_and_score_nan_padded_x_with_the_real_lengths(markers):
    X, y = markers
    x_nan, lengths = _nan_padded(X)
    a = IndRNNClassifier(**FAST).fit(X, y)
    b = IndRNNClassifier(**FAST).fit(x_nan, y)  # no lengths: the NaN padding says them
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(x_nan))
    assert a.score(X, y) == b.score(x_nan, y)
    target = np.array([s[:, 0].mean() for s in X])
    r1 = IndRNNRegressor(**FAST).fit(X, target)
    r2 = IndRNNRegressor(**FAST).fit(x_nan, target)
    np.testing.assert_array_equal(r1.predict(X), r2.predict(x_nan))
    assert r1.score(X, target) == r2.score(x_nan, target)
    zero = np.nan_to_num(x_nan)  # zero padding read as real steps: other predictions
    assert not np.array_equal(r2.predict(zero), r2.predict(x_nan))


# ---------------------------------------------------------------- features on far-apart scales


def test_feature_scale_warning_names_the_features_and_the_fix():
    X, _ = sensor_sequences(40, max_length=60)
    x, lengths = pad_sequences(X)
    text = feature_scale_warning(x, lengths)
    assert text is not None and "\n" not in text
    assert "feature 0 std" in text and "feature 1 std" in text and "feature 3" not in text
    assert "make_pipeline(indrnn_np.preprocessing.SequenceScaler(), IndRNNClassifier())" in text
    assert "Standardise each feature" in text
    assert feature_scale_warning(*pad_sequences(marker_sequences(40)[0])) is None


@pytest.mark.parametrize(
    "scale, shift, expected",
    [(1.0, 0.0, None), (1e4, 0.0, "feature 1"), (1e-4, 0.0, "feature 1"), (1.0, 5e3, "feature 1")],
)
def test_feature_scale_warning_thresholds(scale, shift, expected):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 10, 2))
    x[:, :, 1] = x[:, :, 1] * scale + shift
    lengths = np.full(20, 10)
    text = feature_scale_warning(x, lengths)
    assert (text is None) if expected is None else (expected in text)


@pytest.mark.parametrize(
    "y, lengths, expected",
    [
        (np.linspace(-2, 2, 30), None, None),
        (np.linspace(0, 50, 30), None, "mean 25, std 14.9"),  # Tecator's fat %, about
        (np.column_stack([np.zeros(30), np.full(30, 300.0) + np.arange(30)]), None, "(column 1): mean 314"),
        (np.where(np.arange(6)[None, :, None] < 3, 1.0, 1e6) * np.ones((5, 6, 1)), np.full(5, 3), None),
        (np.full((5, 6, 1), 1e6), np.full(5, 3), "mean 1e+06"),
    ],
)
def test_target_scale_warning_names_the_scale_and_the_fix(y, lengths, expected):
    text = target_scale_warning(y, lengths)
    if expected is None:
        assert text is None
    else:
        assert expected in text and "\n" not in text and "TransformedTargetRegressor" in text


def test_a_regressor_warns_of_raw_unit_targets_and_not_a_classifier():
    X = [np.random.default_rng(i).standard_normal((8, 2)) for i in range(12)]
    with pytest.warns(UserWarning, match=r"y's targets are far from scale 1: mean 4\.55e\+03, std 345"):
        IndRNNRegressor(steps=1, hidden=4, random_state=0).fit(X, 4000.0 + 100 * np.arange(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IndRNNRegressor(steps=1, hidden=4, random_state=0).fit(X, np.linspace(-1, 1, 12))
        IndRNNClassifier(steps=1, hidden=4, random_state=0).fit(X, np.arange(12) % 2 + 4000)


def test_only_the_real_steps_count_for_the_scales():
    x = np.random.default_rng(0).standard_normal((10, 8, 2))
    x[:, 4:] = 1e6  # padding
    assert feature_scale_warning(x, np.full(10, 4)) is None
    assert feature_scale_warning(x, np.full(10, 8)) is not None


def test_the_estimators_warn_at_the_users_call():
    X, y = sensor_sequences(30, max_length=20)
    with pytest.warns(UserWarning, match="features are on very different scales") as record:
        IndRNNClassifier(**{**FAST, "steps": 2}).fit(X, y)
    assert record[0].filename == __file__  # this line, not the package's


def test_no_warning_for_features_of_one_scale(markers):
    X, y = markers
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        arrays_task(X, y)


# ---------------------------------------------------------------- scikit-learn's metadata routing


def test_metadata_routing_gives_each_fold_its_lengths_in_fit_and_score(markers):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import KFold, cross_val_score

    X, _ = markers
    x, lengths = pad_sequences(X)
    target = np.array([s[:, 0].mean() for s in X])
    est = IndRNNRegressor(**FAST)
    cv = KFold(3)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = clone(est).set_fit_request(lengths=True).set_score_request(lengths=True)
        scores = cross_val_score(routed, x, target, cv=cv, params={"lengths": lengths})
    manual, unrouted = [], []
    for train, test in cv.split(x):
        fitted = clone(est).fit(x[train], target[train], lengths=lengths[train])
        manual.append(fitted.score(x[test], target[test], lengths=lengths[test]))
        unrouted.append(fitted.score(x[test], target[test]))  # padding read as real steps
    np.testing.assert_array_equal(scores, manual)
    assert not np.allclose(manual, unrouted)  # so the scores above did read the folds' lengths
    from sklearn.model_selection import GridSearchCV

    with sklearn.config_context(enable_metadata_routing=True):
        routed = clone(est).set_fit_request(lengths=True).set_score_request(lengths=True)
        search = GridSearchCV(routed, {"hidden": [8]}, cv=cv).fit(x, target, lengths=lengths)
    assert search.best_score_ == pytest.approx(np.mean(manual), rel=1e-12)


def test_sensor_sequences_are_raw_units_with_the_class_in_the_middle():
    X, y = sensor_sequences(300, seed=3)
    lengths = np.array([len(s) for s in X])
    assert all(s.shape[1] == 6 for s in X) and 5 <= lengths.min() and lengths.max() <= 500
    assert lengths.max() - lengths.min() > 400 and set(y) == {0, 1, 2}
    steps = np.concatenate(X).astype(np.float64)
    assert 9e4 < steps[:, 0].mean() < 1.1e5 and 0.005 < steps[:, 1].mean() < 0.02
    for s, label in zip(X, y, strict=True):
        w = max(3, len(s) // 8)
        middle = s[(len(s) - w) // 2 : (len(s) - w) // 2 + w]
        rest = np.delete(s, np.arange((len(s) - w) // 2, (len(s) - w) // 2 + w), axis=0)
        if len(rest) < 2:
            continue
        jump = (middle[:, 1].mean() - rest[:, 1].mean()) / 0.002  # in noise stds of the vibration
        assert (jump > 4) if label == 1 else (jump < -4) if label == 2 else (abs(jump) < 4), (label, jump)
