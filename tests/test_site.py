"""The documentation site, built, read and opened in a real browser (headless Chromium) with the network
cut.

Builds docs/site with Sphinx (tutorials executed with INDRNN_TUTORIAL_FAST=1; several minutes on 2
cores), or uses the build in ``$INDRNN_SITE_DIR`` when that names a folder holding ``index.html``.

Read as files (needs the ``docs`` extra only): no page loads a script, style, image, font or frame
from outside the build, MathJax is served from the build itself, every figure of a page has a
caption, and the command-line page has no empty navigation column, no default printed twice and no
link to ``tcp://``.

Opened in Chromium with every host name unresolvable (``--host-resolver-rules``), so that anything
fetched from the network fails loudly: the home page, the concepts page, the tutorials and the API
reference typeset their equations (MathJax's output elements in the rendered DOM), every ``<img>``
points at a real image of the build, the console shows no error, and at 1280 px no tutorial's code,
output or page scrolls sideways. Screenshots (1280 px wide) go to ``$INDRNN_SITE_SHOTS`` when set, for
a person to look at.

Skipped, with the reason, without Sphinx and myst-nb (the ``docs`` extra); the browser tests also
without chromium (Debian's ``chromium``, or ``chromium-browser``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
MATHJAX_ELEMENTS = re.compile(r"<mjx-container|class=\"MathJax(_CHTML|_SVG)?\"|class=\"MathJax_Display\"")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml")
WIDTH = 1280  # the width at which tutorial code must not scroll sideways


def _missing_docs() -> str | None:
    for module in ("sphinx", "myst_nb", "numpydoc", "sphinxarg", "pydata_sphinx_theme"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[docs]')"
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("INDRNN_SITE_DIR")
    if given and (Path(given) / "index.html").is_file():
        return Path(given)
    reason = _missing_docs()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, INDRNN_TUTORIAL_FAST="1")
    out = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs/site", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"the site's build failed:\n{proc.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def browser():
    if BROWSER is None:
        pytest.skip("no chromium or chromium-browser on PATH (apt-get install chromium)")
    return BROWSER


def _pages(site: Path, *, content_only: bool = False) -> list[Path]:
    """Every page of the build; with ``content_only``, not the generated index, module index and search."""
    skip = {"_static", "_sources", "_modules", "_images", "_downloads"}
    if content_only:
        skip |= {"genindex.html", "py-modindex.html", "search.html"}
    return [p for p in sorted(site.rglob("*.html")) if not skip & set(p.relative_to(site).parts)]


# ------------------------------------------------------------------------------------ read as files


class _Loads(HTMLParser):
    """Every resource a page makes the browser load (not the links a reader may follow)."""

    LINK_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon", "shortcut", "manifest"}

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio", "embed", "track") and a.get("src"):
            self.urls.append((tag, a["src"]))
        if tag in ("img", "source") and a.get("srcset"):
            self.urls += [(tag, part.split()[0]) for part in a["srcset"].split(",") if part.strip()]
        if tag == "object" and a.get("data"):
            self.urls.append((tag, a["data"]))
        if tag == "link" and set((a.get("rel") or "").lower().split()) & self.LINK_RELS and a.get("href"):
            self.urls.append((f"link {a.get('rel')}", a["href"]))
        style = a.get("style") or ""
        self.urls += [("style", u) for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", style)]


def _from_outside(url: str) -> bool:
    url = unescape(url).strip()
    return url.startswith("//") or urlsplit(url).scheme.lower() in ("http", "https", "ftp", "ws", "wss")


def test_no_page_loads_anything_from_outside(site):
    outside = []
    pages = _pages(site)
    for page in pages:
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        outside += [
            f"{page.relative_to(site)}: <{tag}> {url}" for tag, url in parser.urls if _from_outside(url)
        ]
    for css in sorted((site / "_static").rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)|@import\s+['\"]([^'\"]+)", text):
            url = url[0] or url[1]
            if _from_outside(url):
                outside.append(f"{css.relative_to(site)}: {url}")
    assert len(pages) > 20
    assert not outside, "resources loaded from outside the build:\n" + "\n".join(outside[:40])


def test_mathjax_is_served_from_the_build(site):
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', (site / "index.html").read_text())
    assert scripts, "the home page loads no MathJax"
    for src in scripts:
        assert not _from_outside(src), f"MathJax from outside the build: {src}"
        path = (site / unquote(urlsplit(src).path)).resolve()
        assert path.is_file() and path.stat().st_size > 10_000, f"{src} is not in the build"
    # its fonts too (CommonHTML output reads them from beside the script)
    assert list((site / "_static" / "mathjax").rglob("*.woff*")), "MathJax's fonts are not in the build"


class _Figures(HTMLParser):
    """Each <img> inside the article, with whether it sits in a <figure> that has a <figcaption>."""

    def __init__(self):
        super().__init__()
        self.in_article = 0
        self.figures: list[dict] = []  # the open <figure> elements, innermost last
        self.done: list[dict] = []
        self.loose: list[str] = []  # images in no figure

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self.in_article += 1
        if not self.in_article:
            return
        if tag == "figure":
            self.figures.append({"imgs": [], "caption": ""})
        elif tag == "figcaption" and self.figures:
            self.figures[-1]["in_caption"] = True
        elif tag == "img":
            src = (a.get("src") or "")[:80]
            (self.figures[-1]["imgs"] if self.figures else self.loose).append(src)

    def handle_endtag(self, tag):
        if tag == "article":
            self.in_article -= 1
        elif tag == "figcaption" and self.figures:
            self.figures[-1]["in_caption"] = False
        elif tag == "figure" and self.figures and self.in_article:
            self.done.append(self.figures.pop())

    def handle_data(self, data):
        if self.figures and self.figures[-1].get("in_caption"):
            self.figures[-1]["caption"] += data


def test_every_figure_has_a_caption(site):
    uncaptioned, count = [], 0
    for page in _pages(site, content_only=True):
        parser = _Figures()
        parser.feed(page.read_text(encoding="utf-8"))
        name = page.relative_to(site)
        uncaptioned += [f"{name}: {src}" for src in parser.loose]
        for fig in parser.done:
            count += len(fig["imgs"])
            if fig["imgs"] and len(fig["caption"].split()) < 8:
                uncaptioned += [f"{name}: {src} (caption {fig['caption'].strip()!r})" for src in fig["imgs"]]
    assert count >= 30, f"only {count} figures found"
    assert not uncaptioned, "figures without a caption that reads alone:\n" + "\n".join(uncaptioned)


def test_the_command_line_page(site):
    text = (site / "cli.html").read_text(encoding="utf-8")
    assert "Section Navigation" not in text, (
        "an empty 'Section Navigation' column on a page without sub-pages"
    )
    # each option's help states its default; sphinx-argparse's own "Default: ..." would say it twice
    assert not re.search(r"<p>Default:", text), "defaults printed twice"
    assert "(default: 100)" in text
    assert 'href="tcp://' not in text and "tcp://host:8786" in text, "tcp://host:8786 rendered as a link"


# ---------------------------------------------------------------------------------- in the browser


# Run in the page after MathJax: what overflows sideways, and how wide the page and the code are.
PROBE = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  var wide = [];
  document.querySelectorAll('article pre, article div.highlight, article div.cell_output, article table')
    .forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1)
        wide.push([el.tagName, el.scrollWidth, el.clientWidth, (el.textContent || '').slice(0, 60)]);
    });
  var code = 0;
  document.querySelectorAll('article div.cell_input pre').forEach(function (p) {
    code = Math.max(code, p.clientWidth); });
  var d = document.createElement('div');
  d.id = 'indrnn-probe';
  d.setAttribute('data-report', JSON.stringify({wide: wide, code_width: code,
    page: document.documentElement.scrollWidth, window: window.innerWidth}));
  document.body.appendChild(d);
}, 2000); });
</script>"""


