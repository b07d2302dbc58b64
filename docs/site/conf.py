"""Sphinx configuration of the indrnn-np site.

Build it (from the repository root, after ``pip install -e ".[docs]"``)::

    INDRNN_TUTORIAL_FAST=1 python -m sphinx -W --keep-going -b html docs/site build/site

``-W`` makes every warning an error (broken links and references fail); CI (``.ci/run``) builds it
this way. ``INDRNN_TUTORIAL_FAST=1`` runs the tutorials' short versions (the whole build then takes a
few minutes on 2 cores); leave it out for the full ones. ``INDRNN_DOCS_EXECUTE`` sets myst-nb's
execution mode (``force`` by default; ``cache`` reuses outputs of unchanged tutorials, ``off`` skips
execution).

Why Sphinx: the tutorials are jupytext percent files, which myst-nb reads and executes at build, so
prose, equations, code and output (figures inline) sit together; numpydoc and autodoc turn the
library's numpydoc docstrings into the API reference; sphinx-argparse reads the command line's parser.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TUTORIALS = ROOT / "tutorials"
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT))

import indrnn_docs  # noqa: E402

import indrnn_np  # noqa: E402

# The tutorials as pages: a link to each tutorials/NN_*.py in docs/site/tutorials/ (git-ignored).
indrnn_docs.link_tutorials(TUTORIALS, HERE / "tutorials")
# The kernels that execute them inherit this environment: tutorials/ on the path (they may import
# their helper beside them), no interactive backend, and Numba's compiled kernels cached.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(TUTORIALS), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)
# (not setdefault: the test suite's conftest sets Agg, which would draw no figure under its cell)
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

project = "indrnn-np"
author = "indrnn-np contributors"
copyright = "indrnn-np contributors"  # noqa: A001
release = version = indrnn_np.__version__

extensions = [
    "indrnn_docs",  # the tutorials' reader
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # the package's folder name: MathJax served from _static/mathjax
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinxarg.ext",
    "sphinx_copybutton",
    "sphinx_design",
]

source_suffix = {
    ".rst": "restructuredtext",
    ".md": "myst-nb",
    ".py": "myst-nb",
}  # .rst first: autosummary writes .rst
exclude_patterns = ["README.md", "conf.py", "_ext/**", "_build", "**/.ipynb_checkpoints", "**/__pycache__"]

# --- MyST and myst-nb -------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline", "substitution"]
# The training demonstration's numbers, as `{{ dyn_... }}`, from the JSON that `python -m indrnn_np dynamics
# --out docs/img/dynamics` writes (the terminal prints the same strings): no page types them by hand.
myst_substitutions = indrnn_docs.dynamics_substitutions(ROOT / "docs" / "img" / "dynamics" / "dynamics.json")
myst_heading_anchors = 3
nb_custom_formats = {".py": ["indrnn_docs.read_tutorial", {}, False]}  # False: full MyST (dollarmath)
nb_execution_mode = os.environ.get("INDRNN_DOCS_EXECUTE", "force")
nb_execution_timeout = 900
nb_execution_raise_on_error = True  # a tutorial that fails fails the build
nb_execution_in_temp = True  # files a tutorial writes land in a temporary folder, not in the sources
nb_execution_show_tb = True
nb_merge_streams = True

# --- Equations -------------------------------------------------------------------------------------
# MathJax 3 from the build itself, never from a CDN: sphinx-mathjax-offline (the docs extra) copies its
# packaged MathJax (tex-chtml.js with its fonts) into _static/mathjax and points mathjax_path there, so
# the equations typeset with the network cut (tests/test_site.py checks that no page loads anything
# from outside). myst marks each page mathjax_ignore and its equations with the class "math", which
# its MathJax 3 settings (processHtmlClass) take up.

# --- API reference ----------------------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections give the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# --- HTML -------------------------------------------------------------------------------------------
# quotes and ellipses only: "--resume" must not become an en dash on the command-line reference
smartquotes_action = "qe"

html_theme = "pydata_sphinx_theme"
html_title = "indrnn-np"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # no page-contents column beside a tutorial: its code cells get the width (exact names, which win
    # over the wildcard without a warning)
    "secondary_sidebar_items": {
        "**": ["page-toc"],
        **{f"tutorials/{p.stem}": [] for p in TUTORIALS.glob("[0-9][0-9]_*.py")},
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
# Code written to the 110-column limit fits the content column at 1280 px: a wider article, a narrower
# left sidebar, and no page-contents sidebar beside the tutorials (their cells are the widest); outputs
# wrap instead of scrolling (_static/indrnn.css).
html_static_path = ["_static"]
html_css_files = ["indrnn.css"]
# a page without sub-pages (the command-line reference) gets no empty "Section Navigation" column
html_sidebars = {"cli": [], "index": []}
