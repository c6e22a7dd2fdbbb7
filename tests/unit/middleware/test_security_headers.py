"""Security headers (erlen.middleware.security_headers), through both doors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from erlen import Blueprint, Erlen, abort, render_template_string, session
from erlen.contrib import passwords as sec
from erlen.middleware.security_headers import SecurityHeaders, security_headers

DOCS = Path(__file__).resolve().parents[3] / "docs"


def make_client(app: Erlen, protocol: str, **kwargs: Any) -> Any:
    return app.test_client(asgi=(protocol == "asgi"), **kwargs)


@pytest.fixture
def no_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as if argon2-cffi were not installed."""
    monkeypatch.setattr(sec, "_argon2_module", False)
    monkeypatch.setattr(sec, "_argon2_hashers", {})


# -- security headers -----------------------------------------------------------------------------

STRICT = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'self'; form-action 'self';"
    " frame-ancestors 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def headers_app(**options: Any) -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "k"
    SecurityHeaders(app, **options)

    @app.route("/")
    def index() -> str:
        return "hi"

    @app.route("/async")
    async def async_index() -> str:
        return "hi"

    @app.route("/forbidden")
    def forbidden() -> str:
        abort(403)

    return app


def test_strict_default_set(protocol: str) -> None:
    client = make_client(headers_app(), protocol)
    for path in ("/", "/async", "/forbidden", "/missing"):
        r = client.get(path)
        for name, value in STRICT.items():
            assert r.headers[name] == value, (path, name)
        assert "camera=()" in r.headers["Permissions-Policy"]
        assert "geolocation=()" in r.headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in r.headers  # plain HTTP
    assert client.get("/forbidden").status_code == 403


def test_hsts_only_over_https(protocol: str) -> None:
    client = make_client(headers_app(), protocol)
    r = client.get("/", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    app = headers_app(
        strict_transport_security_max_age=600,
        strict_transport_security_include_subdomains=False,
        strict_transport_security_preload=True,
    )
    r = make_client(app, protocol).get("/", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"] == "max-age=600; preload"
    r = make_client(headers_app(strict_transport_security=False), protocol).get(
        "/", base_url="https://localhost"
    )
    assert "Strict-Transport-Security" not in r.headers


def test_options_and_config_keys(protocol: str) -> None:
    app = Erlen(__name__)
    app.config["SECURITY_FRAME_OPTIONS"] = "SAMEORIGIN"  # the app's config wins
    app.config["SECURITY_REFERRER_POLICY"] = None  # drops the header
    SecurityHeaders(
        app,
        frame_options="DENY",
        content_security_policy={"default-src": ["'self'", "cdn.example.com"], "img-src": "*"},
        permissions_policy="camera=(self)",
        cross_origin_resource_policy="same-site",
        content_type_options=False,
    )
    app.route("/")(lambda: "hi")
    r = make_client(app, protocol).get("/")
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Referrer-Policy" not in r.headers
    assert r.headers["Content-Security-Policy"] == "default-src 'self' cdn.example.com; img-src *"
    assert r.headers["Permissions-Policy"] == "camera=(self)"
    assert r.headers["Cross-Origin-Resource-Policy"] == "same-site"
    assert "X-Content-Type-Options" not in r.headers
    assert app.config["SECURITY_CONTENT_TYPE_OPTIONS"] is False


def test_report_only(protocol: str) -> None:
    app = headers_app(content_security_policy_report_only=True)
    r = make_client(app, protocol).get("/")
    assert "Content-Security-Policy" not in r.headers
    assert r.headers["Content-Security-Policy-Report-Only"].startswith("default-src 'self'")


def test_per_view_overrides_and_exemptions(protocol: str) -> None:
    app = Erlen(__name__)
    headers = SecurityHeaders(app)
    bp = Blueprint("embed", __name__, url_prefix="/embed")

    @app.route("/framed")
    @security_headers(frame_options="SAMEORIGIN", content_security_policy=None)
    def framed() -> str:
        return "hi"

    @app.route("/own")
    def own() -> tuple[str, dict[str, str]]:
        return "hi", {"X-Frame-Options": "ALLOW-FROM https://x.example"}

    @app.route("/raw")
    @headers.exempt
    async def raw() -> str:
        return "hi"

    @bp.route("/widget")
    def widget() -> str:
        return "hi"

    headers.exempt(bp)
    app.register_blueprint(bp)
    client = make_client(app, protocol)
    r = client.get("/framed")
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Content-Security-Policy" not in r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/own").headers["X-Frame-Options"] == "ALLOW-FROM https://x.example"
    for path in ("/raw", "/embed/widget"):
        r = client.get(path)
        assert r.status_code == 200
        assert not any(name in r.headers for name in STRICT), path


def test_unknown_option_is_refused() -> None:
    with pytest.raises(TypeError, match="frame_option"):
        SecurityHeaders(frame_option="DENY")
    with pytest.raises(TypeError, match="bogus"):
        security_headers(bogus=1)


def test_csp_nonce(protocol: str) -> None:
    app = headers_app(content_security_policy_nonce_in=["script-src"])

    @app.route("/page")
    def page() -> str:
        return render_template_string('<script nonce="{{ csp_nonce() }}">1</script>')

    client = make_client(app, protocol)
    r1, r2 = client.get("/page"), client.get("/page")
    nonce = re.search(r'nonce="([^"]+)"', r1.text).group(1)  # type: ignore[union-attr]
    assert f"script-src 'self' 'nonce-{nonce}'" in r1.headers["Content-Security-Policy"]
    assert nonce not in r2.text
    # A page that uses no nonce keeps the cached policy.
    assert "nonce" not in client.get("/").headers["Content-Security-Policy"]


def test_force_https(protocol: str) -> None:
    app = headers_app(force_https=True)

    @app.route("/submit", methods=["POST"])
    def submit() -> str:
        return "ok"

    @app.route("/plain")
    @security_headers(force_https=False)
    def plain() -> str:
        return "plain"

    client = make_client(app, protocol)
    assert client.get("/plain").status_code == 200
    r = client.get("/?a=1")
    assert r.status_code == 301
    assert r.headers["Location"] == "https://localhost/?a=1"
    assert client.post("/submit").status_code == 308
    assert client.get("/", base_url="https://localhost").status_code == 200
    # No valid Host, no redirect: "https:///evil.example/" would name the host evil.example.
    r = client.get("/evil.example/", headers={"Host": "bad host"})
    assert r.status_code == 404 and "Location" not in r.headers
    app.debug = True  # the development server speaks plain HTTP
    assert client.get("/").status_code == 200


def test_secure_cookies(protocol: str) -> None:
    app = headers_app(secure_cookies=True)

    @app.route("/set")
    def set_session() -> str:
        session["a"] = 1
        return "ok"

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    cookie = (
        make_client(app, protocol).get("/set", base_url="https://localhost").headers["Set-Cookie"]
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    app = Erlen(__name__)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    SecurityHeaders(app, secure_cookies=True)
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"  # an explicit choice stays
