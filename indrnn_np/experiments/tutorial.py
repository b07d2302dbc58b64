"""What the tutorials share: the fast switch, the output folder, and figures inline or saved.

The tutorials (``tutorials/*.py``, jupytext percent format) import this module from the package, so a
tutorial converted to a notebook runs anywhere the package is installed.

``INDRNN_TUTORIAL_FAST=1`` shrinks every heavy cell (CI runs the tutorials this way, each in well under
a minute). Everything a tutorial writes (figures, run folders, data files) goes into one folder:
``INDRNN_TUTORIAL_OUT``, by default ``tutorial_output`` in the working directory. Executed as a
notebook, a tutorial shows its figures inline under their cells (and writes them into the folder only
when ``INDRNN_TUTORIAL_OUT`` is set); run as a script, it saves them into the folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

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


def save(fig, name: str) -> Path | None:
    """Show ``fig`` inline in a notebook; as a script (or with ``INDRNN_TUTORIAL_OUT`` set), save it.

    ``fig`` is a pyplot figure or a bare :class:`matplotlib.figure.Figure`. Returns the saved file's
    path, or None when nothing was written.
    """
    notebook = in_notebook()
    path = None
    if not notebook or "INDRNN_TUTORIAL_OUT" in os.environ:
        path = output_dir() / name
        save_figure(fig, path, dpi=90, bbox_inches="tight")
        print("saved", path)
    if notebook:
        _show_inline(fig)
    else:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def show_image(path) -> None:
    """Show a figure file (one the package wrote, e.g. the neuron plots) inline in a notebook; as a
    script, say where it is."""
    if in_notebook():
        from IPython.display import Image, display

        display(Image(filename=os.fspath(path)))
    else:
        print("figure", path)


def _show_inline(fig) -> None:
    """Display ``fig`` now and close it, so that the inline backend does not draw it a second time."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)  # a no-op for a figure pyplot does not manage


__all__ = ["FAST", "OUT", "in_notebook", "output_dir", "save", "show_image"]
