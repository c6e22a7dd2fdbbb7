"""Erlenblog in a real browser: ``erlen run`` serving the app, headless Chromium driving it.

Two browsers (separate Chromium processes, separate cookies) register and log in; one
writes a post with a picture attached and the other is told about it live over
server-sent events; a chat message typed in one arrives in the other over WebSockets.

Another test opens the API's documentation page (Swagger UI, served by the app itself).
With ``ERLEN_SCREENSHOTS=1`` the tests also save ``docs/screenshots/{index,post,chat,api-docs}.png``
(for the docs; CI leaves the tree alone). Needs Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them); skips with the reason when they are absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import chromium_missing, free_port, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
WAIT = 20  # seconds: the bound on every wait for the page or the server

pytestmark = pytest.mark.slow

if chromium_missing():
    pytest.skip(str(chromium_missing()), allow_module_level=True)

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSWORD = "correct horse battery"


# -- the server -----------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``erlen run`` on a free port, with a fresh instance folder; yield its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "ERLENBLOG_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "ERLEN_SKIP_DOTENV": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "erlen",
        "--app",
        "examples/blog/erlenblog",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(proc, base, log)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
        # Anything the app logged as an error fails the test, with the server's output.
        assert "Traceback" not in output, output


def _wait_until_serving(proc: subprocess.Popen[bytes], base: str, log: Any) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"erlen run exited with {proc.returncode}:\n{log.read().decode()}")
        try:
            with urllib.request.urlopen(base + "/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling another process's port: there is no event to wait on
    raise RuntimeError(f"erlen run did not answer on {base} within {WAIT}s")


# -- browsers -------------------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[], WebDriver]]:
    """``browser()`` -> a new headless Chromium with its own profile; all are quit at the end."""
    drivers: list[WebDriver] = []

    def launch() -> WebDriver:
        profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
        driver = launch_chromium(Path(profile), "--window-size=1200,900", wait=WAIT)
        drivers.append(driver)
        return driver

    try:
        yield launch
    finally:
        for driver in drivers:
            driver.quit()
        shutil.rmtree(tmp_path, ignore_errors=True)


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT)


def fill(driver: WebDriver, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        element = driver.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def submit(driver: WebDriver) -> None:
    """Press the form's submit button and wait for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(driver).until(lambda _: is_detached(old))


def is_detached(element: Any) -> bool:
    """Whether the page that held ``element`` has been replaced.

    Selenium's ``staleness_of`` expects only ``StaleElementReferenceException``; while
    Chromium swaps documents it can also answer "Node with given id does not belong to
    the document" as a generic error, which means the same thing here.
    """
    try:
        element.is_enabled()
    except WebDriverException:
        return True
    return False


def flash_texts(driver: WebDriver) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, ".flash")]


def sign_up(driver: WebDriver, base: str, name: str) -> None:
    driver.get(base + "/register")
    fill(driver, {"username": name, "password": PASSWORD})
    submit(driver)
    assert driver.current_url == base + "/login"
    assert f"Welcome, {name}! You can log in now." in flash_texts(driver)
    fill(driver, {"username": name, "password": "not the password"})
    submit(driver)
    assert "Incorrect username or password." in flash_texts(driver)
    fill(driver, {"username": name, "password": PASSWORD})
    submit(driver)
    assert driver.current_url == base + "/"
    assert f"Hello, {name}." in flash_texts(driver)
    assert driver.find_element(By.ID, "account").text == name


def live(driver: WebDriver) -> None:
    """Wait until the page's notification stream is subscribed."""
    wait(driver).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on"
    )


def open_chat(driver: WebDriver, base: str) -> None:
    driver.get(base + "/chat")
    wait(driver).until(
        lambda d: d.find_element(By.ID, "chat").get_attribute("data-state") == "connected"
    )


def chat_lines(driver: WebDriver) -> list[str]:
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#chat-log li")]