def _chromium(browser, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--allow-file-access-from-files",
        # no network: every host name fails to resolve, so a fetch from outside shows as net::ERR_
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=20000",
        f"--window-size={WIDTH},1000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _console_errors(stderr: str) -> list[str]:
    """Console messages that are errors: uncaught exceptions, console.error, failed loads."""
    lines = [line for line in stderr.splitlines() if "CONSOLE" in line or "net::ERR_" in line]
    bad = re.compile(r"error|uncaught|failed|net::ERR_|not found|refused", re.IGNORECASE)
    return [line for line in lines if bad.search(line)]


def _render(browser, page: Path, shot_name: str) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console's errors; a screenshot when INDRNN_SITE_SHOTS is set."""
    url = page.as_uri()
    dom = _chromium(browser, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-3000:]
    errors = _console_errors(dom.stderr)
    shots = os.environ.get("INDRNN_SITE_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shot = _chromium(
            browser,
            "--hide-scrollbars",
            f"--window-size={WIDTH},2400",
            f"--screenshot={shots}/{shot_name}",
            url,
        )
        assert shot.returncode == 0, shot.stderr[-3000:]
    return dom.stdout, errors


def _check_images(page: Path, dom: str, site: Path) -> int:
    parser = _Loads()
    parser.feed(dom)
    srcs = [url for tag, url in parser.urls if tag == "img"]
    for src in srcs:
        assert src, f"{page.name}: an <img> without src"
        parts = urlsplit(src)
        assert parts.scheme in ("", "file", "data"), f"{page.name}: image from the network: {src[:100]}"
        if parts.scheme == "data":
            assert len(src) > 100, f"{page.name}: an empty inline image"
            continue
        path = Path(unquote(parts.path)) if parts.scheme == "file" else (page.parent / unquote(parts.path))
        path = path.resolve()
        assert path.is_file(), f"{page.name}: image {src} is not in the build ({path})"
        assert site.resolve() in path.parents, f"{page.name}: image {src} lies outside the build"
        head = path.read_bytes()[:16]
        assert path.stat().st_size > 100 and head.startswith(IMAGE_MAGIC), f"{page.name}: {src} is no image"
    return len(srcs)


def _tutorials(site: Path) -> list[Path]:
    pages = sorted((site / "tutorials").glob("[0-9][0-9]_*.html"))
    assert len(pages) >= 9, "the tutorial pages are missing from the build"
    return pages


@pytest.mark.parametrize(
    "name, figures",
    [("index.html", True), ("concepts/gradient.html", True), ("concepts/recurrence.html", False)],
)
def test_a_page_renders_equations_and_figures_offline(site, browser, name, figures):
    page = site / name
    dom, errors = _render(browser, page, name.replace("/", "_").replace(".html", ".png"))
    assert not errors, "console errors:\n" + "\n".join(errors)
    assert MATHJAX_ELEMENTS.search(dom), (
        f"{name}: the equations were not typeset (no MathJax output in the DOM)"
    )
    article = re.sub(r"<script.*?</script>|<pre.*?</pre>", "", dom, flags=re.S)
    assert "\\(" not in article and "$$" not in article, f"{name}: raw LaTeX left on the page"
    assert _check_images(page, dom, site) >= (1 if figures else 0)


def test_tutorials_render_equations_code_and_figures_offline(site, browser):
    shots = {"02": "tutorial_02.png"}
    with_figures = 0
    for page in _tutorials(site):
        dom, errors = _render(browser, page, shots.get(page.name[:2], f"tutorial_{page.name[:2]}.png"))
        assert not errors, f"{page.name}: console errors:\n" + "\n".join(errors)
        assert "cell_output" in dom, f"{page.name}: no executed cell output"
        if "$" in (ROOT / "tutorials" / page.with_suffix(".py").name).read_text():
            assert MATHJAX_ELEMENTS.search(dom), f"{page.name}: the equations were not typeset"
        with_figures += _check_images(page, dom, site) > 0
    assert with_figures >= 8


def test_tutorial_code_needs_no_sideways_scrolling_at_1280px(site, browser):
    for page in _tutorials(site):
        probe = page.with_name(f"_probe_{page.name}")
        probe.write_text(
            page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
        )
        try:
            dom = _chromium(browser, "--dump-dom", probe.as_uri())
        finally:
            probe.unlink()
        found = re.search(r'id="indrnn-probe" data-report="([^"]*)"', dom.stdout)
        assert found, f"{page.name}: the probe did not run\n{dom.stderr[-2000:]}"
        report = json.loads(unescape(found.group(1)))
        assert not report["wide"], f"{page.name} at {WIDTH} px: scrolls sideways: {report['wide']}"
        assert report["page"] <= report["window"], f"{page.name}: the page is wider than the window: {report}"
        # 110 columns of code at the theme's monospace size: about 8.4 px a column
        assert report["code_width"] >= 110 * 8, f"{page.name}: the code column is narrow: {report}"


@pytest.mark.parametrize("name", ["api/index.html", "api/top.html", "cli.html"])
def test_api_and_command_line_reference_render(site, browser, name):
    page = site / name
    dom, errors = _render(browser, page, name.replace("/", "_").replace(".html", ".png"))
    assert not errors, "console errors:\n" + "\n".join(errors)
    _check_images(page, dom, site)
    if name == "api/top.html":
        assert "indrnn_forward" in dom and "autosummary" in dom, "the package's API table is missing"
