"""Early stopping on a public data set, against the fixed-steps fit: issue 33's check.

    nice -n 10 python benchmarks/ucr_early_stopping.py [OUT.json]

JapaneseVowels (UCR/UEA, sktime's copy, the published split): the estimator's defaults in the
classification recipe (``make_pipeline(SequenceScaler(), IndRNNClassifier(random_state=0))``), once
with ``early_stopping=True`` (a tenth held out, evaluated every 100 steps, patience 5, up to 8,000
steps, the best evaluation's weights restored) and once with the fixed 2,000 steps on every training
sequence. Prints (and writes) where it stopped and why, the held-out error kept, both test accuracies
and both fit times.
"""

from __future__ import annotations

import json
import sys
import time

from sklearn.pipeline import make_pipeline

from indrnn_np import IndRNNClassifier, SequenceScaler
from indrnn_np.tasks.ucr import load_ucr


def main(out: str | None = None) -> dict:
    X, y = load_ucr("JapaneseVowels", "train")
    Xt, yt = load_ucr("JapaneseVowels", "test")
    result = {}
    t0 = time.perf_counter()
    es = IndRNNClassifier(steps=8000, early_stopping=True, eval_every=100, n_iter_no_change=5, random_state=0)
    model = make_pipeline(SequenceScaler(), es).fit(X, y)
    result["early_stopping"] = {
        "stopped": es.summary_.get("stopped"),
        "held_out_error": es.summary_["test_error"],
        "test_accuracy": model.score(Xt, yt),
        "fit_s": time.perf_counter() - t0,
    }
    t0 = time.perf_counter()
    model = make_pipeline(SequenceScaler(), IndRNNClassifier(random_state=0)).fit(X, y)
    result["fixed_steps"] = {
        "steps": 2000,
        "test_accuracy": model.score(Xt, yt),
        "fit_s": time.perf_counter() - t0,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