def screenshot(driver: WebDriver, name: str) -> None:
    if os.environ.get("ERLEN_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def make_png(path: Path, width: int = 480, height: int = 200) -> None:
    """Write a small PNG picture (a green-to-brown gradient) without any imaging library."""
    rows = b"".join(
        b"\x00"
        + b"".join(
            bytes(
                (47 + (138 - 47) * x // width, 111 - (111 - 90) * x // width, 78 - 25 * y // height)
            )
            for x in range(width)
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# -- the test ---------------------------------------------------------------------------------------


def test_two_people_blog_and_chat_in_real_browsers(
    server: str, browser: Callable[[], WebDriver], tmp_path: Path
) -> None:
    ann = browser()
    bob = browser()
    sign_up(ann, server, "ann")
    sign_up(bob, server, "bob")

    # Ann writes two plain posts.
    for title, body in (
        (
            "Hello from Erlen",
            "This blog runs on one app object that is both WSGI and ASGI.\n"
            "Open the chat to talk to everyone who is here right now.",
        ),
        (
            "What this example shows",
            "Blueprints, templates, sessions with CSRF protection, uploads, a JSON API"
            " with tokens, caching, a WebSocket chat and server-sent notifications.",
        ),
    ):
        ann.get(server + "/posts/new")
        fill(ann, {"title": title, "body": body})
        submit(ann)
        assert "Your post is published." in flash_texts(ann)

    # Ann reads the index; her page listens for new posts.
    ann.get(server + "/")
    live(ann)

    # Bob writes a post with a picture attached.
    picture = tmp_path / "erlen-leaves.png"
    make_png(picture)
    bob.get(server + "/posts/new")
    fill(
        bob,
        {
            "title": "Autumn in the alder wood",
            "body": "Erlen is German for alders. Here is the colour of the season.",
        },
    )
    bob.find_element(By.NAME, "attachment").send_keys(str(picture))
    submit(bob)
    assert "Your post is published." in flash_texts(bob)
    post_url = bob.current_url
    link = bob.find_element(By.CSS_SELECTOR, "a.attachment")
    assert link.text.endswith("erlen-leaves.png")
    image = bob.find_element(By.CSS_SELECTOR, "img.attachment-image")
    wait(bob).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) == 480)
    with urllib.request.urlopen(link.get_attribute("href"), timeout=WAIT) as response:
        assert response.read() == picture.read_bytes()  # the download is the upload
    screenshot(bob, "post")

    # Ann's open page hears about it over SSE, without reloading.
    toast = wait(ann).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#toasts .toast")))
    assert toast.text == "New post: Autumn in the alder wood by bob"
    assert toast.find_element(By.TAG_NAME, "a").get_attribute("href") == post_url
    screenshot(ann, "index")

    # Both open the chat; what Bob types appears live in Ann's browser.
    open_chat(ann, server)
    open_chat(bob, server)
    wait(ann).until(lambda d: "bob joined" in chat_lines(d))
    bob.find_element(By.ID, "chat-text").send_keys("Hi Ann, nice post!")
    bob.find_element(By.CSS_SELECTOR, "#chat-form button").click()
    wait(ann).until(
        lambda d: any(line.startswith("bob Hi Ann, nice post!") for line in chat_lines(d))
    )
    ann.find_element(By.ID, "chat-text").send_keys("Thanks Bob! The picture is lovely.")
    ann.find_element(By.CSS_SELECTOR, "#chat-form button").click()
    wait(bob).until(lambda d: any(line.startswith("ann Thanks Bob!") for line in chat_lines(d)))
    wait(ann).until(lambda d: any(line.startswith("ann Thanks Bob!") for line in chat_lines(d)))
    assert ann.find_element(By.CSS_SELECTOR, ".chat-status").text == "Connected as ann · 2 online"
    screenshot(ann, "chat")

    # The browser never ran into the security policy (CSP, no inline script).
    for driver in (ann, bob):
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if "Content Security Policy" in entry["message"]], logs


def test_the_api_documentation_page_renders_offline(
    server: str, browser: Callable[[], WebDriver]
) -> None:
    """Swagger UI at ``/api/docs`` shows the API's operations from files the app serves."""
    reader = browser()
    reader.get(server + "/api/docs")
    # Swagger UI fetches /api/openapi.json and renders one block per operation.
    create = wait(reader).until(
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, "#operations-api-api_posts_post .opblock-summary")
        )
    )
    assert reader.find_element(By.CSS_SELECTOR, ".info .title").text.startswith("Erlenblog API")
    paths = {
        element.text.replace("\u200b", "")
        for element in reader.find_elements(
            By.CSS_SELECTOR, "#operations-tag-api ~ div .opblock-summary-path"
        )
    }
    assert {"/api/posts", "/api/posts/{post_id}", "/api/tokens"} <= paths, paths
    # The write operations show the lock of their bearer-token requirement.
    assert reader.find_elements(
        By.CSS_SELECTOR, "#operations-api-api_posts_post .authorization__btn"
    )
    screenshot(reader, "api-docs")
    # An operation opens to its request body and its answers (201, 401, 422).
    create.click()
    table = wait(reader).until(
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, "#operations-api-api_posts_post .responses-table")
        )
    )
    codes = [
        row.get_attribute("data-code")
        for row in table.find_elements(By.CSS_SELECTOR, "tr.response")
    ]
    assert codes == ["201", "401", "422"], codes

    # Every file the page loaded came from the app: no CDN, so it works offline.
    loaded = reader.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
    )
    assert server + "/api/openapi.json" in loaded, loaded
    assert server + "/api/docs/assets/swagger-ui-bundle.js" in loaded, loaded
    # (The stylesheet's icons are data: URLs, which never leave the browser.)
    elsewhere = [url for url in loaded if not url.startswith((server + "/", "data:"))]
    assert not elsewhere, elsewhere
    # And nothing ran into the app's Content-Security-Policy.
    logs = reader.get_log("browser")
    assert not [entry for entry in logs if "Content Security Policy" in entry["message"]], logs
