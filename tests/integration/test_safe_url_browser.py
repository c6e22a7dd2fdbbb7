"""``is_safe_url`` and ``redirect()`` against a real browser's URL parser (headless Chromium).

* Every target of tests/redirect_targets.py is resolved by Chromium (``new URL(target,
  base).origin``, base being the URL of the request the verdict was made in): a target we
  call safe must stay on the base's origin, one the table calls unsafe must leave it (another
  origin, another scheme, or no URL at all), one it calls refused must stay (it is refused
  for being ambiguous, not for leaving). Our WHATWG resolver must give Chromium's origin.
* The same for the thousands of generated targets, and for the ``Location`` that
  ``redirect()`` makes of each target.
* Chromium follows real redirects from a real server: a login-style view redirecting to
  ``next`` when ``is_safe_url`` says so never takes the browser off the site.

Needs Debian's ``chromium`` and ``chromium-driver``; skips with the reason when absent.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import quote, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from erlen import Erlen, redirect, request
from erlen.contrib.auth import _url_origin, is_safe_url
from redirect_targets import (
    HTTP_BASE,
    HTTP_CASES,
    HTTPS_BASE,
    HTTPS_CASES,
    PAGE,
    REFUSED,
    SAFE,
    UNSAFE,
    generated_targets,
)
from support import chromium_missing, launch_chromium

WAIT = 20  # seconds: the bound on every page load and script

pytestmark = pytest.mark.slow

if chromium_missing():
    pytest.skip(str(chromium_missing()), allow_module_level=True)

from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

# Origins as Chromium's URL.origin serialises them; None where ``new URL`` throws.
RESOLVE = """
const [targets, base] = arguments;
return targets.map((t) => { try { return new URL(t, base).origin; } catch (e) { return null; } });
"""

Origin = tuple[str, str, int | None]


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    profile = tmp_path_factory.mktemp("chromium")
    # Nothing leaves this machine: any host but 127.0.0.1 fails at once.
    driver = launch_chromium(
        profile, "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", wait=WAIT
    )
    try:
        driver.get("about:blank")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def serialise(origin: Origin | None) -> str | None:
    if origin is None:
        return None
    scheme, host, port = origin
    return f"{scheme}://{host}" + ("" if port is None else f":{port}")


def judge(base: str, targets: list[str]) -> tuple[str, Origin, list[bool], list[str]]:
    """In a request to ``base + PAGE``: its URL and origin, the verdicts and the Locations."""
    app = Erlen(__name__)
    with app.test_request_context(PAGE, base_url=base):
        url = request.url
        origin = _url_origin(url, ("http", "", None))
        assert origin is not None
        verdicts = [is_safe_url(t) for t in targets]
        locations = [redirect(t).headers["Location"] for t in targets]
    return url, origin, verdicts, locations


def python_on_site(target: str, origin: Origin) -> bool:
    """urlsplit's reading (an app's own check): no other scheme or host."""
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("", origin[0]):
        return False
    default = 443 if origin[0] == "https" else 80
    return not parts.netloc or (parts.hostname == origin[1] and port in (None, default))


@pytest.mark.parametrize(("base", "cases"), [(HTTPS_BASE, HTTPS_CASES), (HTTP_BASE, HTTP_CASES)])
def test_the_table_against_chromium(chromium: WebDriver, base: str, cases: list[Any]) -> None:
    targets = [t for t, _ in cases]
    url, origin, verdicts, locations = judge(base, targets)
    home = serialise(origin)
    browser = chromium.execute_script(RESOLVE, targets, url)
    browser_locations = chromium.execute_script(RESOLVE, locations, url)
    wrong = []
    for (target, verdict), safe, seen, location, seen_location in zip(
        cases, verdicts, browser, locations, browser_locations, strict=True
    ):
        ours = _url_origin(target, origin)
        problems = []
        if safe != (verdict == SAFE):
            problems.append(f"is_safe_url says {safe}")
        if safe and seen != home:
            problems.append("safe, but Chromium leaves")
        if verdict == UNSAFE and seen == home:
            problems.append("the table says unsafe, but Chromium stays")
        if verdict == REFUSED and seen != home:
            problems.append("the table says refused, but Chromium leaves: call it unsafe")
        if ours is not None and serialise(ours) != seen:
            problems.append(f"our resolver says {serialise(ours)}")
        # (A blob: URL has the origin of the page that made it, and no http(s) URL.)
        blob = target.lower().startswith("blob:")
        if ours is None and seen is not None and seen.startswith("http") and not blob:
            problems.append("our resolver finds no http(s) URL")
        if (seen == home or python_on_site(target, origin)) and seen_location not in (home, None):
            problems.append(f"redirect() sends {location!r}, which Chromium reads as elsewhere")
        if problems:
            wrong.append((target, verdict, seen, problems))
    assert wrong == []


@pytest.mark.parametrize("base", [HTTPS_BASE, HTTP_BASE])
def test_generated_targets_against_chromium(chromium: WebDriver, base: str) -> None:
    targets = generated_targets()
    url, origin, verdicts, locations = judge(base, targets)
    home = serialise(origin)
    browser = chromium.execute_script(RESOLVE, targets, url)
    browser_locations = chromium.execute_script(RESOLVE, locations, url)
    assert len(browser) == len(browser_locations) == len(targets)
    wrong = []
    for target, safe, seen, location, seen_location in zip(
        targets, verdicts, browser, locations, browser_locations, strict=True
    ):
        ours = _url_origin(target, origin)
        if safe and seen != home:
            wrong.append((target, "safe, but Chromium leaves", seen))
        if ours is None and seen is not None and seen.startswith("http"):
            wrong.append((target, "our resolver finds no http(s) URL", seen))
        if ours is not None and serialise(ours) != seen:
            wrong.append((target, f"our resolver says {serialise(ours)}", seen))
        if (seen == home or python_on_site(target, origin)) and seen_location not in (home, None):
            wrong.append((target, f"redirect() sends {location!r}", seen_location))
    assert wrong == []
    assert sum(verdicts) > 10


# -- Chromium following real redirects -----------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    timeout = WAIT  # a connection Chromium opens ahead and leaves idle is dropped

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A login-style app on a real (wsgiref) server in a thread; yield its base URL."""
    app = Erlen(__name__)
    seen: set[str] = set()

    @app.get("/go/<int:n>")
    def go(n: int) -> Any:
        # Each /go/<n> redirects once: a target such as "#top" leads back to the same URL.
        if n in seen:
            return "back on the site"
        seen.add(n)
        target = request.args.get("next", "")
        return redirect(target if is_safe_url(target) else "/")

    @app.get("/")
    @app.get("/<path:rest>")
    def anything(rest: str = "") -> str:
        return "on the site"

    httpd = make_server(
        "127.0.0.1", 0, app, server_class=ThreadingServer, handler_class=QuietHandler
    )
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=WAIT)


