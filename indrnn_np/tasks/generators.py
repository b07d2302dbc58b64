"""Layer 4: small synthetic sequence data sets for the tutorials, the tests and the benchmarks."""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------
# A data set of variable-length sequences, for the tutorial and the tests
# --------------------------------------------------------------------------


def marker_sequences(n: int, *, min_length: int = 10, max_length: int = 80, seed: int = 0, dtype=np.float32):
    """Sequences of random lengths whose class is set by two marked values, one early and one late.

    Each sequence has a length drawn uniformly from ``[min_length, max_length]``
    and two features: noise N(0, 0.3²) in feature 0, zeros in feature 1,
    except at two marked steps, where feature 1 is 1 and feature 0 is ±1: one in
    the first 3 steps, one in the second half. The class is
    ``2 · (first sign > 0) + (second sign > 0)``, four classes: a model must
    find both marks and remember the first over up to ``max_length`` steps
    (reading the sequence backward, the first mark is the last thing seen).

    Returns
    -------
    X : list of n arrays (T_i, 2)
    y : ndarray, (n,) int64 in [0, 4)
    """
    if not 3 <= min_length <= max_length:
        raise ValueError(f"need 3 <= min_length <= max_length; got {min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    X, y = [], np.empty(n, np.int64)
    for i in range(n):
        L = int(rng.integers(min_length, max_length + 1))
        x = np.zeros((L, 2), dtype)
        x[:, 0] = 0.3 * rng.standard_normal(L)
        first, second = int(rng.integers(0, 3)), int(rng.integers(L // 2, L))
        signs = rng.choice([-1.0, 1.0], 2)
        x[[first, second], 0] = signs
        x[[first, second], 1] = 1
        X.append(x)
        y[i] = 2 * int(signs[0] > 0) + int(signs[1] > 0)
    return X, y


#: The six channels of :func:`sensor_sequences`: name, unit, typical level, noise std, event size (in
#: noise stds; the event is a step of the middle of the sequence). The event's direction in the tiny
#: vibration channel sets the class.
SENSOR_CHANNELS = (
    ("pressure", "Pa", 101325.0, 300.0, 8.0),
    ("vibration", "g", 0.01, 0.002, 0.0),  # the class's sign, below
    ("temperature", "degC", 20.0, 0.5, 4.0),
    ("humidity", "%", 45.0, 3.0, 0.0),
    ("voltage", "V", 230.0, 2.0, 0.0),
    ("speed", "rpm", 3000.0, 40.0, 3.0),
)


def sensor_sequences(n: int, *, min_length: int = 5, max_length: int = 500, seed: int = 0, dtype=np.float32):
    """Sequences of six sensor channels in raw units, whose class is set by an event in their middle.

    Channels (:data:`SENSOR_CHANNELS`): pressure near 1e5 Pa, vibration near 0.01 g, temperature
    near 20 °C, humidity near 45 %, voltage near 230 V, speed near 3000 rpm; each sequence has its
    own level (the channel's typical level moved by 3 noise stds at most) plus Gaussian noise at
    every step. Lengths are uniform in ``[min_length, max_length]``. In the middle eighth of each
    sequence (at least 3 steps, centred) an event may happen:

    * class 0: no event;
    * class 1: pressure, temperature and speed rise, and vibration rises by 8 of its noise stds;
    * class 2: the same rises, but vibration falls by 8 of its noise stds.

    Telling 1 from 2 takes the 0.01-scale vibration channel beside the 1e5-scale pressure, and
    remembering the event from the middle to the end: raw, the channels' scales differ by 1e7
    (:func:`feature_scale_warning` says so); standardised, it is an easy task.

    Returns
    -------
    X : list of n arrays (T_i, 6)
    y : ndarray, (n,) int64 in [0, 3)
    """
    if not 3 <= min_length <= max_length:
        raise ValueError(f"need 3 <= min_length <= max_length; got {min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    level = np.array([c[2] for c in SENSOR_CHANNELS])
    noise = np.array([c[3] for c in SENSOR_CHANNELS])
    event = np.array([c[4] for c in SENSOR_CHANNELS]) * noise
    X, y = [], rng.integers(0, 3, n).astype(np.int64)
    for i in range(n):
        L = int(rng.integers(min_length, max_length + 1))
        own = level + noise * rng.uniform(-3, 3, 6)
        x = own + noise * rng.standard_normal((L, 6))
        if y[i]:
            w = max(3, L // 8)
            start = (L - w) // 2
            x[start : start + w] += event
            x[start : start + w, 1] += (8.0 if y[i] == 1 else -8.0) * noise[1]
        X.append(x.astype(dtype))
    return X, y
