"""Shared by the tutorials: the fast switch and what happens to figures.

``INDRNN_TUTORIAL_FAST=1`` shrinks every heavy cell (CI runs the tutorials
this way, each in well under a minute). Figures are shown inline when a
tutorial runs as a notebook (opened with jupytext), and saved into
``INDRNN_TUTORIAL_OUT`` (default ``tutorial_figures`` in the working
directory) when it runs as a script.
"""

import os
import sys

FAST = os.environ.get("INDRNN_TUTORIAL_FAST") == "1"
OUT = os.environ.get("INDRNN_TUTORIAL_OUT", "tutorial_figures")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the inline backend draws figures under their cell)."""
    return "ipykernel" in sys.modules


def save(fig, name: str) -> str | None:
    """Show ``fig`` inline in a notebook; as a script, save it into OUT and return its path."""
    if in_notebook():
        return None  # left open: the inline backend shows it under the cell
    import matplotlib.pyplot as plt

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    print("saved", path)
    return path
