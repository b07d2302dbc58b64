"""scikit-learn's estimator bases when it is installed; the same methods without it (one home for both).

The estimators (:mod:`indrnn_np.estimators`) and the scaler (:mod:`indrnn_np.preprocessing`) derive
from these: with scikit-learn (the ``sklearn`` extra) they are true scikit-learn estimators (tags,
repr, ``clone``, its checks, Pipelines); without it they keep ``get_params``/``set_params``, the
repr and ``fit_transform``.
"""

from __future__ import annotations

import inspect

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.exceptions import DataConversionWarning, NotFittedError
except ImportError:

    class BaseEstimator:
        """``get_params`` / ``set_params`` from the constructor's keywords, as scikit-learn's."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self")

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; valid: {valid}")
                setattr(self, k, v)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class ClassifierMixin:
        _estimator_type = "classifier"

    class RegressorMixin:
        _estimator_type = "regressor"

    class TransformerMixin:
        """``fit_transform``, as scikit-learn's."""

        def fit_transform(self, X, y=None, **fit_params):
            return self.fit(X, y, **fit_params).transform(X)

    class DataConversionWarning(UserWarning):
        """Data given in one form and read in another (a column vector of labels read as a 1-D array),
        as scikit-learn's warning of the same name."""

    class NotFittedError(ValueError, AttributeError):
        """``predict``, ``transform`` or ``save`` before ``fit`` (scikit-learn's exception of the same
        name, when installed)."""


__all__ = [
    "BaseEstimator",
    "ClassifierMixin",
    "DataConversionWarning",
    "NotFittedError",
    "RegressorMixin",
    "TransformerMixin",
]
