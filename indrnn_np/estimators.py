"""Layer 5: IndRNN classifiers and regressors in scikit-learn's conventions.

:class:`IndRNNClassifier` and :class:`IndRNNRegressor` take sequences samples
first, X ``(n, T, M)`` with optional ``lengths`` (n,), or a list of ``(T_i, M)``
arrays of different lengths (padded for you), and follow scikit-learn's
estimator rules: the constructor only stores its keywords (named as the
``train`` command's options, with ``train arrays``'s defaults), ``fit`` learns attributes
ending in ``_``, and ``clone``, ``cross_val_score`` and ``GridSearchCV`` work.
With scikit-learn installed (``pip install 'indrnn-np[sklearn]'``) they are
true scikit-learn estimators; without it they keep the same methods.

For scikit-learn's model selection, give variable-length X as a list of
sequences: its splitters index a list, and ``score`` takes no lengths.

Under the hood, ``fit`` is a run of the training loop
(:func:`indrnn_np.train.train` on objects): the network of
:func:`indrnn_np.nn.build_indrnn`, Adam with u projected into each layer's
bound ``γ^{1/T}``, and with ``run_dir`` the run folder's checkpoints, metrics,
curve, Ctrl-C and resume.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np

from .files import read_checked_npz, write_checked_npz
from .ops.device import assign
from .sklearn_bases import (
    BaseEstimator,
    ClassifierMixin,
    DataConversionWarning,
    NotFittedError,
    RegressorMixin,
)
from .tasks.arrays import (
    ArrayDataError,
    arrays_task,
    check_sample_weight,
    class_probabilities,
    pad_sequences,
    per_step_list,
    predict,
)
from .train.build import model_of, optimizer_of, schedule_of
from .train.callbacks import EarlyStopping, check_callbacks
from .train.config import TrainConfig
from .train.loop import TrainingInterrupted
from .train.memory import check_fits, estimate_model_prediction
from .train.recipes import RECIPES

#: The keywords that do not change a fit's numbers, left out of the run's record.
_NOT_RECORDED = ("run_dir", "progress", "verbose", "callbacks")

#: The keywords' defaults: the ``train arrays`` recipe's over TrainConfig's (T and the data file come from X).
_D = {
    k: v
    for k, v in {**{f.name: f.default for f in dataclasses.fields(TrainConfig)}, **RECIPES["arrays"]}.items()
    if k not in ("T", "data")
}

#: Format of :meth:`save` files.
SAVE_FORMAT = 1


class _IndRNNEstimator(BaseEstimator):
    """The shared machinery of :class:`IndRNNClassifier` and :class:`IndRNNRegressor`."""

    _kind = ""

    def __init__(
        self,
        *,
        hidden=_D["hidden"],
        layers=_D["layers"],
        widths=_D["widths"],
        residual=_D["residual"],
        bidirectional=_D["bidirectional"],
        pool=_D["pool"],
        bn=_D["bn"],
        bn_position=_D["bn_position"],
        dropout=_D["dropout"],
        activation=_D["activation"],
        steps=_D["steps"],
        batch=_D["batch"],
        optimizer=_D["optimizer"],
        lr=_D["lr"],
        momentum=_D["momentum"],
        weight_decay=_D["weight_decay"],
        schedule=_D["schedule"],
        decay_every=_D["decay_every"],
        plateau_patience=_D["plateau_patience"],
        u_constraint=_D["u_constraint"],
        gamma=_D["gamma"],
        clip_value=_D["clip_value"],
        clip_norm=_D["clip_norm"],
        eval_every=_D["eval_every"],
        checkpoint_every=_D["checkpoint_every"],
        early_stopping=False,
        validation_fraction=None,
        n_iter_no_change=10,
        tol=1e-4,
        backend=_D["backend"],
        dtype=_D["dtype"],
        random_state=0,
        run_dir=None,
        progress=False,
        verbose=False,
        callbacks=None,
    ):
        self.hidden = hidden
        self.layers = layers
        self.widths = widths
        self.residual = residual
        self.bidirectional = bidirectional
        self.pool = pool
        self.bn = bn
        self.bn_position = bn_position
        self.dropout = dropout
        self.activation = activation
        self.steps = steps
        self.batch = batch
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.decay_every = decay_every
        self.plateau_patience = plateau_patience
        self.u_constraint = u_constraint
        self.gamma = gamma
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state
        self.run_dir = run_dir
        self.progress = progress
        self.verbose = verbose
        self.callbacks = callbacks

    def _tags(self, tags):
        """scikit-learn's tags (``__sklearn_tags__``, scikit-learn >= 1.6) for sequences: X may be
        three-dimensional, NaN marks padding, and on the tabular data of scikit-learn's own checks
        (a 2-D X read as n sequences of one feature) the score may be poor."""
        tags.input_tags.three_d_array = True
        # allow_nan stays False: NaN marks padding at a sequence's end only, and a NaN anywhere else is
        # refused, as scikit-learn's checks expect of an estimator that does not take NaN values
        for kind in (tags.classifier_tags, tags.regressor_tags):
            if kind is not None:
                kind.poor_score = True
        return tags

    @staticmethod
    def _need_y(y, name: str) -> None:
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None: fit(X, y) learns from labelled "
                "sequences"
            )

    # ------------------------------------------------------------------
    def _config(self, T: int, seed: int) -> TrainConfig:
        """The keywords as the ``train`` command's configuration, validated (ConfigError names the option);
        ``seed`` is this fit's (:meth:`_seed`)."""
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        kw = {k: v for k, v in self.get_params().items() if k in names}
        kw["widths"] = None if self.widths is None else ",".join(map(str, np.atleast_1d(self.widths)))
        for k, v in kw.items():  # NumPy scalars (a grid of np.arange, say) as Python numbers
            if isinstance(v, np.integer | np.floating | np.bool_):
                kw[k] = v.item()
        cfg = TrainConfig(task="arrays", T=int(T), seed=seed, data="<arrays given to fit>", **kw)
        return cfg.validate()

    def _seed(self) -> int:
        """This fit's seed from ``random_state``, as scikit-learn's ``check_random_state`` reads it: an
        integer >= 0 is the seed; None, a ``numpy.random.RandomState`` or a ``numpy.random.Generator``
        give one drawn from it (from NumPy's global state for None, as scikit-learn does; a generator
        moves on, so two fits draw two seeds). A run folder needs the integer: a resumed fit must draw
        the batches the first one drew. Call once per fit."""
        seed = self.random_state
        integer = isinstance(seed, int | np.integer) and not isinstance(seed, bool | np.bool_)
        if not (integer and seed >= 0) and not (
            seed is None or isinstance(seed, np.random.RandomState | np.random.Generator)
        ):
            raise ValueError(
                "random_state must be an integer >= 0, None, a numpy.random.RandomState or a "
                f"numpy.random.Generator; got {seed!r}"
            )
        if integer:
            return int(seed)
        if self.run_dir is not None:
            raise ValueError(
                f"random_state={seed!r} draws a new seed at every fit, so a fit with run_dir could never "
                "resume its run: give random_state an integer"
            )
        if seed is None:  # scikit-learn's check_random_state(None): NumPy's global RandomState
            return int(np.random.mtrand._rand.randint(2**31 - 1))
        if isinstance(seed, np.random.Generator):
            return int(seed.integers(2**31 - 1))
        return int(seed.randint(2**31 - 1))

    def _held_out(self) -> float:
        """The fraction of the training sequences held out: ``validation_fraction``, whose default
        (None) is 0.1 with early stopping and 0 without (scikit-learn's MLP holds data out only to
        stop early); checked with ``early_stopping``, ``n_iter_no_change`` and ``tol``."""
        if not isinstance(self.early_stopping, bool | np.bool_):
            raise ValueError(f"early_stopping must be True or False; got {self.early_stopping!r}")
        f = self.validation_fraction
        if f is None:
            return 0.1 if self.early_stopping else 0.0
        if not isinstance(f, int | float | np.integer | np.floating) or isinstance(f, bool) or not 0 <= f < 1:
            raise ValueError(f"validation_fraction must be None or a number in [0, 1); got {f!r}")
        if self.early_stopping and f == 0:
            raise ValueError(
                "early_stopping=True stops on the error of held-out sequences: give validation_fraction "
                "above 0 (None: 0.1)"
            )
        return float(f)

    def _early_stopping(self) -> list:
        """The EarlyStopping callback of ``early_stopping=True`` (checked), or none."""
        stopping = EarlyStopping(n_iter_no_change=self.n_iter_no_change, tol=self.tol, restore_best=True)
        return [stopping] if self.early_stopping else []  # checked either way, as scikit-learn's MLP

    def _fit(self, X, y, lengths, kind, outputs=None, record=None, sample_weight=None) -> dict:
        """Train on the arrays; return the fitted attributes (set by the caller only when all went well:
        a fit refused or interrupted leaves the estimator as it was)."""
        from .train import train

        held_out = self._held_out()
        stopping = self._early_stopping()  # ValueError for a bad n_iter_no_change or tol, before any work
        seed = self._seed()  # once: a generator's draw
        dtype = np.dtype(self.dtype).type if self.dtype in ("float32", "float64") else np.float32
        task = arrays_task(
            X,
            y,
            lengths,
            kind=kind,
            outputs=outputs,
            test_fraction=held_out,
            seed=seed,
            names=("X", "y", "lengths", "X_test", "y_test", "lengths_test"),
            source=f"the arrays given to {type(self).__name__}.fit",
            dtype=dtype,
            sample_weight=sample_weight,
        )
        cfg = self._config(task.T, seed)
        model = model_of(cfg, task)  # ConfigError: bn="frame" with sequences of different lengths
        opt = optimizer_of(cfg, model)
        quiet = lambda *a: None  # noqa: E731
        try:
            summary = self._train(train, model, opt, task, cfg, quiet, record or {}, stopping)
        except TrainingInterrupted as exc:
            if self.run_dir is None:
                raise
            raise TrainingInterrupted(
                f"{str(exc).split(';')[0]}; call fit again with the same run_dir to continue"
            ) from None
        return {
            "model_": model,
            "config_": cfg,
            "summary_": summary,
            "n_features_in_": task.inputs,
            "max_length_": task.T,
            "head_": task.head,
            "n_outputs_": task.outputs,
        }

    def _set_fitted(self, fitted: dict) -> None:
        """Replace the fitted state as a whole (after a fit that succeeded)."""
        for name, value in fitted.items():
            setattr(self, name, value)

    def _keywords(self) -> dict:
        """The keywords that decide a fit's numbers, as a run folder records them (a later fit with the
        same run_dir must give the same, ``steps`` and the cadences aside: the loop compares them)."""
        return _jsonable({k: v for k, v in self.get_params().items() if k not in _NOT_RECORDED})

    def _train(self, train, model, opt, task, cfg, quiet, record=None, stopping=()):
        return train(
            model,
            opt,
            task,
            self.run_dir,
            steps=cfg.steps,
            batch=cfg.batch,
            schedule=schedule_of(cfg),
            clip_value=cfg.clip_value,
            clip_norm=cfg.clip_norm,
            eval_every=cfg.eval_every,
            checkpoint_every=cfg.checkpoint_every,
            seed=cfg.seed + 1,
            resume=self.run_dir is not None,
            settings={**self._keywords(), **(record or {})},
            progress=self.progress,
            log=print if self.verbose else quiet,
            callbacks=[*stopping, *check_callbacks(self.callbacks)],
        )

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(X, y) first")

    def _forward(self, X, lengths):
        """The network's outputs for X, samples first, and ``(lengths, was_list)``."""
        self._check_fitted()
        x, lens = pad_sequences(X, lengths, name="X", dtype=np.dtype(self.config_.dtype).type)
        if x.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[2]} features per step, but this {type(self).__name__} was fitted with "
                f"{self.n_features_in_}"
            )
        check_fits(
            estimate_model_prediction(self.model_, *x.shape, self.head_, levers=("the sequences' length",))
        )
        return predict(self.model_, x, lens, head=self.head_), lens, isinstance(X, list | tuple)

    def _scored(self, X, y, lengths, sample_weight, flat):
        """``(predictions, y, weights)`` to compare: per sequence as they are, per step the real steps
        of every sequence stacked (``flat`` shapes each sequence's values), each step with its
        sequence's weight; weights None without ``sample_weight``."""
        pred = self.predict(X, lengths)
        _check_same_count(pred, y)
        w = check_sample_weight(sample_weight, len(pred))
        if self.head_ == "all":
            lens = _lengths_of(X, lengths)  # once: NaN padding is read from X here, not per array
            rows = _rows(pred, X, lens)
            pred = np.concatenate([flat(np.asarray(p)) for p in rows])
            y = np.concatenate([flat(np.asarray(t)) for t in _rows(y, X, lens)])
            if w is not None:
                w = np.repeat(w, [len(r) for r in rows])
        return pred, y, w

    @staticmethod
    def _per_sequence(out, lens, was_list):
        """Per-step outputs (n, T, ...) of list input back as a list of (T_i, ...) arrays."""
        return [out[i, :n] for i, n in enumerate(lens)] if was_list else out

    # ------------------------------------------------------------------
    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the fitted estimator to ``path`` (an ``.npz``: the keywords, the fitted attributes and
        the network's arrays). An existing file is refused unless ``overwrite``.

        Returns
        -------
        Path
            The file written (``.npz`` appended when missing).
        """
        self._check_fitted()
        path = _npz_path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists: pass overwrite=True to replace it")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"{path}: no folder {path.parent} to write it in")
        params = {k: v for k, v in self.get_params().items() if k not in ("run_dir", "callbacks")}
        params["run_dir"] = None if self.run_dir is None else str(self.run_dir)
        meta = {
            "format": SAVE_FORMAT,
            "class": type(self).__name__,
            "params": _jsonable(params),
            "config": self.config_.to_dict(),
            "n_features_in_": int(self.n_features_in_),
            "max_length_": int(self.max_length_),
            "head_": self.head_,
            "n_outputs_": int(self.n_outputs_),
        }
        arrays = {f"param/{k}": _host(v) for k, v in self.model_.params.items()}
        arrays.update({f"buffer/{k}": _host(v) for k, v in self.model_.buffers.items()})
        arrays.update(self._extra_arrays())
        try:  # whole or not at all, checksummed; never over a file unless overwrite
            write_checked_npz(path, {"meta": np.array(json.dumps(meta)), **arrays}, exclusive=not overwrite)
        except FileExistsError:
            raise FileExistsError(f"{path} exists: pass overwrite=True to replace it") from None
        return path

    def _extra_arrays(self) -> dict:
        return {}

    @classmethod
    def load(cls, path):
        """An estimator written by :meth:`save`, ready to predict (and to fit again).

        Raises
        ------
        ValueError
            Not a file :meth:`save` wrote, one of another class, or a damaged one (a flipped bit or a
            truncation: :class:`indrnn_np.files.CorruptFile`, a ValueError); one line naming the file.
        """
        path = Path(path)
        if not path.exists() and _npz_path(path).exists():  # saved as save(path) named it
            path = _npz_path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        arrays = read_checked_npz(path, what="a file an estimator's save wrote")  # CorruptFile: a ValueError
        arrays.pop("__checksum__")
        try:
            if "meta" not in arrays:
                raise ValueError("it holds no estimator's description: not a file save wrote")
            meta = json.loads(str(arrays.pop("meta")))
            if meta.get("format") != SAVE_FORMAT or meta.get("class") != cls.__name__:
                what = meta.get("class") or "file that no estimator's save wrote (a run's checkpoint?)"
                raise ValueError(f"holds {'an' if what[0] in 'AEIOU' else 'a'} {what}")
            est = cls(**meta["params"])
            cfg = TrainConfig.from_dict(meta["config"], where=f"{path}: config")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a saved {cls.__name__} ({exc})") from None
        shape = _TaskShape(meta["n_features_in_"], meta["n_outputs_"], meta["head_"])
        model = model_of(cfg, shape)
        for prefix, target in (("param/", model.params), ("buffer/", model.buffers)):
            for name, arr in target.items():
                key = prefix + name
                if key not in arrays or arrays[key].shape != tuple(arr.shape):
                    raise ValueError(f"{path}: {key} missing or of the wrong shape")
                assign(arr, arrays[key])
        est.model_, est.config_, est.summary_ = model, cfg, None
        est.n_features_in_, est.max_length_ = meta["n_features_in_"], meta["max_length_"]
        est.head_, est.n_outputs_ = meta["head_"], meta["n_outputs_"]
        est._load_extra(arrays)
        return est

    def _load_extra(self, arrays) -> None:
        pass


@dataclasses.dataclass
class _TaskShape:
    """What the model builder needs of a task: its inputs, outputs and head."""

    inputs: int
    outputs: int
    head: str


def _host(a):
    from .ops.device import to_host

    return np.asarray(to_host(a))


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, np.floating):
            v = float(v)
        elif isinstance(v, tuple | list | np.ndarray):
            v = [int(w) for w in v]
        out[k] = v
    return out


class IndRNNClassifier(ClassifierMixin, _IndRNNEstimator):
    """An IndRNN network that classifies sequences (or every step of them).

    Parameters
    ----------
    hidden, layers, widths, residual, bidirectional, bn, bn_position, dropout, activation
        The network, as :func:`indrnn_np.nn.build_indrnn` and the ``train``
        command's options of the same names (``widths``: a list of layer widths).
    pool : {"auto", "last", "mean", "max"}
        How the head reads each sequence (sequence targets only): its last step, whose state must
        carry the whole sequence, or the mean or maximum over its real steps, which lets evidence
        anywhere in a long sequence reach the head directly (see the guide to your own sequences).
        ``"auto"`` (the default): ``"max"`` for one target per sequence, none for a target at every
        step (:func:`indrnn_np.train.build.resolved_pool`, with the measurements behind it).
    steps, batch, optimizer, lr, momentum, weight_decay, schedule, decay_every, plateau_patience
        The training, as the ``train`` command's options.
    u_constraint, gamma
        u projected into ``[-γ^{1/T}, γ^{1/T}]`` (``"symmetric"``), ``[0, γ^{1/T}]``
        or not at all, T the longest training sequence.
    clip_value, clip_norm
        Gradient clipping (element-wise clamp, global norm).
    eval_every, checkpoint_every
        Steps between evaluations of the held-out error and between checkpoints.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training sequences, evaluate on them every
        ``eval_every`` steps, stop when the error has not improved by more than ``tol`` for
        ``n_iter_no_change`` evaluations, and keep the weights of the best evaluation
        (:class:`indrnn_np.train.EarlyStopping`; ``summary_["stopped"]`` says where and why).
        False (the default): train ``steps`` steps on every sequence.
    validation_fraction : float or None
        The fraction of the training sequences held out (seeded by ``random_state``) for the
        error that ``summary_`` and the run's metrics report. None (the default): 0.1 with
        ``early_stopping``, else 0, the error then measured on the training data itself.
    n_iter_no_change, tol
        Early stopping's patience (evaluations) and least improvement, as scikit-learn's MLP.
    backend : {"cpu", "numpy", "cuda"}
    dtype : {"float32", "float64"}
    random_state : int, None, numpy.random.RandomState or numpy.random.Generator
        Seeds the weights, the held-out split, the batches and dropout: an integer is the seed;
        otherwise each fit draws one from it (None: NumPy's global state), as scikit-learn's
        ``check_random_state``. A ``run_dir`` needs an integer.
    run_dir : path, optional
        A run folder: metrics.csv, checkpoints, curve.png, summary.json; a later ``fit`` with the
        same folder, data and keywords resumes it (to a larger ``steps``, say); Ctrl-C leaves a
        checkpoint there. None: nothing is written.
    progress, verbose : bool
        A progress bar; the loop's start and end lines.
    callbacks : list of indrnn_np.train.Callback, optional
        Called by the training loop after its own (early stopping on the held-out error, your own
        logging: see :class:`indrnn_np.train.Callback`); not saved by :meth:`save`.

    Attributes
    ----------
    classes_ : ndarray (C,)
        The labels seen in ``fit``, sorted; ``predict`` returns them.
    model_ : indrnn_np.nn.Sequential
    config_ : TrainConfig
        The run's full configuration.
    summary_ : dict
        The run's summary (the held-out error as ``test_error``).
    n_features_in_, max_length_ : int
        M, and the longest training sequence.

    Examples
    --------
    >>> clf = IndRNNClassifier(hidden=32, steps=300, bidirectional=True)
    >>> clf.fit(sequences, labels)            # sequences: a list of (T_i, M) arrays
    >>> clf.predict(more_sequences)
    """

    _kind = "classify"

    def fit(self, X, y, lengths=None, sample_weight=None):
        """Train on X (n, T, M) with ``lengths``, or a list of (T_i, M) arrays, and labels y.

        Parameters
        ----------
        X : array (n, T, M) or (n, T), or list of (T_i, M) arrays
        y : array-like (n,), or per step (n, T) (a list of (T_i,) arrays with a list X)
            Any labels (strings included); ``classes_`` keeps them.
        lengths : int array (n,), optional
            Real steps of each row of an array X.
        sample_weight : array-like (n,), optional
            A weight >= 0 per sequence: training batches draw sequence i with probability
            proportional to its weight (whole-number weights train exactly as the data with each
            sequence repeated that many times, with ``validation_fraction=0``), and the held-out
            error is weighted alike (every real step of a sequence carries its weight).

        Returns
        -------
        self
        """
        self._need_y(y, type(self).__name__)
        y = _column_to_1d(y, X)
        classes, y_enc = _encode_labels(y, X, lengths)
        # the labels are part of what a run_dir's run is: a later fit with other labels is refused
        labels = {"classes": classes.tolist()}
        _weighted_classes(y_enc, sample_weight, classes)
        fitted = self._fit(
            X, y_enc, lengths, "classify", outputs=len(classes), record=labels, sample_weight=sample_weight
        )
        self._set_fitted({**fitted, "classes_": classes})
        return self

    def __sklearn_tags__(self):
        return self._tags(super().__sklearn_tags__())

    def predict_proba(self, X, lengths=None):
        """Class probabilities: (n, C), or per step (n, T, C) (0 in the padding; a list for list X)."""
        logits, lens, was_list = self._forward(X, lengths)
        p = class_probabilities(logits)
        if self.head_ == "all":
            p[np.arange(p.shape[1])[None, :] >= lens[:, None]] = 0
            return self._per_sequence(p, lens, was_list)
        return p

    def predict(self, X, lengths=None):
        """The most probable label: (n,), or per step (n, T) (padding: ``classes_[0]``; a list for list X)."""
        logits, lens, was_list = self._forward(X, lengths)
        labels = self.classes_[np.argmax(logits, axis=-1)]
        return self._per_sequence(labels, lens, was_list) if self.head_ == "all" else labels

    def score(self, X, y, lengths=None, sample_weight=None):
        """Accuracy: the fraction of sequences (or of real steps) labelled right, weighted by ``sample_weight``
        (n,) when given (each real step by its sequence's weight)."""
        _check_label_layout(y, X, per_step=self.head_ == "all")
        pred, y, w = self._scored(X, y, lengths, sample_weight, lambda a: a.reshape(-1))
        _check_same_count(pred, y, "real steps")
        right = np.asarray(pred) == _label_values(np.asarray(y), check=False)
        return float(np.mean(right) if w is None else np.average(right, weights=w))

    def _extra_arrays(self):
        return {"classes_": self.classes_}

    def _load_extra(self, arrays):
        if "classes_" not in arrays:
            raise ValueError("the saved classifier has no classes_")
        self.classes_ = arrays["classes_"]


class IndRNNRegressor(RegressorMixin, _IndRNNEstimator):
    """An IndRNN network that regresses a target per sequence, or per step.

    Parameters as :class:`IndRNNClassifier`; the loss is the mean squared
    error (over real steps), ``summary_["test_mse"]`` the held-out MSE.

    Targets: y (n,) (``predict`` returns (n,)), (n, K), or per step (n, T, K)
    (a list of (T_i, K) arrays with a list X; ``predict`` answers alike, 0 in
    the padding of an array).
    """

    _kind = "regress"

    def fit(self, X, y, lengths=None, sample_weight=None):
        """Train on X (n, T, M) with ``lengths``, or a list of (T_i, M) arrays, and targets y;
        ``sample_weight`` (n,) as :meth:`IndRNNClassifier.fit`'s.

        Returns
        -------
        self
        """
        self._need_y(y, type(self).__name__)
        if per_step_list(y, X):  # (T_i,) targets: one value per step, predicted back as (T_i,)
            y = [np.asarray(a) for a in y]
            one = all(a.ndim == 1 for a in y)
        else:
            y = np.asarray(y)  # array-likes (lists, pandas, ...) as one array first
            one = y.ndim == 1
        fitted = self._fit(X, y, lengths, "regress", sample_weight=sample_weight)
        self._set_fitted({**fitted, "y_1d_": bool(one)})
        return self

    def __sklearn_tags__(self):
        tags = self._tags(super().__sklearn_tags__())
        tags.target_tags.multi_output = True  # y (n, K): K targets per sequence
        return tags

    def predict(self, X, lengths=None):
        """Predictions: (n,) or (n, K) per sequence, (n, T, K) per step (a list for list X)."""
        out, lens, was_list = self._forward(X, lengths)
        one = getattr(self, "y_1d_", False)
        if self.head_ == "all":
            return self._per_sequence(out[..., 0] if one else out, lens, was_list)
        return out[:, 0] if one else out

    def score(self, X, y, lengths=None, sample_weight=None):
        """R², the coefficient of determination, over every real value (averaged over the K targets);
        weighted as scikit-learn's ``r2_score`` with ``sample_weight`` (n,) (per step: its sequence's)."""
        pred, y, w = self._scored(X, y, lengths, sample_weight, lambda a: a.reshape(len(a), -1))
        pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
        y = np.asarray(y, np.float64).reshape(len(y), -1)
        if y.shape != pred.shape:
            raise ValueError(
                f"y must hold {pred.shape[1]} target(s) per value, as the predictions; got {y.shape[1]}"
            )
        if w is None:
            ss_res = ((y - pred) ** 2).sum(axis=0)
            ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        else:  # scikit-learn's r2_score with sample_weight
            ss_res = (w[:, None] * (y - pred) ** 2).sum(axis=0)
            ss_tot = (w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2).sum(axis=0)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
        return float(np.mean(r2))

    def _extra_arrays(self):
        return {"y_1d_": np.array(bool(getattr(self, "y_1d_", False)))}

    def _load_extra(self, arrays):
        self.y_1d_ = bool(arrays.get("y_1d_", False))


def _column_to_1d(y, X):
    """A classifier's y of shape (n, 1) as (n,), with scikit-learn's DataConversionWarning: labels per
    sequence given as a column (a per-step y of one-step sequences reads the same either way)."""
    if per_step_list(y, X):
        return y
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
            "(n_samples, ), for example using ravel(). (IndRNNClassifier reads it as one label per sequence.)",
            DataConversionWarning,
            stacklevel=3,
        )
        return arr[:, 0]
    return y


def _check_label_layout(y, X, *, per_step: bool) -> None:
    """ArrayDataError when a classifier's y to score is laid out otherwise than the labels it was fitted
    on: one label per sequence (n,) (or a column (n, 1)), or one per step (n, T) with X's T columns."""
    if per_step_list(y, X):
        if not per_step:
            raise ArrayDataError(
                "y holds an array of labels per step, but this classifier was fitted on one label per "
                "sequence: give y as (n,)"
            )
        return
    shape = np.shape(y)
    if not per_step and not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ArrayDataError(
            f"y has shape {shape}, but this classifier was fitted on one label per sequence: give y as (n,)"
        )
    if per_step:
        if len(shape) != 2:
            raise ArrayDataError(
                f"y has shape {shape}, but this classifier was fitted on one label per step: give y as (n, T)"
            )
        if isinstance(X, np.ndarray) and X.ndim in (2, 3) and shape[1] != X.shape[1]:
            raise ArrayDataError(
                f"y has {shape[1]} columns (steps) but X has T = {X.shape[1]}: give one label per step"
            )


def _weighted_classes(y_enc, sample_weight, classes) -> None:
    """ValueError when the sequences of nonzero ``sample_weight`` hold fewer than 2 classes (labels per
    sequence; per-step labels are left to the fit)."""
    if sample_weight is None or isinstance(y_enc, list) or np.ndim(y_enc) != 1:
        return
    w = check_sample_weight(sample_weight, len(y_enc))
    kept = np.unique(y_enc[w > 0])
    if len(kept) < 2:
        raise ValueError(
            f"the sequences with a nonzero sample_weight hold one class ({classes[kept[0]].item()!r}): a classifier "
            "needs at least 2"
        )


def _encode_labels(y, X, lengths):
    """``(classes_, y as indices)``: the labels of the real steps, checked as scikit-learn checks them."""
    if per_step_list(y, X):  # one array of labels per sequence
        arrays = [np.asarray(a) for a in y]
        flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.array([])
    else:
        arr = np.asarray(y)
        if arr.ndim == 0:
            raise ValueError(f"y must have one label per sequence; got {y!r}")
        real = np.ones(arr.shape, bool)
        if arr.ndim == 2:  # per step: the padding's labels are not classes
            lens = _lengths_of(X, lengths)
            if lens is not None and len(lens) == len(arr):
                real = np.arange(arr.shape[1])[None, :] < np.asarray(lens)[:, None]
        flat = arr[real]
    if flat.size == 0:
        raise ArrayDataError("y is empty: a classifier needs a label for at least one sequence")
    flat = _label_values(flat)
    classes = np.unique(flat)
    if len(classes) < 2:
        raise ValueError(f"y has one class ({classes[0].item()!r}): a classifier needs at least 2")

    def encode(a):
        a = _label_values(np.asarray(a), check=False)
        return np.searchsorted(classes, np.where(np.isin(a, classes), a, classes[0]))

    if per_step_list(y, X):
        return classes, [encode(a) for a in y]
    return classes, np.where(real, encode(arr), 0)


def _label_values(values, check: bool = True):
    """Labels as one comparable dtype: strings (from objects too) or integers; continuous numbers,
    NaN and labels of mixed types refused (as scikit-learn refuses them)."""
    if values.dtype.kind == "O":
        kinds = {type(v) for v in values.reshape(-1)}
        if kinds <= {str, np.str_}:
            return values.astype(str)
        if all(issubclass(k, int | np.integer) and not issubclass(k, bool) for k in kinds):
            return values.astype(np.int64)
        if check:
            names = ", ".join(sorted(k.__name__ for k in kinds))
            raise ValueError(f"y mixes labels of several types ({names}): give one type")
    if check and values.dtype.kind == "f":
        if np.isnan(values).any():
            raise ValueError("y has a NaN label")
        if not np.all(values == np.round(values)):
            bad = values[values != np.round(values)][0]
            raise ValueError(
                f"y holds continuous values (e.g. {bad!r}): IndRNNClassifier needs class labels; "
                "IndRNNRegressor fits numbers"
            )
    return values


def _npz_path(path) -> Path:
    """``path`` with ``.npz`` appended unless it ends so (as :func:`numpy.savez` names its files)."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _check_same_count(pred, y, what: str = "sequences") -> None:
    n, m = len(pred), len(y)
    if n != m:
        raise ValueError(f"y must have one entry per {what[:-1]}: {n} {what}; got {m}")


def _lengths_of(X, lengths):
    """Each sequence's real steps: a list's own lengths, ``lengths``, or those NaN padding gives an
    array X (:func:`indrnn_np.tasks.arrays.pad_sequences`); None when X cannot be read (its own
    error comes later, naming it)."""
    if isinstance(X, list | tuple):
        return [len(s) for s in X]
    if lengths is not None:
        return lengths
    try:
        return pad_sequences(X)[1]
    except (ValueError, TypeError):
        return None


def _rows(values, X, lengths):
    """Per-step values as one array per sequence, real steps only."""
    if isinstance(values, list | tuple):
        return [np.asarray(v) for v in values]
    values = np.asarray(values)
    lengths = _lengths_of(X, lengths)
    if lengths is None:
        return list(values)
    return [values[i, :n] for i, n in enumerate(np.asarray(lengths))]


__all__ = ["ArrayDataError", "IndRNNClassifier", "IndRNNRegressor", "NotFittedError"]
