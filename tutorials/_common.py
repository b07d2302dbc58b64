"""Shared by the tutorials: the fast switch and where figures go.

``INDRNN_TUTORIAL_FAST=1`` shrinks every heavy cell (CI runs the tutorials
this way, each in well under a minute); ``INDRNN_TUTORIAL_OUT`` is the folder
for figures (default ``tutorial_figures`` in the working directory).
"""

import os

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))

FAST = os.environ.get("INDRNN_TUTORIAL_FAST") == "1"
OUT = os.environ.get("INDRNN_TUTORIAL_OUT", "tutorial_figures")
os.makedirs(OUT, exist_ok=True)


def save(fig, name: str) -> str:
    """Save a figure into OUT and return its path."""
    import matplotlib.pyplot as plt

    path = os.path.join(OUT, name)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    print("saved", path)
    return path
