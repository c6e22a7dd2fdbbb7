"""Passwords, security headers and CORS (erlen.security), through both doors."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug import security as wz

from erlen import Blueprint, Erlen, abort, render_template_string, session
from erlen import security as sec
from erlen.security import (
    CORS,
    SecurityHeaders,
    check_password_hash,
    cross_origin,
    generate_password_hash,
    needs_rehash,
    security_headers,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


def make_client(app: Erlen, protocol: str, **kwargs: Any) -> Any:
    return app.test_client(asgi=(protocol == "asgi"), **kwargs)


@pytest.fixture
def no_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as if argon2-cffi were not installed."""
    monkeypatch.setattr(sec, "_argon2_module", False)
    monkeypatch.setattr(sec, "_argon2_hashers", {})


# -- passwords ------------------------------------------------------------------------------------


def test_default_hash_is_argon2id_when_available() -> None:
    pytest.importorskip("argon2")
    pwhash = generate_password_hash("correct horse")
    assert pwhash.startswith("argon2$argon2id$v=19$")
    assert check_password_hash(pwhash, "correct horse")
    assert not check_password_hash(pwhash, "correct horsE")
    assert not check_password_hash(pwhash, "")
    assert not needs_rehash(pwhash)


def test_default_hash_is_scrypt_without_argon2(no_argon2: None) -> None:
    pwhash = generate_password_hash("pw")
    assert pwhash.startswith("scrypt:32768:8:1$")
    assert check_password_hash(pwhash, "pw")
    assert not check_password_hash(pwhash, "wp")
    assert not needs_rehash(pwhash)
    assert sec.default_password_method() == "scrypt"


def test_argon2_hash_without_argon2_fails_loudly(no_argon2: None) -> None:
    # Every login would silently fail otherwise: this is a deployment error.
    with pytest.raises(RuntimeError, match="argon2-cffi"):
        check_password_hash("argon2$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "pw")
    with pytest.raises(RuntimeError, match="argon2-cffi"):
        generate_password_hash("pw", method="argon2")


def test_salts_differ_and_salt_length_is_used() -> None:
    assert generate_password_hash("pw", "scrypt") != generate_password_hash("pw", "scrypt")
    salt = generate_password_hash("pw", "scrypt", salt_length=30).split("$")[1]
    assert len(salt) == 30


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2", "pbkdf2:sha256:1000", "scrypt:16384:8:1"])
def test_werkzeug_methods_and_old_hashes_verify(method: str) -> None:
    ours = generate_password_hash("s3cret é", method)
    theirs = wz.generate_password_hash("s3cret é", method)
    for pwhash in (ours, theirs):
        assert check_password_hash(pwhash, "s3cret é")
        assert not check_password_hash(pwhash, "s3cret e")


def test_foreign_argon2_formats_verify() -> None:
    argon2 = pytest.importorskip("argon2")
    bare = argon2.PasswordHasher().hash("pw")  # as argon2-cffi or passlib store it
    assert check_password_hash(bare, "pw")
    assert not check_password_hash(bare, "nope")
    assert check_password_hash("argon2" + bare, "pw")  # Django's layout, which is ours


@pytest.mark.parametrize(
    "pwhash",
    [
        "",
        "$",
        "plain",
        "x$y$z",
        "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
        "scrypt:a:b:c$salt$hash",
        "scrypt:3:8:1$salt$hash",  # n must be a power of two
        "scrypt:1:2$salt$hash",
        "pbkdf2:nohash:1000$salt$hash",
        "pbkdf2:sha256:abc$salt$hash",
        "pbkdf2:sha256:1000:extra$salt$hash",
        "argon2$argon2id$garbage",
        "$argon2id$v=19$m=65536,t=3,p=4$!!$!!",
        "argon2$argon2id$v=19$m=x,t=3,p=4$c2FsdA$aGFzaA",
        None,
        12345,
        b"scrypt:32768:8:1$salt$hash",
    ],
)
def test_malformed_hash_is_false_not_an_error(pwhash: Any) -> None:
    pytest.importorskip("argon2")
    assert check_password_hash(pwhash, "pw") is False
    assert needs_rehash(pwhash) is True


def test_password_that_cannot_be_encoded_is_false() -> None:
    pwhash = generate_password_hash("pw", "scrypt")
    assert check_password_hash(pwhash, "\udcff") is False  # a lone surrogate
    assert check_password_hash(pwhash, None) is False  # type: ignore[arg-type]


def test_generate_refuses_non_str() -> None:
    with pytest.raises(TypeError):
        generate_password_hash(b"pw")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        generate_password_hash("pw", method="md5")


def test_needs_rehash() -> None:
    pytest.importorskip("argon2")
    scrypt = generate_password_hash("pw", "scrypt")
    weak_scrypt = generate_password_hash("pw", "scrypt:16384:8:1")
    pbkdf2 = generate_password_hash("pw", "pbkdf2")
    few_rounds = generate_password_hash("pw", "pbkdf2:sha256:1000")
    assert needs_rehash(scrypt)  # the default is argon2id here
    assert not needs_rehash(scrypt, "scrypt")
    assert needs_rehash(weak_scrypt, "scrypt")
    assert needs_rehash(pbkdf2, "scrypt")
    assert not needs_rehash(pbkdf2, "pbkdf2")
    assert needs_rehash(few_rounds, "pbkdf2")
    assert needs_rehash(pbkdf2, "pbkdf2:sha512")
    assert needs_rehash(generate_password_hash("pw"), "scrypt")
    cheap = __import__("argon2").PasswordHasher(time_cost=1, memory_cost=8192).hash("pw")
    assert needs_rehash(cheap)
    assert needs_rehash("scrypt:a:b:c$s$h", "scrypt")


def test_rehash_on_login_flow() -> None:
    pytest.importorskip("argon2")
    stored = wz.generate_password_hash("pw", "pbkdf2")
    assert check_password_hash(stored, "pw")
    if needs_rehash(stored):
        stored = generate_password_hash("pw")
    assert stored.startswith("argon2$")
    assert check_password_hash(stored, "pw")


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


# -- CORS -----------------------------------------------------------------------------------------


def cors_app(**options: Any) -> Erlen:
    app = Erlen(__name__)
    CORS(app, **options)

    @app.route("/api/items", methods=["GET", "POST", "DELETE"])
    def items() -> dict[str, Any]:
        return {"items": []}

    @app.route("/api/async")
    async def async_items() -> dict[str, Any]:
        return {"items": []}

    @app.route("/api/secret")
    def secret() -> str:
        abort(401)

    @app.route("/page")
    def page() -> str:
        return "page"

    return app


def preflight(client: Any, path: str, origin: str, method: str = "POST", **headers: str) -> Any:
    return client.options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method, **headers},
    )


