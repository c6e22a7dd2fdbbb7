"""Redirect targets (``is_safe_url``) against the table in tests/redirect_targets.py.

Every target goes through a real request, through both doors: the verdict, the origin our
WHATWG resolver gives it, and the ``Location`` that ``redirect()`` makes of it.
tests/integration/test_safe_url_browser.py checks the same table against Chromium.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from erlen import Erlen, redirect, request
from erlen.contrib.auth import LoginManager, _url_origin, is_safe_url, login_required
from redirect_targets import (
    HTTP_BASE,
    HTTP_CASES,
    HTTPS_BASE,
    HTTPS_CASES,
    PAGE,
    REFUSED,
    SAFE,
    SITE,
    UNSAFE,
    generated_targets,
)

TABLES = [(HTTPS_BASE, HTTPS_CASES), (HTTP_BASE, HTTP_CASES)]
DEFAULT_PORT = {"http": 80, "https": 443}


def origin_of(base: str) -> tuple[str, str, int | None]:
    scheme = base.partition(":")[0]
    return (scheme, SITE, None)


def stays_or_breaks(location: str, origin: tuple[str, str, int | None]) -> bool:
    """True when a browser keeps ``location`` on ``origin``, or finds no http(s) URL in it.

    (Percent-encoding may break a target a browser would read, ``https:///site\\x`` say;
    it must never send the client elsewhere or to another scheme.)
    """
    resolved = _url_origin(location, origin)
    if resolved is None:
        scheme = re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", location)
        return scheme is None or scheme.group().lower() in ("http:", "https:")
    return resolved == origin


def python_reads_on_site(target: str, origin: tuple[str, str, int | None]) -> bool:
    """True when ``urllib.parse.urlsplit`` (what an app's own check likely uses) sees no
    other host or scheme in ``target``."""
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("", origin[0]):
        return False
    return not parts.netloc or (parts.hostname == SITE and port in (None, DEFAULT_PORT[origin[0]]))


def on_site_for_someone(target: str, origin: tuple[str, str, int | None]) -> bool:
    """True when a browser or urlsplit keeps ``target`` on the site."""
    return _url_origin(target, origin) == origin or python_reads_on_site(target, origin)


def judge_app() -> Erlen:
    app = Erlen(__name__)

    @app.get("/dir/page")
    def page() -> Any:
        target = request.args["next"]
        return {
            "safe": is_safe_url(target),
            "location": redirect(target).headers["Location"],
            "login": redirect(target if is_safe_url(target) else "/").headers["Location"],
        }

    return app


def test_the_table_is_large_and_has_no_duplicates() -> None:
    targets = [t for t, _ in HTTPS_CASES]
    assert len(targets) == len(set(targets))
    hostile = [t for t, verdict in HTTPS_CASES if verdict != SAFE]
    assert len(hostile) >= 40, len(hostile)
    assert len([t for t, verdict in HTTPS_CASES if verdict == SAFE]) >= 20
    assert {verdict for _, verdict in HTTPS_CASES + HTTP_CASES} == {SAFE, UNSAFE, REFUSED}


@pytest.mark.parametrize(("base", "cases"), TABLES, ids=["https", "http"])
def test_verdicts_through_a_request(protocol: str, base: str, cases: list[Any]) -> None:
    client = judge_app().test_client(asgi=(protocol == "asgi"))
    origin = origin_of(base)
    wrong = []
    for target, verdict in cases:
        r = client.get("/dir/page", query_string={"q": "1", "next": target}, base_url=base)
        assert r.status_code == 200, (target, r.status_code)
        answer = r.json
        if answer["safe"] != (verdict == SAFE):
            wrong.append((target, verdict, answer["safe"]))
        # What a login view sends: always somewhere on the site.
        assert _url_origin(answer["login"], origin) == origin, (target, answer["login"])
    assert wrong == []


@pytest.mark.parametrize(("base", "cases"), TABLES, ids=["https", "http"])
def test_resolver_agrees_with_the_verdicts(base: str, cases: list[Any]) -> None:
    origin = origin_of(base)
    for target, verdict in cases:
        resolved = _url_origin(target, origin)
        if verdict == SAFE:
            assert resolved == origin, target
        elif verdict == UNSAFE:
            assert resolved != origin, target


@pytest.mark.parametrize(("base", "cases"), TABLES, ids=["https", "http"])
def test_redirect_never_moves_a_target_off_the_site(base: str, cases: list[Any]) -> None:
    """``redirect()`` may percent-encode a target, never send one that a browser or urlsplit
    reads as on the site elsewhere (Werkzeug sends "//evil" for "////evil", "https:///x"
    for "https:x", "https://a%5C@b" for "https://a\\@b")."""
    origin = origin_of(base)
    app = judge_app()
    with app.test_request_context(PAGE, base_url=base):
        for target, verdict in cases:
            location = redirect(target).headers["Location"]
            if on_site_for_someone(target, origin):
                assert stays_or_breaks(location, origin), (target, location)
            if verdict == SAFE:
                assert is_safe_url(location), (target, location)


@pytest.mark.parametrize("base", [HTTPS_BASE, HTTP_BASE])
def test_generated_targets(base: str) -> None:
    """Thousands of slash, backslash, tab and user-info mixes: nothing off-site passes."""
    origin = origin_of(base)
    app = judge_app()
    passed = 0
    with app.test_request_context(PAGE, base_url=base):
        for target in generated_targets():
            resolved = _url_origin(target, origin)
            location = redirect(target).headers["Location"]
            if on_site_for_someone(target, origin):
                assert stays_or_breaks(location, origin), (target, location)
            if is_safe_url(target):
                passed += 1
                assert resolved == origin, target
                assert is_safe_url(location), (target, location)
    assert passed > 10


@pytest.mark.parametrize(
    ("target", "origin"),
    [
        ("////evil.com", ("https", "evil.com", None)),
        ("https:evil.com", ("https", SITE, None)),
        ("http:evil.com", ("http", "evil.com", None)),
        ("https://evil.com\\@site.example", ("https", "evil.com", None)),
        ("https://SITE.example:443/", ("https", SITE, None)),
        ("https://site.example:8443/", ("https", SITE, 8443)),
        ("https://\uff53\uff49\uff54\uff45.example/", ("https", SITE, None)),  # fullwidth
        ("https://straße.example/", None),  # UTS 46 and IDNA 2003 disagree: unresolved
        ("https://site%2Eexample/", ("https", SITE, None)),
        ("https://0x7f.1/", ("https", "127.0.0.1", None)),
        ("https://2130706433/", ("https", "127.0.0.1", None)),
        ("https://0300.0250.1/", ("https", "192.168.0.1", None)),
        ("https://1.2.3.4.5/", None),
        ("https://256.1.1.1/", None),
        ("https://1.2.3.09/", None),
        ("https://foo.0x/", None),  # ends in a number, and "foo" is none
        ("https://foo.0xg/", ("https", "foo.0xg", None)),
        ("https://[::1]:8443/", ("https", "[::1]", 8443)),
        ("https://[0:0:0:0:0:ffff:1.2.3.4]/", ("https", "[::ffff:102:304]", None)),
        ("https://[1:0:0:2:0:0:0:3]/", ("https", "[1:0:0:2::3]", None)),
        ("https://[1:2:3:4:5:6:7:8]/", ("https", "[1:2:3:4:5:6:7:8]", None)),
        ("https://[::1%25eth0]/", None),
        ("https://a b/", None),
        ("https://@/", None),
        ("https:///", None),
        ("https://site.example:65536/", None),
        ("javascript:alert(1)", None),
    ],
)
def test_resolver_details(target: str, origin: Any) -> None:
    assert _url_origin(target, ("https", SITE, None)) == origin


def test_without_a_request_only_relative_targets_pass() -> None:
    for good in ("/account", "posts?x=1", "#top"):
        assert is_safe_url(good), good
    for bad in ("https://site.example/", "////evil.com", "//evil.com", "javascript:x", None, ""):
        assert not is_safe_url(bad), bad


def test_a_request_without_a_valid_host_accepts_relative_targets_only() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/", headers={"Host": "bad host"}):
        assert is_safe_url("/account")
        assert not is_safe_url("http://bad host/")
        assert not is_safe_url("http://localhost/")


def test_same_host_other_scheme_or_port_is_another_origin() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/", base_url="http://127.0.0.1:5000"):
        assert is_safe_url("http://127.0.0.1:5000/x")
        assert not is_safe_url("http://127.0.0.1/x")
        assert not is_safe_url("https://127.0.0.1:5000/x")
        assert is_safe_url("http://2130706433:5000/x")  # 127.0.0.1 for every client
    with app.test_request_context("/", base_url="http://[::1]:5000"):
        assert is_safe_url("http://[::1]:5000/x")
        assert is_safe_url("http://[0::1]:5000/x")
        assert not is_safe_url("http://[::2]:5000/x")


def test_login_required_never_puts_an_off_site_next(protocol: str) -> None:
    app = Erlen(__name__)
    app.secret_key = "test secret"
    manager = LoginManager(app)
    manager.login_view = "login"

    @manager.user_loader
    def load(user_id: str) -> None:
        return None

    @app.get("/login")
    def login() -> str:
        return "log in"

    @app.get("/<path:rest>")
    @login_required
    def anything(rest: str) -> str:
        return rest

    client = app.test_client(asgi=(protocol == "asgi"))
    for path, expected in (
        ("/account", "/account"),
        ("/a/b?x=1", "/a/b?x=1"),
        ("/%2F%2Fevil.com/x", "/evil.com/x"),
        ("/%2F%5Cevil.com", "/evil.com"),
        ("/%5C%5Cevil.com", "/evil.com"),
        ("/x%09y", None),
    ):
        r = client.get(path)
        assert r.status_code == 302, path
        query = parse_qs(urlsplit(r.headers["Location"]).query)
        assert query.get("next") == ([expected] if expected else None), (path, query)
