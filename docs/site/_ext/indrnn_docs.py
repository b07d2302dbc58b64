"""Small build helpers for the indrnn-np site (loaded by conf.py).

* ``read_tutorial``: myst-nb's reader for the jupytext percent-format tutorials
  (``nb_custom_formats``); it adds the Python kernelspec the plain ``.py`` files lack.
* ``dynamics_substitutions``: the numbers of ``python -m indrnn_np dynamics``'s training
  demonstration, read from its committed JSON, for the pages' ``{{ dyn_... }}``.
* ``link_tutorials``: puts a link to every ``tutorials/NN_*.py`` into
  ``docs/site/tutorials/`` (git-ignored), so the site always renders the tutorials
  as they stand, whatever their number and names.
* ``NoDeadLinks``: docutils turns any ``scheme://...`` in text into a link, so an address
  such as a Dask scheduler's ``tcp://host:8786`` in the command line's help became a link
  a browser cannot follow; links whose scheme a browser does not open become literal text.
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


BROWSER_SCHEMES = ("http", "https", "mailto", "ftp", "file")


def _dead_link_transform():
    from docutils import nodes
    from docutils.transforms import Transform

    class NoDeadLinks(Transform):
        """An external link with a scheme no browser opens (``tcp://``) becomes literal text."""

        default_priority = 700

        def apply(self):
            for ref in list(self.document.findall(nodes.reference)):
                uri = ref.get("refuri", "")
                scheme = uri.split(":", 1)[0].lower() if "://" in uri else ""
                if scheme and scheme not in BROWSER_SCHEMES:
                    ref.replace_self(nodes.literal(ref.astext(), ref.astext()))

    return NoDeadLinks


def setup(app):
    app.add_transform(_dead_link_transform())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
