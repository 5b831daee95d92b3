"""End-to-end: `--jury-html` written by a real run (serial and under `-n 2`), opened in headless Chromium.

The suite's outputs, criteria and judge reasons carry script tags, an `<img onerror>`, `javascript:`
links, an SVG onload, bidi overrides and ANSI escapes. Each would announce itself if it ran: change the
page's title, mark the body, log to the console. The browser proves none did, that the page renders
(a screenshot at the window's size, not blank), and that it shows the same with JavaScript disabled.

Chromium is Debian's package, installed by `scripts/install_chromium.sh` (which `scripts/check.sh`
runs); without it these tests skip, unless LLMONPY_REQUIRE_BROWSER is set (as CI sets it).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer

JUDGES = "--jury-judges=judge-a,judge-b,judge-c"
MARK = "PWNED"
SCRIPT = (
    f"<script>document.title='{MARK}';window.{MARK}=1;document.body.setAttribute('data-{MARK}','1');"
    f"console.log('{MARK}-1')</script>"
)
IMAGE = f"<img src=x onerror=\"document.title='{MARK}';console.log('{MARK}-2')\">"
LINK = f"<a href=\"javascript:console.log('{MARK}-3')\">click me</a> [docs](javascript:alert(1))"
SVG = f"<svg onload=\"console.log('{MARK}-4')\"></svg>"
TRICKS = "\u202eexe.txt\u202c and \x1b[31mred\x1b[0m"
HOSTILE = f"{SCRIPT} {IMAGE} {LINK} {SVG} {TRICKS}"
WINDOW = (1280, 1600)


@pytest.fixture
def chromium() -> str:
    found = os.environ.get("LLMONPY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("LLMONPY_REQUIRE_BROWSER"):
            pytest.fail("no Chromium: run scripts/install_chromium.sh (LLMONPY_REQUIRE_BROWSER is set)")
        pytest.skip("no Chromium: run scripts/install_chromium.sh to test the HTML report in a browser")
    return found


@dataclass
class Opened:
    """What the browser saw of a page: its title, whether a script marked it, what it logged."""

    title: str
    marked: str | None
    hijacked: object
    logged: list[str]
    text: str
    pixels: bytes


def _open(chromium: str, page: Path, shot: Path, *, scripts: bool) -> Opened:
    """Open `page` in headless Chromium (through Playwright), scripts allowed or not, and look."""
    from playwright.sync_api import sync_playwright

    logged: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            context = browser.new_context(
                java_script_enabled=scripts, viewport={"width": WINDOW[0], "height": WINDOW[1]}
            )
            tab = context.new_page()
            tab.on("console", lambda message: logged.append(message.text))
            tab.on("dialog", lambda dialog: logged.append(f"dialog: {dialog.message}"))
            tab.goto(page.as_uri(), timeout=120_000)
            opened = Opened(
                title=tab.title(),
                marked=tab.locator("body").get_attribute(f"data-{MARK.lower()}"),
                # A global a script would set (read by the page's own JavaScript, so only when allowed).
                hijacked=tab.evaluate(f"() => window.{MARK}") if scripts else None,
                logged=logged,
                text=tab.inner_text("body"),
                pixels=b"",
            )
            tab.screenshot(path=str(shot))
        finally:
            browser.close()
    opened.pixels = _rendered(shot)
    return opened


class _Elements(HTMLParser):
    """The tags, attributes and title of a DOM as Chromium serialised it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        self._in_title = tag == "title" and "svg" not in self.tags  # the page's, not a chart's

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _write_suite(pytester: pytest.Pytester, llm_server: FakeLLMServer) -> None:
    llm_server.judge("pass", f"fine {HOSTILE}")
    llm_server.judge("fail", f"split {HOSTILE}", model="judge-c", output_contains="split")
    llm_server.judge("fail", f"bad {HOSTILE}", output_contains="wrong")
    llm_server.prefer("better")
    pytester.makepyfile(
        test_suite=f"""
        import os
        import pytest

        HOSTILE = {HOSTILE!r}

        def test_passes(jury):
            jury.assert_passes("Refunds within 30 days. " + HOSTILE, "Mentions refunds " + HOSTILE)

        def test_contested(jury):
            jury.assert_passes("split answer " + HOSTILE, "Is polite")

        def test_fails(jury):
            assert not jury.check("wrong answer " + HOSTILE, "Is correct")

        def test_score(jury):
            jury.assert_score("Refunds. " + HOSTILE, "Is clear " + HOSTILE, threshold=3)

        def test_compare(jury):
            jury.compare("better " + HOSTILE, "worse " + HOSTILE, "Is more helpful " + HOSTILE)

        def test_baseline(llm_baseline):
            llm_baseline.assert_not_worse(os.environ["ANSWER"], "Is helpful", input="question")
        """
    )


@pytest.mark.xdist_merge
def test_the_html_report_renders_and_runs_nothing_in_a_real_browser(
    pytester: pytest.Pytester,
    run_jury: RunJury,
    llm_server: FakeLLMServer,
    chromium: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _write_suite(pytester, llm_server)
    monkeypatch.setenv("ANSWER", f"The first answer.\nSame line.\n{HOSTILE}")
    run_jury(JUDGES, "--jury-baseline-update", in_this_process=True).assert_outcomes(passed=6)
    monkeypatch.setenv("ANSWER", f"A better answer.\nSame line.\n{HOSTILE}")
    result = run_jury(JUDGES, "--jury-html=reports/jury.html")
    result.assert_outcomes(passed=6)
    page = pytester.path / "reports" / "jury.html"
    assert page.stat().st_mode & 0o777 == 0o644
    source = page.read_text()
    parsed = _Elements()
    parsed.feed(source)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert "a" not in parsed.tags
    assert not [name for name, _ in parsed.attributes if name.startswith("on") or name in ("href", "src")]
    # What the page shows, in its order: the run, costs, verdicts (the contested one first), the
    # comparison, the baseline with its diff.
    for text in (
        "judge-a, judge-b, judge-c",
        "Where the money went",
        "Verdicts by judge",
        "contested",
        "Comparisons",
        "won by a",
        "Baselines",
        "-The first answer.",
        "+A better answer.",
    ):
        assert text in source, text
    assert source.index("test_contested") < source.index("test_passes")
    assert "\\u202e" in source
    assert "\\x1b[31m" in source

    seen = {}
    for scripts in (True, False):
        opened = seen[scripts] = _open(chromium, page, tmp_path / f"shot-{scripts}.png", scripts=scripts)
        assert opened.title == "LLM jury report"  # no script set it
        assert opened.marked is None  # nor marked the page
        assert opened.hijacked is None  # nor set a global
        assert not opened.logged  # nor logged anything, nor opened a dialog
        assert "Verdicts by judge" in opened.text
        assert "<script>document.title=" in opened.text  # the hostile text is shown as text
    # The page needs no JavaScript: without it, it looks exactly the same.
    assert seen[True].pixels == seen[False].pixels


def _rendered(shot: Path) -> bytes:
    """The screenshot's pixels, once it is shown to be the window's size and not blank."""
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 16)
        # A blank page is one colour; text, tables, badges and charts are many.
        assert colours is None or len(colours) > 20, len(colours or [])
        return bytes(pixels.tobytes())
