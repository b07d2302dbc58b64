"""SequenceScaler: each feature standardised over the real steps, in the form X was given, in a Pipeline."""

import subprocess
import sys

import numpy as np
import pytest

from indrnn_np import IndRNNClassifier, SequenceScaler
from indrnn_np.tasks.arrays import pad_sequences, sensor_sequences

FAST = dict(hidden=8, layers=1, steps=20, batch=16, eval_every=10, lr=3e-3)


@pytest.fixture(scope="module")
def sensors():
    X, y = sensor_sequences(48, min_length=5, max_length=40, seed=0, dtype=np.float64)
    return X, y


def _padded(X, fill):
    x, lengths = pad_sequences(X, dtype=np.float64)
    x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = fill
    return x, lengths


def test_statistics_are_over_the_real_steps_only_whatever_the_form(sensors):
    X, _ = sensors
    steps = np.concatenate(X)
    for fit in (
        lambda s: s.fit(X),
        lambda s: s.fit(_padded(X, np.nan)[0]),
        lambda s: s.fit(_padded(X, 0.0)[0], lengths=_padded(X, 0.0)[1]),
    ):
        s = fit(SequenceScaler())
        np.testing.assert_allclose(s.mean_, steps.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(s.scale_, steps.std(axis=0), rtol=1e-9)
        assert s.n_features_in_ == 6 and s.n_steps_seen_ == len(steps)
    zero_padded_read_as_real = SequenceScaler().fit(_padded(X, 0.0)[0])
    assert not np.allclose(zero_padded_read_as_real.mean_, steps.mean(axis=0))


def test_transform_returns_the_form_it_was_given(sensors):
    X, _ = sensors
    s = SequenceScaler().fit(X)
    out = s.transform(X)
    assert isinstance(out, list) and [o.shape for o in out] == [a.shape for a in X]
    z = np.concatenate(out)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1, rtol=1e-9)
    x_nan, lengths = _padded(X, np.nan)
    real = np.arange(x_nan.shape[1])[None, :] < lengths[:, None]
    t = s.transform(x_nan)
    assert t.shape == x_nan.shape and np.isnan(t[~real]).all()  # NaN padding stays NaN
    np.testing.assert_allclose(t[real], z, rtol=1e-12)
    x0, _ = _padded(X, 0.0)
    t0 = s.transform(x0, lengths=lengths)
    assert (t0[~real] == 0).all()  # zero padding with lengths stays zero
    np.testing.assert_allclose(t0[real], z, rtol=1e-12)
    one = [a[:, 0] for a in X]  # (T_i,) sequences of one feature
    s1 = SequenceScaler().fit(one)
    assert [o.shape for o in s1.transform(one)] == [a.shape for a in one]
    assert s1.transform(x0[:, :, 0], lengths=lengths).shape == x0[:, :, 0].shape


def test_inverse_transform_and_dtypes(sensors):
    X, _ = sensors
    s = SequenceScaler().fit(X)
    for a, b in zip(s.inverse_transform(s.transform(X)), X, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    x32 = [a.astype(np.float32) for a in X]
    assert s.transform(x32)[0].dtype == np.float32
    ints = [np.arange(4).reshape(2, 2).repeat(3, axis=1)]
    assert SequenceScaler().fit(ints).transform(ints)[0].dtype == np.float64


def test_with_mean_with_std_and_a_constant_feature():
    X = [np.column_stack([np.arange(5.0) + 10, np.full(5, 3.0)])]
    s = SequenceScaler().fit(X)
    assert s.scale_[1] == 1.0  # constant: divided by 1
    np.testing.assert_allclose(s.transform(X)[0][:, 1], 0)
    no_mean = SequenceScaler(with_mean=False).fit(X)
    np.testing.assert_allclose(no_mean.transform(X)[0][:, 0], X[0][:, 0] / np.std(X[0][:, 0]))
    no_std = SequenceScaler(with_std=False).fit(X)
    np.testing.assert_allclose(no_std.transform(X)[0][:, 0], X[0][:, 0] - 12)
    np.testing.assert_array_equal(no_std.scale_, [1, 1])


def test_errors_name_x():
    s = SequenceScaler()
    with pytest.raises(ValueError, match="not fitted yet"):
        s.transform([np.zeros((3, 2))])
    s.fit([np.zeros((3, 2))])
    with pytest.raises(
        ValueError, match="X has 3 features per step, but this SequenceScaler was fitted with 2"
    ):
        s.transform([np.zeros((3, 3))])
    x = np.full((2, 4, 2), np.nan)
    x[0, :2] = 1
    x[1, :3] = 1
    x[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"X\[1, 1, 0\], a NaN inside a sequence"):
        s.fit(x)


def test_clone_get_params_and_set_params():
    pytest.importorskip("sklearn")
    from sklearn.base import clone

    s = SequenceScaler(with_mean=False)
    assert s.get_params() == {"with_mean": False, "with_std": True}
    c = clone(s.fit([np.ones((3, 2))]))
    assert c.get_params() == s.get_params() and not hasattr(c, "mean_")
    assert c.set_params(with_std=False).with_std is False
    assert repr(s) == "SequenceScaler(with_mean=False)"


def test_a_pipeline_fits_and_predicts_a_list_and_a_nan_padded_array(sensors):
    pytest.importorskip("sklearn")
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    X, y = sensors
    pipe = make_pipeline(SequenceScaler(), IndRNNClassifier(**FAST))
    pipe.fit(X, y)
    pred = pipe.predict(X)
    assert pred.shape == (48,) and set(pred) <= {0, 1, 2}
    x_nan, _ = _padded(X, np.nan)
    np.testing.assert_array_equal(pipe.predict(x_nan), pred)  # the same sequences, NaN-padded
    for given in (X, x_nan):
        scores = cross_val_score(make_pipeline(SequenceScaler(), IndRNNClassifier(**FAST)), given, y, cv=2)
        assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    # the classifier saw standardised features: no warning about their scales
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        make_pipeline(SequenceScaler(), IndRNNClassifier(**{**FAST, "steps": 2})).fit(X, y)


def test_the_same_methods_without_scikit_learn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np\n"
        "from indrnn_np.preprocessing import SequenceScaler\n"
        "s = SequenceScaler(with_std=False)\n"
        "out = s.fit_transform([np.arange(6.0).reshape(3, 2)])\n"
        "assert np.allclose(out[0], [[-2, -2], [0, 0], [2, 2]]), out\n"
        "assert s.get_params() == {'with_mean': True, 'with_std': False}\n"
        "print(repr(s.set_params(with_mean=False)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "SequenceScaler(with_mean=False, with_std=False)"
