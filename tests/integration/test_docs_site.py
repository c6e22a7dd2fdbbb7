"""The built documentation site in a real browser: the front page renders, with its navigation.

The site (``make docs``, in docs/_build/html; built into a temporary folder when missing) is
served over loopback by :mod:`http.server`, as ``python -m http.server`` would serve it, and
headless Chromium opens the front page. With ``ERLEN_SCREENSHOTS=1`` the test also saves
``docs/screenshots/docs-site.png`` (for the docs; CI leaves the tree alone). Needs Debian's
``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skips with the reason when
they are absent.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import chromium_missing, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
WAIT = 20  # seconds: the bound on every wait for the page
BUILD_TIMEOUT = 600  # seconds: a full build takes about a minute on a 2-core machine

pytestmark = pytest.mark.slow

if chromium_missing():
    pytest.skip(str(chromium_missing()), allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site: docs/_build/html, or a fresh build as ``make docs`` makes it."""
    built = ROOT / "docs" / "_build" / "html"
    if (built / "index.html").exists():
        return built
    out = tmp_path_factory.mktemp("docs-html")
    cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html"]
    proc = subprocess.run(
        [*cmd, str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"the docs build failed:\n{proc.stderr[-6000:]}"
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the test's output is its assertions, not an access log


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    """The site over HTTP on a free loopback port; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()
            thread.join(WAIT)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = launch_chromium(tmp_path / "profile", "--window-size=1280,900", wait=WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def test_front_page_renders_with_navigation(served: str, browser: Any) -> None:
    driver = browser
    driver.get(f"{served}/index.html")
    wait = WebDriverWait(driver, WAIT)
    heading = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "article h1")))
    assert heading.text.startswith("Erlen")
    assert driver.title.startswith("Erlen")

    # The theme's stylesheet applied: the sidebar's captions are set in capitals by CSS.
    sidebar = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".sidebar-tree")))
    captions = sidebar.find_elements(By.CSS_SELECTOR, ".caption")
    sources = [c.get_attribute("textContent").strip() for c in captions]
    assert sources == ["Tutorial", "Guides", "API reference"], sources
    assert [c.text for c in captions] == [t.upper() for t in sources]
    # ... and the navigation reaches the guides and the reference.
    links = {
        a.get_attribute("href").rsplit("/", 2)[-1] for a in sidebar.find_elements(By.TAG_NAME, "a")
    }
    assert {"realtime.html", "index.html"} <= links, sorted(links)
    # The front page's example is highlighted code, not plain text.
    assert driver.find_elements(By.CSS_SELECTOR, "div.highlight-python pre span")

    if os.environ.get("ERLEN_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOTS / "docs-site.png"))

    # A newcomer looks up a public name: the reference page has it, with its signature.
    api = sidebar.find_element(By.PARTIAL_LINK_TEXT, "API reference").get_attribute("href")
    assert api == f"{served}/api/index.html"
    driver.get(f"{served}/api/erlen.html#erlen.url_for")
    entry = wait.until(ec.visibility_of_element_located((By.ID, "erlen.url_for")))
    assert "url_for(" in entry.text
