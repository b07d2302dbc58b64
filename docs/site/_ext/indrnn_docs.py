"""Small build helpers for the indrnn-np site (loaded by conf.py).

* ``read_tutorial``: myst-nb's reader for the jupytext percent-format tutorials
  (``nb_custom_formats``); it adds the Python kernelspec the plain ``.py`` files lack.
* ``EmptySectionFilter`` (installed by ``setup``): the how-to and results folders list every page
  they hold with a glob; while a folder holds only its index, Sphinx warns that the glob matched
  nothing. That one message, for those two index pages only, is dropped; every other warning stays.
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


EMPTY_SECTIONS = ("howto/index", "results/index")


class EmptySectionFilter:
    """Drops "toctree glob pattern ... didn't match any documents" from howto/index and results/index."""

    def filter(self, record) -> bool:
        message = str(record.msg)
        if "toctree glob pattern" not in message or "match any documents" not in message:
            return True
        location = getattr(record, "location", None)
        if hasattr(location, "source"):  # a docutils node (the toctree)
            location = location.source or ""
        elif isinstance(location, tuple):  # (docname, line)
            location = location[0] or ""
        location = str(location or "").replace("\\", "/")
        return not any(location.endswith((f"{name}.md", name)) for name in EMPTY_SECTIONS)


def setup(app):
    import logging

    from sphinx.util.logging import NAMESPACE

    # first among each handler's filters: before Sphinx's own, which counts the warning
    for handler in logging.getLogger(NAMESPACE).handlers:
        handler.filters.insert(0, EmptySectionFilter())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
