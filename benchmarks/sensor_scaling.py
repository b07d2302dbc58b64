"""Raw sensor units against standardised features: IndRNNClassifier's defaults with and without SequenceScaler.

The data: :func:`indrnn_np.tasks.arrays.sensor_sequences`, six channels in raw
units (pressure near 1e5 Pa, vibration near 0.01 g, temperature, humidity,
voltage, speed), lengths 5..500, three classes set by an event in the middle
of each sequence whose direction shows only in the 0.01-scale vibration
channel. 600 training sequences (seed 0) and 300 held-out test sequences
(seed 1). Two models, each with IndRNNClassifier's default keywords
(``random_state=0``):

* ``IndRNNClassifier()`` on the raw sequences;
* ``make_pipeline(SequenceScaler(), IndRNNClassifier())``.

Prints the test accuracy of each (and the fit's wall time); with an argument,
also writes them to that JSON file. Usage::

    nice -n 10 python benchmarks/sensor_scaling.py [OUT.json]
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

from indrnn_np import IndRNNClassifier, SequenceScaler
from indrnn_np.tasks.arrays import sensor_sequences
from indrnn_np.train import TrainingDiverged

N_TRAIN, N_TEST = 600, 300


def _measure(name: str, model, X, y, Xt, yt) -> dict:
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            model.fit(X, y)
        except TrainingDiverged as exc:
            return {"model": name, "test_accuracy": None, "diverged": str(exc)}
    fit_s = time.perf_counter() - t0
    row = {
        "model": name,
        "test_accuracy": float(model.score(Xt, yt)),
        "fit_s": round(fit_s, 1),
        "scale_warning": any("scales" in str(w.message) for w in caught),
    }
    print(
        f"{name}: test accuracy {row['test_accuracy']:.3f} ({N_TEST} held-out sequences; fit {fit_s:.0f} s"
        f"{', the fit warned about the scales' if row['scale_warning'] else ''})",
        flush=True,
    )
    return row


def main(out=None) -> list[dict]:
    from sklearn.pipeline import make_pipeline

    X, y = sensor_sequences(N_TRAIN, seed=0)
    Xt, yt = sensor_sequences(N_TEST, seed=1)
    print(
        f"sensor_sequences: {N_TRAIN} train / {N_TEST} test, lengths {min(map(len, X))}..{max(map(len, X))}, "
        f"6 channels, classes {np.bincount(y).tolist()} (chance {np.bincount(yt).max() / N_TEST:.3f})",
        flush=True,
    )
    rows = [
        _measure("IndRNNClassifier() on raw units", IndRNNClassifier(), X, y, Xt, yt),
        _measure(
            "make_pipeline(SequenceScaler(), IndRNNClassifier())",
            make_pipeline(SequenceScaler(), IndRNNClassifier()),
            X,
            y,
            Xt,
            yt,
        ),
    ]
    if out is not None:
        with open(out, "w") as fh:
            json.dump(rows, fh, indent=2)
    return rows


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
