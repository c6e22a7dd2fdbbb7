"""CSRF protection (erlen.contrib.csrf), through both doors."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from erlen import Blueprint, Erlen, render_template_string, request, session, stream_request_body
from erlen.contrib import csrf as csrf_module
from erlen.contrib.csrf import CSRFError, CSRFProtect, generate_csrf, validate_csrf

FORM = (
    '<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}"></form>'
)


def make_app() -> tuple[Erlen, CSRFProtect]:
    app = Erlen(__name__)
    app.secret_key = "csrf secret"
    csrf = CSRFProtect(app)

    @app.route("/form", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def form() -> str:
        if request.method == "GET":
            return render_template_string(FORM)
        return f"done {request.method}"

    @app.route("/async", methods=["GET", "POST"])
    async def async_form() -> str:
        if request.method == "GET":
            return render_template_string(FORM)
        return "async done"

    @app.route("/json", methods=["POST"])
    def json_view() -> Any:
        return {"got": request.get_json()}

    @app.route("/webhook", methods=["POST"])
    @csrf.exempt
    def webhook() -> str:
        return "hooked"

    @app.route("/by-name", methods=["POST"])
    def by_name() -> str:
        return "named"

    csrf.exempt("by_name")
    return app, csrf


def client_for(app: Erlen, protocol: str, **kwargs: Any) -> Any:
    return app.test_client(asgi=(protocol == "asgi"), **kwargs)


def token_from(client: Any, path: str = "/form", **kwargs: Any) -> str:
    page = client.get(path, **kwargs).text
    match = re.search(r'value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_form_with_token_passes(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    token = token_from(client)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r = client.open("/form", method=method, data={"csrf_token": token})
        assert r.status_code == 200 and r.text == f"done {method}"
    assert client.post("/async", data={"csrf_token": token_from(client, "/async")}).text == (
        "async done"
    )


def test_safe_methods_are_not_checked(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    assert client.get("/form").status_code == 200
    assert client.head("/form").status_code == 200
    assert client.options("/form").status_code == 200


def check_400(r: Any, message: str) -> None:
    assert r.status_code == 400
    assert message in r.text


def test_missing_token(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    token_from(client)  # the session has a secret
    check_400(client.post("/form"), "The CSRF token is missing.")
    check_400(client.post("/form", data={"other": "x"}), "The CSRF token is missing.")
    check_400(client.post("/async", data={"csrf_token": ""}), "The CSRF token is missing.")
    check_400(client.delete("/form"), "The CSRF token is missing.")


def test_token_without_a_session(protocol: str) -> None:
    app, _ = make_app()
    token = token_from(client_for(app, protocol))
    fresh = client_for(app, protocol)  # a cross-site request from a browser without the cookie
    check_400(fresh.post("/form", data={"csrf_token": token}), "The CSRF session token is missing.")


@pytest.mark.parametrize(
    "forged",
    [
        "garbage",
        "a.b.c",
        "x" * 3000,
        "äö",
        "InRva2VuIg.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "..",
    ],
)
def test_forged_token(protocol: str, forged: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    token_from(client)
    check_400(client.post("/form", data={"csrf_token": forged}), "The CSRF token is invalid.")
    check_400(
        client.post("/json", json={}, headers={"X-CSRFToken": forged}), "The CSRF token is invalid."
    )


def test_tampered_and_foreign_tokens(protocol: str) -> None:
    app, _ = make_app()
    victim, attacker = client_for(app, protocol), client_for(app, protocol)
    token = token_from(victim)
    head, _, sig = token.rpartition(".")
    check_400(victim.post("/form", data={"csrf_token": f"{head}.{sig[::-1]}"}), "invalid")
    # The attacker's own valid token does not match the victim's session.
    attackers = token_from(attacker)
    check_400(victim.post("/form", data={"csrf_token": attackers}), "The CSRF tokens do not match.")
    other_app, _ = make_app()
    other_app.secret_key = "other secret"
    check_400(
        victim.post("/form", data={"csrf_token": token_from(client_for(other_app, protocol))}),
        "The CSRF token is invalid.",
    )


def test_expired_token(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    token = token_from(client)
    now = time.time()
    monkeypatch.setattr(csrf_module, "_now", lambda: now + 3601)
    check_400(client.post("/form", data={"csrf_token": token}), "The CSRF token has expired.")
    app.config["CSRF_TIME_LIMIT"] = None
    assert client.post("/form", data={"csrf_token": token}).status_code == 200


def test_header_tokens_and_json(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    token = token_from(client)
    for header in ("X-CSRFToken", "X-CSRF-Token"):
        r = client.post("/json", json={"a": 1}, headers={header: token})
        assert r.json == {"got": {"a": 1}}
    check_400(client.post("/json", json={"a": 1}), "The CSRF token is missing.")


def test_tokens_per_request_and_session(protocol: str) -> None:
    app, _ = make_app()

    @app.route("/two")
    def two() -> str:
        return render_template_string("{{ csrf_token() }} {{ csrf_token() }}")

    client = client_for(app, protocol)
    a, b = client.get("/two").text.split()
    assert a == b  # one token per request
    first = token_from(client)
    second = token_from(client)
    for token in (first, second):  # every token of the session stays valid
        assert client.post("/form", data={"csrf_token": token}).status_code == 200


def test_exemptions(protocol: str) -> None:
    app, csrf = make_app()
    bp = Blueprint("hooks", __name__, url_prefix="/hooks")

    @bp.route("/in", methods=["POST"])
    def incoming() -> str:
        return "in"

    csrf.exempt(bp)
    app.register_blueprint(bp)
    client = client_for(app, protocol)
    assert client.post("/webhook").text == "hooked"
    assert client.post("/by-name").text == "named"
    assert client.post("/hooks/in").text == "in"
    assert client.post("/missing").status_code == 404  # a routing error stays one
    assert client.put("/webhook").status_code == 405


def test_bearer_requests_without_cookies_are_exempt(protocol: str) -> None:
    app, _ = make_app()
    api = client_for(app, protocol, use_cookies=False)
    headers = {"Authorization": "Bearer some-token"}
    assert api.post("/json", json={"a": 1}, headers=headers).json == {"got": {"a": 1}}
    # With a session cookie the request may be authenticated by the cookie: checked.
    r = api.post("/json", json={}, headers={**headers, "Cookie": "session=x"})
    check_400(r, "CSRF")
    r = api.post("/json", json={}, headers={**headers, "Cookie": "remember_token=x"})
    app.config["REMEMBER_COOKIE_NAME"] = "remember_token"
    r = api.post("/json", json={}, headers={**headers, "Cookie": "remember_token=x"})
    check_400(r, "CSRF")
    check_400(api.post("/json", json={}, headers={"Authorization": "Basic YTpi"}), "CSRF")
    app.config["CSRF_EXEMPT_BEARER"] = False
    check_400(api.post("/json", json={}, headers=headers), "The CSRF token is missing.")


def test_ssl_strict_referrer(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    https = "https://shop.example"
    token = token_from(client, base_url=https)
    data = {"csrf_token": token}
    check_400(client.post("/form", data=data, base_url=https), "The referrer header is missing.")
    for referrer in ("https://evil.example/form", "http://shop.example/form",
                     "https://shop.example:8443/", "garbage",
                     # malformed: a port out of range, an unclosed IPv6 host (a 400, not a 500)
                     "https://shop.example:99999/form", "https://[::1/form"):  # fmt: skip
        r = client.post("/form", data=data, base_url=https, headers={"Referer": referrer})
        check_400(r, "The referrer does not match the host.")
    r = client.post("/form", data=data, base_url=https, headers={"Referer": f"{https}/form"})
    assert r.status_code == 200
    app.config["CSRF_TRUSTED_ORIGINS"] = ["https://admin.example"]
    r = client.post(
        "/form", data=data, base_url=https, headers={"Referer": "https://admin.example/x"}
    )
    assert r.status_code == 200
    app.config["CSRF_SSL_STRICT"] = False
    assert client.post("/form", data=data, base_url=https).status_code == 200


def test_disabled_and_manual(protocol: str) -> None:
    app, csrf = make_app()
    client = client_for(app, protocol)
    app.config["CSRF_ENABLED"] = False
    assert client.post("/form").status_code == 200
    app.config["CSRF_ENABLED"] = True
    app.config["CSRF_CHECK_DEFAULT"] = False

    @app.route("/manual", methods=["POST"])
    def manual() -> str:
        csrf.protect()
        return "checked"

    assert client.post("/form").status_code == 200
    check_400(client.post("/manual"), "The CSRF token is missing.")
    token = token_from(client)
    assert client.post("/manual", data={"csrf_token": token}).text == "checked"


def test_error_handler(protocol: str) -> None:
    app, _ = make_app()

    @app.errorhandler(CSRFError)
    def on_csrf(e: CSRFError) -> Any:
        return {"error": "csrf", "reason": e.description}, 400

    r = client_for(app, protocol).post("/form")
    assert r.status_code == 400
    assert r.json == {"error": "csrf", "reason": "The CSRF token is missing."}


def test_login_rotates_the_token(protocol: str) -> None:
    from erlen.contrib.auth import LoginManager, UserMixin, login_user

    app, _ = make_app()
    manager = LoginManager(app)

    class U(UserMixin):
        id = 1

    manager.user_loader(lambda uid: U())

    @app.route("/login", methods=["POST"])
    def login() -> str:
        login_user(U())
        return "in"

    client = client_for(app, protocol)
    before = token_from(client)
    assert client.post("/login", data={"csrf_token": before}).text == "in"
    check_400(
        client.post("/form", data={"csrf_token": before}), "The CSRF session token is missing."
    )
    assert client.post("/form", data={"csrf_token": token_from(client)}).status_code == 200


def test_streamed_body_view_reads_header_only(protocol: str) -> None:
    app, _ = make_app()

    @app.route("/upload", methods=["POST"])
    @stream_request_body
    async def upload() -> str:
        size = 0
        async for chunk in request.iter_body():
            size += len(chunk)
        return str(size)

    client = client_for(app, protocol)
    token = token_from(client)
    r = client.post("/upload", data={"csrf_token": token})
    check_400(r, "The CSRF token is missing.")  # the form is not parsed for such a view
    r = client.post("/upload", data={"f": "x" * 10}, headers={"X-CSRFToken": token})
    assert r.status_code == 200 and int(r.text) > 10


def test_functions_in_a_request_context() -> None:
    app, _ = make_app()
    with app.test_request_context("/"):
        token = generate_csrf()
        validate_csrf(token)
        with pytest.raises(CSRFError, match="expired"):
            validate_csrf(token, time_limit=-1)
        with pytest.raises(CSRFError, match="invalid"):
            validate_csrf(token, secret_key="another")
        session["_csrf_token"] = "changed"
        with pytest.raises(CSRFError, match="do not match"):
            validate_csrf(token)
    app.config["SECRET_KEY"] = None
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="SECRET_KEY"):
        generate_csrf()
