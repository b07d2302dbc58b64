"""What the tutorials share: the fast switch, the output folder, figures inline or saved, and the
check that compares two computations.

The tutorials (``tutorials/*.py``, jupytext percent format) import this module from the package, so a
tutorial converted to a notebook runs anywhere the package is installed.

``INDRNN_TUTORIAL_FAST=1`` shrinks every heavy cell (CI runs the tutorials this way, each in well under
a minute). Everything a tutorial writes (figures, run folders, data files) goes into one folder:
``INDRNN_TUTORIAL_OUT``, by default ``tutorial_output`` in the working directory. Executed as a
notebook, a tutorial shows its figures inline under their cells (and writes them into the folder only
when ``INDRNN_TUTORIAL_OUT`` is set); run as a script, it saves them into the folder.

Every comparison a tutorial makes (by hand against the library, BPTT against finite differences, one
kernel against another) goes through :func:`check`, which refuses a check that checks nothing: one
whose compared values are all within its tolerance of zero, which any code returning zeros would
pass (a ReLU neuron that is off at the last step gives zero gradients by hand and from the library).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..files import save_figure

FAST = os.environ.get("INDRNN_TUTORIAL_FAST") == "1"
OUT = Path(os.environ.get("INDRNN_TUTORIAL_OUT", "tutorial_output"))


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the inline backend draws figures under their cell)."""
    return "ipykernel" in sys.modules


def output_dir(name: str | None = None, *, fresh: bool = False) -> Path:
    """The tutorials' output folder (``OUT``), or its subfolder ``name``, created.

    ``fresh=True`` empties the subfolder first, so that a tutorial run twice trains a new run folder
    rather than resuming (or refusing) the last one.
    """
    path = OUT if name is None else OUT / name
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(fig, name: str, *, caption: str) -> Path | None:
    """Show ``fig`` inline in a notebook; as a script (or with ``INDRNN_TUTORIAL_OUT`` set), save it.

    ``fig`` is a pyplot figure or a bare :class:`matplotlib.figure.Figure`. ``caption`` says what the
    figure shows and what to read from it, so that it reads alone: in a notebook (and on the site)
    it is the figure's caption. Returns the saved file's path, or None when nothing was written.
    """
    notebook = in_notebook()
    path = None
    if not notebook or "INDRNN_TUTORIAL_OUT" in os.environ:
        path = output_dir() / name
        save_figure(fig, path, dpi=90, bbox_inches="tight")
        print("saved", path)
    if notebook:
        _show_inline(fig, caption)
    else:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def show_image(path, *, caption: str) -> None:
    """Show a figure file (one the package wrote, e.g. the neuron plots) inline in a notebook, with its
    caption; as a script, say where it is."""
    if in_notebook():
        _display_figure(Path(path).read_bytes(), caption)
    else:
        print("figure", path)


def _display_figure(png: bytes, caption: str) -> None:
    """Display a PNG with its caption below it: an HTML figure (what the site and JupyterLab show),
    with the bare image and the caption as text beside it for front ends without HTML."""
    from IPython.display import display

    data = base64.b64encode(png).decode("ascii")
    text = html.escape(caption)
    figure = (
        f'<figure class="tutorial-figure"><img src="data:image/png;base64,{data}" alt="{text}"/>'
        f"<figcaption>{text}</figcaption></figure>"
    )
    display({"text/html": figure, "image/png": data, "text/plain": caption}, raw=True)


def _show_inline(fig, caption: str) -> None:
    """Display ``fig`` now, with its caption, and close it, so that the inline backend does not draw
    it a second time."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    _display_figure(buffer.getvalue(), caption)
    plt.close(fig)  # a no-op for a figure pyplot does not manage


class TrivialCheck(AssertionError):
    """A comparison whose values are all within its tolerance of zero: it would pass for zeros."""


class Check(NamedTuple):
    """One comparison that passed: its name, the largest compared value, the largest difference and
    the absolute tolerance that the values had to exceed."""

    name: str
    scale: float
    max_diff: float
    atol: float


CHECKS: list[Check] = []  # every check that passed, in order


def _record(record: Check, line: str, quiet: bool) -> None:
    """Keep a passed check in CHECKS (and, when ``INDRNN_TUTORIAL_CHECKS`` names a file, append it
    there as one JSON line: the tests read it), and print its line unless ``quiet``."""
    CHECKS.append(record)
    log = os.environ.get("INDRNN_TUTORIAL_CHECKS")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record._asdict()) + "\n")
    if not quiet:
        print(line)


def check(
    name: str, actual, expected, *, rtol: float = 1e-12, atol: float = 0.0, quiet: bool = False
) -> None:
    """Assert that ``actual`` matches ``expected`` (``|actual - expected| <= atol + rtol |expected|``,
    element-wise, NaN matching NaN) and that the comparison means something.

    A check whose compared values (both sides) are all within ``atol`` of zero, all exactly zero when
    ``atol`` is 0, is refused with :class:`TrivialCheck` naming it: code that returned zeros would
    pass it. ``rtol=0, atol=0`` asks for exact equality. Prints one line, ``check: NAME (max |diff|
    ..., values up to ...)`` (unless ``quiet``), and records the check in :data:`CHECKS`. Returns None,
    so that a check ending a notebook cell shows nothing more than its line.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    magnitudes = np.abs(np.concatenate([a.ravel(), e.ravel()]))
    magnitudes = magnitudes[~np.isnan(magnitudes)]
    scale = float(magnitudes.max()) if magnitudes.size else 0.0
    if scale <= atol:
        raise TrivialCheck(
            f"check {name!r} compares values that are all within its tolerance of zero (largest "
            f"|value| {scale:.3g}, atol {atol:.3g}): code that returned zeros would pass it. Compare a "
            "case where these values are not zero."
        )
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"check {name!r} failed")
    both = np.isfinite(a) & np.isfinite(e)
    max_diff = float(np.abs(a - e)[both].max()) if both.any() else 0.0
    line = f"check: {name} (max |diff| {max_diff:.2g}, values up to {scale:.3g})"
    _record(Check(name, scale, max_diff, float(atol)), line, quiet)


def check_gradient(result, tol: float = 1e-6, *, quiet: bool = False) -> None:
    """Assert that a finite-difference check (a :class:`indrnn_np.gradcheck.GradCheckResult`) passed,
    its relative error below ``tol``, and that it means something: a gradient that is zero by both
    computations (below the relative error's floor, 1e-8) is refused with :class:`TrivialCheck`."""
    analytic = np.abs(np.asarray(result.analytic, dtype=np.float64))
    numeric = np.abs(np.asarray(result.numeric, dtype=np.float64))
    scale = float(max(analytic.max(initial=0.0), numeric.max(initial=0.0)))
    name = f"{result.name}: backward vs finite differences"
    if not scale > 1e-8:
        raise TrivialCheck(
            f"check {name!r} compares gradients that are all zero (largest |value| {scale:.3g}): it "
            "would pass for a backward pass that returned zeros. Check a case where they are not."
        )
    assert np.isfinite(result.rel_error) and result.rel_error < tol, (
        f"check {name!r} failed: relative error {result.rel_error:.3g} (tolerance {tol:g})"
    )
    line = f"check: {name} (relative error {result.rel_error:.2g}, values up to {scale:.3g})"
    _record(Check(name, scale, float(result.max_abs_error), 0.0), line, quiet)


__all__ = [
    "CHECKS",
    "FAST",
    "OUT",
    "Check",
    "TrivialCheck",
    "check",
    "check_gradient",
    "in_notebook",
    "output_dir",
    "save",
    "show_image",
]
