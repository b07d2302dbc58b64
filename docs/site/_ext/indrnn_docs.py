"""Small build helpers for the indrnn-np site (loaded by conf.py).

* ``read_tutorial``: myst-nb's reader for the jupytext percent-format tutorials
  (``nb_custom_formats``); it adds the Python kernelspec the plain ``.py`` files lack.
* ``dynamics_substitutions``: the numbers of ``python -m indrnn_np dynamics``'s training
  demonstration, read from its committed JSON, for the pages' ``{{ dyn_... }}``.
* ``link_tutorials``: puts a link to every ``tutorials/NN_*.py`` into
  ``docs/site/tutorials/`` (git-ignored), so the site always renders the tutorials
  as they stand, whatever their number and names.
"""

from __future__ import annotations

import os
from pathlib import Path

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def read_tutorial(text: str):
    import jupytext

    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def dynamics_substitutions(path: Path) -> dict[str, str]:
    """MyST substitutions from ``dynamics.json`` (:func:`indrnn_np.experiments.dynamics_report.page_substitutions`)."""
    import json

    from indrnn_np.experiments.dynamics_report import page_substitutions

    return page_substitutions(json.loads(Path(path).read_text()))


def link_tutorials(tutorials: Path, target: Path) -> list[str]:
    """Link ``tutorials/[0-9][0-9]_*.py`` into ``target``; remove stale links. Returns the names."""
    target.mkdir(exist_ok=True)
    wanted = {p.name: p for p in sorted(tutorials.glob("[0-9][0-9]_*.py"))}
    for old in target.glob("[0-9][0-9]_*.py"):
        if old.is_symlink() and (old.name not in wanted or old.resolve() != wanted[old.name].resolve()):
            old.unlink()
    for name, src in wanted.items():
        link = target / name
        if not link.exists():
            link.symlink_to(os.path.relpath(src, target))
    return sorted(wanted)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
