"""Early stopping, scikit-learn's way: nothing held out by default; with ``early_stopping=True`` the run
stops on the held-out error and keeps the best evaluation's weights, recording where and why."""

import json

import numpy as np
import pytest

from indrnn_np import IndRNNClassifier
from indrnn_np.tasks.arrays import marker_sequences
from indrnn_np.train import EarlyStopping

FAST = dict(hidden=8, eval_every=10, random_state=0)


@pytest.fixture(scope="module")
def data():
    return marker_sequences(120, min_length=5, max_length=30, seed=2)


def _same_params(a, b):
    assert set(a.model_.params) == set(b.model_.params)
    for name in a.model_.params:
        np.testing.assert_array_equal(a.model_.params[name], b.model_.params[name], err_msg=name)


def test_by_default_nothing_is_held_out(data):
    X, y = data
    default = IndRNNClassifier(steps=20, **FAST).fit(X, y)
    _same_params(default, IndRNNClassifier(steps=20, validation_fraction=0.0, **FAST).fit(X, y))


def test_it_stops_after_n_evaluations_without_improvement_and_keeps_the_best_weights(data, tmp_path):
    X, y = data
    run = tmp_path / "run"
    kw = dict(steps=400, early_stopping=True, n_iter_no_change=3, tol=0.0, **FAST)
    est = IndRNNClassifier(run_dir=run, **kw).fit(X, y)
    stopped = est.summary_["stopped"]
    best = int(stopped["reason"].split("(step ")[1].split(")")[0])
    assert stopped["step"] < 400 and "for 3 evaluations" in stopped["reason"], stopped
    assert f"the weights of step {best} " in stopped["reason"]
    # the weights are those a run of exactly `best` steps has, bit for bit (same held-out split, seed)
    plain = IndRNNClassifier(steps=best, validation_fraction=0.1, **FAST).fit(X, y)
    _same_params(est, plain)
    assert est.summary_["test_error"] == pytest.approx(plain.summary_["test_error"])
    rows = (run / "metrics.csv").read_text().splitlines()
    errors = [float(r.split(",")[2]) for r in rows[1:]]
    assert min(errors) == pytest.approx(est.summary_["test_error"])  # the best evaluation's
    assert json.loads((run / "summary.json").read_text())["stopped"]["step"] == stopped["step"]
    # a second fit with the run folder returns the stopped run as it is
    again = IndRNNClassifier(run_dir=run, **kw).fit(X, y)
    _same_params(est, again)


def test_a_run_that_ends_after_its_best_evaluation_restores_it(data):
    X, y = data
    # patience longer than the run: it reaches its steps, its best evaluation (step 20) earlier
    est = IndRNNClassifier(steps=100, early_stopping=True, n_iter_no_change=100, **FAST).fit(X, y)
    stopped = est.summary_["stopped"]
    assert stopped["step"] == 100 and "reached its 100 steps after its best evaluation" in stopped["reason"]
    best = int(stopped["reason"].split("the weights of step ")[1].split(" ")[0])
    assert best < 100
    _same_params(est, IndRNNClassifier(steps=best, validation_fraction=0.1, **FAST).fit(X, y))


def test_bad_settings_are_refused_by_name_before_any_work(data):
    X, y = data
    for kw, message in [
        ({"early_stopping": "yes"}, "early_stopping must be True or False"),
        ({"early_stopping": True, "validation_fraction": 0.0}, "give validation_fraction above 0"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be None or a number in \[0, 1\)"),
        ({"early_stopping": True, "n_iter_no_change": 0}, "n_iter_no_change must be an integer >= 1"),
        ({"early_stopping": True, "tol": -1.0}, "tol must be a number >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            IndRNNClassifier(steps=5, **kw).fit(X, y)
    with pytest.raises(TypeError, match="restore_best must be True or False"):
        EarlyStopping(restore_best=1)
