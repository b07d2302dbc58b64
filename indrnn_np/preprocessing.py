"""Layer 5: :class:`SequenceScaler`, each input feature standardised over the real steps of sequences.

The network's weights are initialised for inputs of scale about 1; sensor data in raw units (a
pressure near 1e5 Pa beside a vibration near 0.01 g) trains poorly until each feature is
standardised (:func:`indrnn_np.tasks.arrays.feature_scale_warning` says when). The scaler takes
the estimators' forms of X and returns the same form, so it sits in a scikit-learn Pipeline::

    from sklearn.pipeline import make_pipeline
    from indrnn_np import IndRNNClassifier, SequenceScaler

    model = make_pipeline(SequenceScaler(), IndRNNClassifier())
    model.fit(X, y)  # X: a list of (T_i, M) arrays, or (n, T, M) padded with NaN

With scikit-learn installed (the ``sklearn`` extra) it is a true scikit-learn transformer
(``BaseEstimator`` and ``TransformerMixin``); without it, it keeps the same methods.
"""

from __future__ import annotations

import numpy as np

from .sklearn_bases import BaseEstimator, NotFittedError, TransformerMixin
from .tasks.inputs import _sequence_list, pad_sequences


class SequenceScaler(TransformerMixin, BaseEstimator):
    """Standardise each input feature over the real steps of a set of sequences.

    ``(x - mean_) / scale_`` per feature, mean and standard deviation taken over every real step
    of every sequence (never over padding). Targets are untouched (the scaler never sees y), so
    per-step targets keep their units.

    Parameters
    ----------
    with_mean : bool
        Subtract each feature's mean (as scikit-learn's ``StandardScaler``).
    with_std : bool
        Divide by each feature's standard deviation (1 for a constant feature).

    Attributes
    ----------
    mean_ : ndarray, (M,)
        Each feature's mean over the real steps (subtracted when ``with_mean``).
    var_ : ndarray, (M,)
        Each feature's variance over the real steps.
    scale_ : ndarray, (M,)
        What each feature is divided by: its standard deviation, 1 where that is 0, or 1
        everywhere when ``with_std=False``.
    n_features_in_ : int
        M.
    n_steps_seen_ : int
        The real steps the statistics were taken over.

    Notes
    -----
    X takes the estimators' forms (:func:`indrnn_np.tasks.arrays.pad_sequences`), and
    :meth:`transform` returns the same form:

    * a list of ``(T_i, M)`` (or ``(T_i,)``) arrays: a list of arrays of the same shapes;
    * an array ``(n, T, M)`` or ``(n, T)``, padded with NaN (tslearn's padding: the steps after
      each sequence's last step holding a value) or with ``lengths`` (n,), or not padded: an
      array of the same shape whose padding is left as it was (NaN stays NaN, zeros stay zeros).
    """

    def __init__(self, *, with_mean: bool = True, with_std: bool = True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None, lengths=None):
        """Learn each feature's mean and scale over the real steps of X.

        Parameters
        ----------
        X : array (n, T, M) or (n, T), or list of (T_i, M) arrays
            An array padded with NaN needs no ``lengths``.
        y : ignored
            For the Pipeline's sake.
        lengths : int array (n,), optional
            Real steps of each row of a zero-padded array X.

        Returns
        -------
        self
        """
        x, lens = pad_sequences(X, lengths, name="X", dtype=np.float64)
        real = x[np.arange(x.shape[1])[None, :] < lens[:, None]]  # (R, M)
        self.mean_ = real.mean(axis=0)
        self.var_ = real.var(axis=0)
        std = np.sqrt(self.var_)
        self.scale_ = np.where(std > 0, std, 1.0) if self.with_std else np.ones_like(std)
        self.n_features_in_ = int(x.shape[2])
        self.n_steps_seen_ = int(real.shape[0])
        return self

    def transform(self, X, lengths=None):
        """X standardised, in the form it was given (a list for a list; an array keeps its padding).

        Parameters
        ----------
        X : array (n, T, M) or (n, T), or list of (T_i, M) arrays
        lengths : int array (n,), optional

        Returns
        -------
        list of (T_i, M) arrays, or ndarray of X's shape
            Floating point: X's float dtype, else float64.
        """
        shift = self.mean_ if self._fitted().with_mean else np.zeros_like(self.mean_)
        return self._apply(X, lengths, lambda v: (v - shift) / self.scale_)

    def inverse_transform(self, X, lengths=None):
        """The inverse of :meth:`transform`: back to the original units, in the form X was given."""
        shift = self.mean_ if self._fitted().with_mean else np.zeros_like(self.mean_)
        return self._apply(X, lengths, lambda v: v * self.scale_ + shift)

    def fit_transform(self, X, y=None, lengths=None):
        """:meth:`fit`, then :meth:`transform` of the same X (and lengths)."""
        return self.fit(X, y, lengths=lengths).transform(X, lengths=lengths)

    # ------------------------------------------------------------------
    def _fitted(self) -> SequenceScaler:
        if not hasattr(self, "scale_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(X) first")
        return self

    def _apply(self, X, lengths, f):
        """f on the real steps of X (checked as the estimators check it), in X's own form."""
        x, lens = pad_sequences(X, lengths, name="X", dtype=np.float64)  # checks X: NaN, shapes, lengths
        if x.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[2]} features per step, but this {type(self).__name__} was fitted with "
                f"{self.n_features_in_}"
            )
        seqs = _sequence_list(X, "X")
        if seqs is not None:
            out = []
            for s in seqs:
                a = np.asarray(s)
                one = a.ndim == 1
                v = f(_float(a).reshape(len(a), -1)).astype(_float_dtype(a), copy=False)
                out.append(v[:, 0] if one else v)
            return out
        a = np.asarray(X)
        out = _float(a).astype(_float_dtype(a), copy=True)
        view = out.reshape(out.shape[0], out.shape[1], -1)  # (n, T, M) of the output itself
        real = np.arange(view.shape[1])[None, :] < lens[:, None]
        view[real] = f(view[real].astype(np.float64))
        return out


def _float_dtype(a: np.ndarray):
    return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)


def _float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64, copy=False) if a.dtype.kind != "f" else a


__all__ = ["SequenceScaler"]
