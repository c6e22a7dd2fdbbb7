"""The debugging page in a real browser, against a real ``erlen run --debug``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import chromium_missing, launch_chromium

BIN = Path(sys.executable).parent

# -- a real browser against a real `erlen run --debug` -------------------------------------------

BROWSER_APP = """
from erlen import Erlen

app = Erlen(__name__)


def divide(total, parts):
    share_of_each = total / parts
    return share_of_each


@app.route("/")
def index():
    return "up"


@app.route("/divide")
def divide_view():
    basket_total = 90
    return str(divide(basket_total, 0))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "FLASK_"))}
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "erlen"), "--app", "app.py", "run", "--debug", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 40
    while True:
        if proc.poll() is not None:
            pytest.fail((folder / "server.log").read_text())
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except httpx.TransportError:
            if time.monotonic() > deadline:
                _stop(proc)
                pytest.fail("server did not start:\n" + (folder / "server.log").read_text())
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def chrome() -> Iterator[Any]:
    """Debian's headless chromium, driven by its chromedriver."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    profile = tempfile.mkdtemp(prefix="erlen-chrome-")
    driver = launch_chromium(Path(profile), "--window-size=1280,1600")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_browser_shows_the_debugging_page(chrome: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    (tmp_path / "app.py").write_text(BROWSER_APP, encoding="utf-8")
    port = _free_port()
    proc = _start_server(tmp_path, port)
    try:
        chrome.get(f"http://127.0.0.1:{port}/divide")
        assert chrome.title.startswith("ZeroDivisionError: division by zero")
        text = chrome.find_element(By.TAG_NAME, "body").text
        assert "In your code: " in text
        assert "line 8, in divide" in text
        assert "share_of_each = total / parts" in text
        assert "return str(divide(basket_total, 0))" in text
        assert "basket_total" in text and "90" in text
        assert f"http://127.0.0.1:{port}/divide" in text
        # The app's frames are open; the framework's frames are folded up.
        app_sources = [
            e
            for e in chrome.find_elements(By.CSS_SELECTOR, "div.frame pre.source")
            if "share_of_each" in e.text or "basket_total" in e.text
        ]
        assert app_sources and all(e.is_displayed() for e in app_sources)
        folded = chrome.find_elements(By.CSS_SELECTOR, "details.frame.lib pre.source")
        assert folded and not any(e.is_displayed() for e in folded)
        chrome.save_screenshot(str(tmp_path / "debug-page.png"))
    finally:
        _stop(proc)