def test_preflight_answered(protocol: str) -> None:
    app = cors_app(origins=["https://app.example"], max_age=600)
    client = make_client(app, protocol)
    r = preflight(
        client, "/api/secret", "https://app.example", "DELETE",
        **{"Access-Control-Request-Headers": "Content-Type, X-Token"},
    )  # fmt: skip
    assert r.status_code == 204
    assert r.data == b""
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "DELETE" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Token"
    assert r.headers["Access-Control-Max-Age"] == "600"
    vary = {v.strip() for v in r.headers["Vary"].split(",")}
    assert {"Origin", "Access-Control-Request-Method"} <= vary
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_preflight_refused(protocol: str) -> None:
    app = cors_app(origins=["https://app.example"], methods=["GET"], allow_headers=["X-Ok"])
    client = make_client(app, protocol)
    refused = [
        preflight(client, "/api/items", "https://evil.example", "GET"),
        preflight(client, "/api/items", "https://app.example", "DELETE"),
        preflight(client, "/api/items", "https://app.example", "GET",
                  **{"Access-Control-Request-Headers": "X-Ok, X-Other"}),
    ]  # fmt: skip
    for r in refused:
        assert "Access-Control-Allow-Origin" not in r.headers
        assert r.status_code == 200  # the ordinary OPTIONS answer
    ok = preflight(client, "/api/items", "https://app.example", "GET",
                   **{"Access-Control-Request-Headers": "x-ok"})  # fmt: skip
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Headers"] == "x-ok"


