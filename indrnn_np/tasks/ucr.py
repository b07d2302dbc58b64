"""Public UCR/UEA time-series data sets, read from the copies that ship inside sktime.

The UCR/UEA archive (https://timeseriesclassification.com) is the yardstick of sequence
classification; sktime's wheel carries a few of its data sets with their published train/test
splits. :func:`load_ucr` reads one of those copies and nothing else: no data is downloaded (sktime's
own loader would fetch any other name from the internet; here such a name is refused first).

Install the reader with ``pip install 'indrnn-np[ucr]'`` (sktime). The sequences come back as the
estimators take them: a list of ``(T_i, M)`` arrays, samples first, lengths free.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import UserError

#: The data sets read here, as (task, what the target is): the UCR/UEA sets that sktime ships.
SETS = {
    "ArrowHead": ("classify", "3 shapes of arrowhead outlines, univariate, 251 steps"),
    "BasicMotions": ("classify", "4 activities from a wrist sensor, 6 channels, 100 steps"),
    "GunPoint": ("classify", "drawing a gun or pointing, a hand's x coordinate, 150 steps"),
    "ItalyPowerDemand": ("classify", "winter or summer day from 24 hourly loads"),
    "JapaneseVowels": ("classify", "9 speakers from 12 LPC channels, 7..29 steps"),
    "OSULeaf": ("classify", "6 leaf species from outlines, univariate, 427 steps"),
    "PLAID": ("classify", "11 appliance types from current, 100..1344 steps"),
    "Tecator": ("regress", "fat content (%) of meat from its absorbance spectrum, 100 wavelengths as steps"),
}

INSTALL = "pip install 'indrnn-np[ucr]' (sktime, which ships these data sets)"


class UCRDataError(UserError, ValueError):
    """A data set that is not one of :data:`SETS`, a split other than train/test, or no sktime."""


def _shipped(name: str) -> bool:
    import sktime

    return os.path.isdir(os.path.join(os.path.dirname(sktime.__file__), "datasets", "data", name))


def load_ucr(name: str, split: str = "train") -> tuple[list[np.ndarray], np.ndarray]:
    """One split of a UCR/UEA data set that ships with sktime, as the estimators take it.

    Parameters
    ----------
    name : str
        One of :data:`SETS` (``"GunPoint"``, ``"JapaneseVowels"``, ...), spelt as the archive does.
    split : {"train", "test"}
        The archive's published split.

    Returns
    -------
    X : list of ndarray, each (T_i, M) float64
        The sequences, samples first; lengths may differ (JapaneseVowels: 7..29 steps).
    y : ndarray, (n,)
        Class labels as strings (classification), or float64 targets (Tecator's fat content).

    Raises
    ------
    UCRDataError
        ``name`` is not a data set sktime ships (nothing is downloaded), ``split`` is neither
        ``"train"`` nor ``"test"``, or sktime is not installed (saying how to install it).
    """
    if name not in SETS:
        close = [s for s in SETS if isinstance(name, str) and s.lower() == name.lower()]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UCRDataError(
            f"name must be one of the UCR/UEA data sets that ship with sktime ({', '.join(SETS)}); "
            f"got {name!r} (nothing is downloaded){hint}"
        )
    if split not in ("train", "test"):
        raise UCRDataError(f"split must be 'train' or 'test'; got {split!r}")
    try:
        from sktime.datasets import load_UCR_UEA_dataset
    except ImportError:
        raise UCRDataError(f"reading the UCR/UEA data sets needs sktime: {INSTALL}") from None
    if not _shipped(name):  # an sktime without this copy would download it: refused instead
        raise UCRDataError(f"this sktime does not ship {name} (nothing is downloaded): {INSTALL}")
    X, y = load_UCR_UEA_dataset(name, split=split, return_type="nested_univ")
    seqs = [
        np.stack([np.asarray(X.iloc[i, j], dtype=np.float64) for j in range(X.shape[1])], axis=1)
        for i in range(len(X))
    ]
    y = np.asarray(y)
    return seqs, (y.astype(np.float64) if SETS[name][0] == "regress" else y.astype(str))


__all__ = ["SETS", "UCRDataError", "load_ucr"]
