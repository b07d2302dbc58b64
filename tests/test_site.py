"""The documentation site, checked in a real browser (headless Chromium).

Builds docs/site with Sphinx (tutorials executed with INDRNN_TUTORIAL_FAST=1; several minutes on 2
cores), or uses the build in ``$INDRNN_SITE_DIR`` when that names a folder holding ``index.html``.
Then opens the home page, a tutorial with figures and the API reference in headless Chromium and
checks that equations are typeset (MathJax's output elements in the rendered DOM), that every
``<img>`` points at a file of the build that is a real image, and that the console shows no error.
Screenshots go to ``$INDRNN_SITE_SHOTS`` when set (for a person to look at).

Skipped, with the reason, without chromium (Debian's ``chromium``, or ``chromium-browser``) or
without Sphinx and myst-nb (the ``docs`` extra). Offline, MathJax cannot come from its CDN: the
build then loads Debian's libjs-mathjax (``/usr/share/javascript/mathjax/MathJax.js``) when it is
installed (``INDRNN_DOCS_MATHJAX2``), and the test is skipped when neither is there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
MATHJAX_ELEMENTS = re.compile(r"<mjx-container|class=\"MathJax(_CHTML|_SVG)?\"|class=\"MathJax_Display\"")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml")


def _missing() -> str | None:
    if BROWSER is None:
        return "no chromium or chromium-browser on PATH (apt-get install chromium)"
    for module in ("sphinx", "myst_nb", "numpydoc", "sphinxarg", "pydata_sphinx_theme"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[docs]')"
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    given = os.environ.get("INDRNN_SITE_DIR")
    if given and (Path(given) / "index.html").is_file():
        return Path(given)
    env = dict(os.environ, INDRNN_TUTORIAL_FAST="1")
    if not env.get("INDRNN_DOCS_MATHJAX2"):
        if not DEBIAN_MATHJAX.is_file():
            pytest.skip(
                "no local MathJax for an offline browser (apt-get install libjs-mathjax, or set "
                "INDRNN_DOCS_MATHJAX2 to a MathJax 2 MathJax.js)"
            )
        env["INDRNN_DOCS_MATHJAX2"] = str(DEBIAN_MATHJAX)
    out = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs/site", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"the site's build failed:\n{proc.stderr[-6000:]}"
    return out


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src") or "")


def _chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [
        BROWSER,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--allow-file-access-from-files",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=20000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _console_errors(stderr: str) -> list[str]:
    """Console messages that are errors: uncaught exceptions, console.error, failed loads."""
    lines = [line for line in stderr.splitlines() if "CONSOLE" in line or "net::ERR_" in line]
    bad = re.compile(r"error|uncaught|failed|net::ERR_|not found|refused", re.IGNORECASE)
    return [line for line in lines if bad.search(line)]


def _render(page: Path, shot_name: str) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console's errors; a screenshot when INDRNN_SITE_SHOTS is set."""
    url = page.as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-3000:]
    errors = _console_errors(dom.stderr)
    shots = os.environ.get("INDRNN_SITE_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shot = _chromium(
            "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shots}/{shot_name}", url
        )
        assert shot.returncode == 0, shot.stderr[-3000:]
    return dom.stdout, errors


def _check_images(page: Path, dom: str, site: Path) -> int:
    parser = _Images()
    parser.feed(dom)
    for src in parser.srcs:
        assert src, f"{page.name}: an <img> without src"
        parts = urlsplit(src)
        assert parts.scheme in ("", "file", "data"), f"{page.name}: image from the network: {src}"
        if parts.scheme == "data":
            assert len(src) > 100, f"{page.name}: an empty inline image"
            continue
        path = Path(unquote(parts.path)) if parts.scheme == "file" else (page.parent / unquote(parts.path))
        path = path.resolve()
        assert path.is_file(), f"{page.name}: image {src} is not in the build ({path})"
        assert site.resolve() in path.parents, f"{page.name}: image {src} lies outside the build"
        head = path.read_bytes()[:16]
        assert path.stat().st_size > 100 and head.startswith(IMAGE_MAGIC), f"{page.name}: {src} is no image"
    return len(parser.srcs)


def _tutorial_with_figures(site: Path) -> Path:
    pages = sorted((site / "tutorials").glob("[0-9][0-9]_*.html"))
    assert pages, "no tutorial pages in the build"
    counts = {p: len(re.findall(r"<img ", p.read_text(encoding="utf-8"))) for p in pages}
    best = max(pages, key=lambda p: (counts[p], -pages.index(p)))
    assert counts[best] > 0, "no tutorial page shows a figure"
    return best


def test_home_page_renders_equations_and_its_figure(site):
    page = site / "index.html"
    dom, errors = _render(page, "home.png")
    assert not errors, "console errors:\n" + "\n".join(errors)
    assert MATHJAX_ELEMENTS.search(dom), "the equations were not typeset (no MathJax output in the DOM)"
    assert _check_images(page, dom, site) >= 1


def test_a_tutorial_renders_equations_code_and_figures(site):
    page = _tutorial_with_figures(site)
    dom, errors = _render(page, "tutorial.png")
    assert not errors, "console errors:\n" + "\n".join(errors)
    assert MATHJAX_ELEMENTS.search(dom), f"{page.name}: the equations were not typeset"
    assert "cell_output" in dom, f"{page.name}: no executed cell output"
    assert _check_images(page, dom, site) >= 1


@pytest.mark.parametrize("name", ["api/index.html", "api/top.html"])
def test_api_reference_renders(site, name):
    page = site / name
    dom, errors = _render(page, name.replace("/", "_").replace(".html", ".png"))
    assert not errors, "console errors:\n" + "\n".join(errors)
    _check_images(page, dom, site)
    if name == "api/top.html":
        assert "indrnn_forward" in dom and "autosummary" in dom, "the package's API table is missing"