def test_chromium_following_login_redirects_stays_on_the_site(
    chromium: WebDriver, server: str
) -> None:
    port = urlsplit(server).port
    targets = [t for t, _ in HTTPS_CASES + HTTP_CASES]
    targets += [f"{server}/x", "http://127.0.0.1/x", f"http://localhost:{port}/x"]
    targets = list(dict.fromkeys(targets))
    urls = [f"{server}/go/{n}?next={quote(t, safe='')}" for n, t in enumerate(targets)]
    # fetch() follows each redirect as a navigation would (the Location resolved against
    # the response's URL); a hop to another host fails (the resolver rules), a hop to
    # another scheme is a network error.
    chromium.get(server + "/")
    finals = chromium.execute_async_script(FOLLOW, urls)
    left = [
        (t, final)
        for t, final in zip(targets, finals, strict=True)
        if not final.startswith(server + "/")
    ]
    assert left == []
    # A few as real navigations, and the safe ones are followed, not replaced by "/".
    start = len(urls)
    for n, (target, landing) in enumerate(
        [
            ("////evil.com", "/"),
            ("/\t/evil.com", "/"),
            ("https:evil.com", "/"),
            ("/%2F%2Fevil.com", "/"),
            ("https://site.example\\@evil.com", "/"),
            ("/posts/1?x=1", "/posts/1?x=1"),
            (f"{server}/x", "/x"),
        ],
        start=start,
    ):
        chromium.get(f"{server}/go/{n}?next={quote(target, safe='')}")
        assert chromium.current_url == server + landing, target


FOLLOW = """
const urls = arguments[0], done = arguments[arguments.length - 1];
Promise.all(
  urls.map((u) => fetch(u, { credentials: "omit" }).then((r) => r.url, (e) => "error: " + e))
).then(done);
"""