def test_simple_requests(protocol: str) -> None:
    client = make_client(cors_app(expose_headers=["X-Total"]), protocol)
    r = client.get("/api/items", headers={"Origin": "https://any.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Expose-Headers"] == "X-Total"
    assert "Vary" not in r.headers  # the answer does not depend on the origin
    assert "Access-Control-Allow-Origin" not in client.get("/api/items").headers

    client = make_client(cors_app(origins=["https://app.example"]), protocol)
    for path in ("/api/items", "/api/async", "/api/secret"):
        r = client.get(path, headers={"Origin": "https://app.example"})
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example", path
        assert r.headers["Vary"] == "Origin"
    r = client.get("/api/items", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers["Vary"] == "Origin"


def test_credentials(protocol: str) -> None:
    app = cors_app(origins=["https://app.example", re.compile(r"https://\w+\.app\.example")],
                   supports_credentials=True)  # fmt: skip
    client = make_client(app, protocol)
    r = client.get("/api/items", headers={"Origin": "https://eu.app.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://eu.app.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    r = preflight(client, "/api/items", "https://app.example")
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    r = client.get("/api/items", headers={"Origin": "https://x.eu.app.example.evil"})
    assert "Access-Control-Allow-Origin" not in r.headers
    with pytest.raises(ValueError, match="explicit list of origins"):
        cors_app(supports_credentials=True)
    with pytest.raises(ValueError):
        cross_origin(origins="*", supports_credentials=True)


def test_resources(protocol: str) -> None:
    app = cors_app(
        origins=["https://app.example"],
        resources={r"/api/.*": {}, r"/api/async": {"origins": "*"}},
    )
    client = make_client(app, protocol)
    headers = {"Origin": "https://other.example"}
    assert client.get("/api/async", headers=headers).headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/api/items", headers=headers).headers
    r = client.get("/page", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in r.headers and "Vary" not in r.headers
    assert preflight(client, "/page", "https://app.example").status_code == 200


def test_config_keys(protocol: str) -> None:
    app = Erlen(__name__)
    app.config["CORS_ORIGINS"] = ["https://cfg.example"]
    CORS(app, origins=["https://arg.example"])
    app.route("/")(lambda: "hi")
    client = make_client(app, protocol)
    assert (
        client.get("/", headers={"Origin": "https://cfg.example"}).headers[
            "Access-Control-Allow-Origin"
        ]
        == "https://cfg.example"
    )
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/", headers={"Origin": "https://arg.example"}).headers
    )


def test_cross_origin_standalone(protocol: str) -> None:
    app = Erlen(__name__)

    @app.route("/open", methods=["GET", "PUT"])
    @cross_origin(origins=["https://app.example"], max_age=60)
    def open_view() -> str:
        return "open"

    @app.route("/async")
    @cross_origin()
    async def async_view() -> str:
        return "async"

    @app.route("/closed")
    def closed() -> str:
        return "closed"

    client = make_client(app, protocol)
    r = preflight(client, "/open", "https://app.example", "PUT")
    assert r.status_code == 204 and r.headers["Access-Control-Max-Age"] == "60"
    r = client.get("/open", headers={"Origin": "https://app.example"})
    assert r.text == "open" and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    r = client.get("/async", headers={"Origin": "https://x.example"})
    assert r.text == "async" and r.headers["Access-Control-Allow-Origin"] == "*"
    r = client.options("/open")  # a plain OPTIONS request still gets the methods
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "PUT", "OPTIONS"}
    assert (
        "Access-Control-Allow-Origin"
        not in preflight(client, "/open", "https://evil.example").headers
    )
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/closed", headers={"Origin": "https://app.example"}).headers
    )


def test_cross_origin_with_extension(protocol: str) -> None:
    app = Erlen(__name__)
    CORS(app, origins=["https://app.example"], resources=[r"/api/.*"])

    @app.route("/public")
    @cross_origin(origins="*")
    def public() -> str:
        abort(404)

    client = make_client(app, protocol)
    r = client.get("/public", headers={"Origin": "https://x.example"})
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "*"  # error responses too
    assert preflight(client, "/public", "https://x.example", "GET").status_code == 204
    with pytest.raises(TypeError):
        cross_origin(origin="*")


def test_view_policy_inherits_the_apps(protocol: str) -> None:
    app = Erlen(__name__)
    CORS(app, origins=["https://app.example"], supports_credentials=True)

    @app.route("/feed")
    @cross_origin(origins="*")  # public: the app's credentials are dropped, not an error
    def feed() -> str:
        return "feed"

    @app.route("/mine")
    @cross_origin(expose_headers=["X-Mine"])
    def mine() -> str:
        return "mine"

    client = make_client(app, protocol)
    r = client.get("/feed", headers={"Origin": "https://x.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    r = client.get("/mine", headers={"Origin": "https://app.example"})
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Expose-Headers"] == "X-Mine"


def test_preflight_skips_views_and_login(protocol: str) -> None:
    from erlen.auth import LoginManager, login_required

    app = Erlen(__name__)
    app.secret_key = "k"
    LoginManager(app)
    CORS(app, origins=["https://app.example"], supports_credentials=True)
    calls = []

    @app.route("/me", methods=["POST"])
    @login_required
    def me() -> str:
        calls.append(1)
        return "me"

    client = make_client(app, protocol)
    r = preflight(client, "/me", "https://app.example")
    assert r.status_code == 204 and not calls
    r = client.post("/me", headers={"Origin": "https://app.example"})
    assert r.status_code == 401  # no login view: 401, still readable by the allowed origin
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"


# -- docs/security.md runs as written ---------------------------------------------------------------


def run_markdown(path: Path) -> int:
    """Run a page's ```python blocks and doctest its ```pycon blocks, in page order."""
    text = path.read_text("utf8")
    globs: dict[str, Any] = {"__name__": "docs_example"}
    attempted = 0
    for language, body in re.findall(r"^```(python|pycon)\n(.*?)^```$", text, re.S | re.M):
        if language == "python":
            exec(compile(body, str(path), "exec"), globs)
            continue
        test = doctest.DocTestParser().get_doctest(body, globs, path.name, str(path), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, clear_globs=False)
        globs.update(test.globs)
        failed, tried = runner.summarize(verbose=False)
        assert failed == 0, f"{path.name}: {failed} example(s) failed (see captured stdout)"
        attempted += tried
    return attempted


def test_security_doc_runs() -> None:
    pytest.importorskip("argon2")
    assert run_markdown(DOCS / "security.md") >= 10
