"""Login sessions, remember-me cookies and API tokens (erlen.contrib.auth), through both doors."""

from __future__ import annotations

import base64
import doctest
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from erlen import Blueprint, Erlen, g, get_flashed_messages, jsonify, request, session
from erlen.contrib import auth as auth_module
from erlen.contrib.auth import (
    AnonymousUserMixin,
    AuthenticationRequired,
    LoginManager,
    MemoryRevocationStore,
    RedisRevocationStore,
    TokenAuth,
    UserMixin,
    auth_required,
    confirm_login,
    current_user,
    fresh_login_required,
    is_safe_url,
    login_fresh,
    login_required,
    login_url,
    login_user,
    logout_user,
    user_logged_in,
    user_logged_out,
)
from erlen.contrib.passwords import check_password_hash, generate_password_hash
from support import run_markdown

DOCS = Path(__file__).resolve().parents[3] / "docs"
FAST = "pbkdf2:sha256:1000"  # cheap hashes keep these tests quick


class User(UserMixin):
    def __init__(self, id: int, name: str, password: str, active: bool = True) -> None:
        self.id = id
        self.name = name
        self.pwhash = generate_password_hash(password, FAST)
        self.active = active

    @property
    def is_active(self) -> bool:
        return self.active


class TokenUser(User):
    """A user with a per-user session token (rotate it to end every session)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_token = "t1"


def make_app(user_class: type[User] = User, async_loader: bool = False) -> tuple[Erlen, Any]:
    app = Erlen(__name__)
    app.secret_key = "test secret"
    manager = LoginManager(app)
    manager.login_view = "login"
    users = {
        "1": user_class(1, "alice", "wonderland"),
        "2": user_class(2, "bob", "builder"),
        "3": user_class(3, "zed", "inactive", active=False),
    }
    by_name = {u.name: u for u in users.values()}

    if async_loader:

        @manager.user_loader
        async def load_async(user_id: str) -> User | None:
            return users.get(user_id)

    else:
        manager.user_loader(users.get)

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            return "login page: " + ",".join(get_flashed_messages())
        user = by_name.get(request.form.get("name", ""))
        if user is None or not check_password_hash(user.pwhash, request.form.get("password", "")):
            return "bad credentials", 401
        if not login_user(user, remember=bool(request.form.get("remember"))):
            return "inactive", 403
        return f"welcome {current_user.name}"

    @app.route("/logout", methods=["POST"])
    def logout() -> str:
        logout_user()
        return f"bye, now {current_user.is_anonymous}"

    @app.route("/private")
    @login_required
    def private() -> str:
        return f"private {current_user.name} fresh={login_fresh()}"

    @app.route("/async-private")
    @login_required
    async def async_private() -> str:
        return f"async {current_user.name}"

    @app.route("/settings")
    @fresh_login_required
    def settings() -> str:
        return "settings"

    @app.route("/whoami")
    def whoami() -> dict[str, Any]:
        return {
            "anonymous": current_user.is_anonymous,
            "id": current_user.get_id(),
            "keys": sorted(session.keys()),
        }

    @app.route("/plant")
    def plant() -> str:
        session["planted"] = "by attacker"
        return "planted"

    return app, users


def client_for(app: Erlen, protocol: str) -> Any:
    return app.test_client(asgi=(protocol == "asgi"))


def log_in(client: Any, name: str = "alice", password: str = "wonderland", **extra: str) -> Any:
    return client.post("/login", data={"name": name, "password": password, **extra})


def session_cookie(client: Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return str(cookie.value)


# -- logging in and out --------------------------------------------------------------------------


def test_anonymous_page_redirects_to_login(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    for path in ("/private", "/async-private"):
        r = client.get(path + "?tab=2")
        assert r.status_code == 302
        assert r.headers["Location"] == f"/login?next={path.replace('/', '%2F')}%3Ftab%3D2"
    assert client.get("/login").text == "login page: " + ",".join(
        ["Please log in to access this page."] * 2
    )
    assert client.get("/whoami").json == {"anonymous": True, "id": None, "keys": []}


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json"},
        {"X-Requested-With": "XMLHttpRequest"},
        {"Content-Type": "application/json"},
        {"Authorization": "Bearer not-a-token"},
    ],
)
def test_anonymous_api_request_gets_401_json(protocol: str, headers: dict[str, str]) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    for path in ("/private", "/async-private"):
        r = client.get(path, headers=headers)
        assert r.status_code == 401
        assert r.json == {"error": "unauthorized", "message": "Authentication required."}
        assert "Location" not in r.headers
    # A browser's Accept header still gets the redirect.
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/private", headers={"Accept": accept}).status_code == 302


def test_api_blueprint_and_blueprint_login_views(protocol: str) -> None:
    app, _ = make_app()
    manager: LoginManager = app.login_manager  # type: ignore[attr-defined]
    api = Blueprint("api", __name__, url_prefix="/api")
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @api.route("/me")
    @login_required
    def me() -> str:
        return "me"

    @admin.route("/login")
    def admin_login() -> str:
        return "admin login"

    @admin.route("/")
    @login_required
    def dashboard() -> str:
        return "dash"

    app.register_blueprint(api)
    app.register_blueprint(admin)
    manager.api_blueprints.add("api")
    manager.blueprint_login_views["admin"] = "admin.admin_login"
    client = client_for(app, protocol)
    assert client.get("/api/me").status_code == 401
    assert client.get("/admin/").headers["Location"] == "/admin/login?next=%2Fadmin%2F"


def test_no_login_view_gives_401(protocol: str) -> None:
    app, _ = make_app()
    app.login_manager.login_view = None  # type: ignore[attr-defined]
    r = client_for(app, protocol).get("/private")
    assert r.status_code == 401
    assert r.json["error"] == "unauthorized"


@pytest.mark.parametrize("is_async", [False, True])
def test_unauthorized_handler(protocol: str, is_async: bool) -> None:
    app, _ = make_app()
    manager: LoginManager = app.login_manager  # type: ignore[attr-defined]
    if is_async:

        @manager.unauthorized_handler
        async def handler_async() -> Any:
            return "go away (async)", 403

    else:
        manager.unauthorized_handler(lambda: ("go away", 403))
    client = client_for(app, protocol)
    for path in ("/private", "/async-private"):
        r = client.get(path)
        assert r.status_code == 403 and r.text.startswith("go away")


def test_login_and_wrong_password(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    assert log_in(client, password="wrong").status_code == 401
    assert log_in(client, name="nobody").status_code == 401
    assert log_in(client, password="").status_code == 401
    assert client.get("/private").status_code == 302
    r = log_in(client)
    assert r.text == "welcome alice"
    assert client.get("/private").text == "private alice fresh=True"
    assert client.get("/async-private").text == "async alice"
    assert client.get("/whoami").json["id"] == "1"
    r = client.post("/logout")
    assert r.text == "bye, now True"
    assert client.get("/private").status_code == 302


def test_inactive_user(protocol: str) -> None:
    app, users = make_app()
    client = client_for(app, protocol)
    assert log_in(client, "zed", "inactive").status_code == 403
    assert client.get("/whoami").json["anonymous"] is True

    @app.route("/force")
    def force() -> str:
        return str(login_user(users["3"], force=True))

    assert client.get("/force").text == "True"
    assert client.get("/whoami").json["id"] == "3"


def test_async_user_loader(protocol: str) -> None:
    app, _ = make_app(async_loader=True)
    client = client_for(app, protocol)
    log_in(client)
    assert client.get("/private").text == "private alice fresh=True"
    assert client.get("/async-private").text == "async alice"


def test_current_user_in_templates_and_outside_requests(protocol: str) -> None:
    from erlen import render_template_string

    app, _ = make_app()

    @app.route("/hello")
    def hello() -> str:
        return render_template_string(
            "{% if current_user.is_authenticated %}hi {{ current_user.name }}{% else %}anon{% endif %}"
        )

    client = client_for(app, protocol)
    assert client.get("/hello").text == "anon"
    log_in(client)
    assert client.get("/hello").text == "hi alice"
    assert not current_user
    with app.app_context():
        assert current_user._get_current_object() is None


def test_signals(protocol: str) -> None:
    app, _ = make_app()
    seen: list[tuple[str, str]] = []

    def on_in(sender: Any, user: Any, **kw: Any) -> None:
        seen.append(("in", user.name))

    def on_out(sender: Any, user: Any, **kw: Any) -> None:
        seen.append(("out", user.name))

    with user_logged_in.connected_to(on_in, app), user_logged_out.connected_to(on_out, app):
        client = client_for(app, protocol)
        log_in(client)
        client.post("/logout")
    assert seen == [("in", "alice"), ("out", "alice")]


def test_login_disabled_and_options(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    assert client.open("/private", method="OPTIONS").status_code == 200
    app.config["LOGIN_DISABLED"] = True
    r = client.get("/whoami")
    assert r.status_code == 200


# -- session fixation and replay ---------------------------------------------------------------------


def test_login_clears_the_session_and_sets_a_new_session_id(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    client.get("/plant")
    before = session_cookie(client)
    assert client.get("/whoami").json["keys"] == ["planted"]
    log_in(client)
    keys = client.get("/whoami").json["keys"]
    assert "planted" not in keys
    assert {"_user_id", "_sid", "_fresh"} <= set(keys)
    with client.session_transaction() as sess:
        first_sid = sess["_sid"]
    client.set_cookie("session", before)  # the cookie from before the login carries no login
    assert client.get("/whoami").json["anonymous"] is True
    log_in(client)
    with client.session_transaction() as sess:
        assert sess["_sid"] != first_sid


def test_replayed_session_cookie_after_logout(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    log_in(client)
    captured = session_cookie(client)
    assert client.get("/private").status_code == 200
    client.post("/logout")
    client.set_cookie("session", captured)
    r = client.get("/private")
    assert r.status_code == 302
    # The replayed session was also wiped, so it cannot be used for anything else.
    client.set_cookie("session", captured)
    assert client.get("/whoami").json == {"anonymous": True, "id": None, "keys": []}
    # Another client with the same stolen cookie is refused too.
    thief = client_for(app, protocol)
    thief.set_cookie("session", captured)
    assert thief.get("/private").status_code == 302
    assert thief.get("/async-private").status_code == 302


def test_replay_refused_by_a_shared_store(protocol: str) -> None:
    # Two "workers" (two apps) sharing one revocation store, as Redis would be.
    store = MemoryRevocationStore()
    app1, _ = make_app()
    app2, _ = make_app()
    app1.login_manager.revocation_store = store  # type: ignore[attr-defined]
    app2.login_manager.revocation_store = store  # type: ignore[attr-defined]
    c1 = client_for(app1, protocol)
    log_in(c1)
    captured = session_cookie(c1)
    c1.post("/logout")
    c2 = client_for(app2, protocol)
    c2.set_cookie("session", captured)
    assert c2.get("/private").status_code == 302


def test_logout_other_sessions_stay(protocol: str) -> None:
    app, _ = make_app()
    laptop, phone = client_for(app, protocol), client_for(app, protocol)
    log_in(laptop)
    log_in(phone)
    laptop.post("/logout")
    assert phone.get("/private").status_code == 200


def test_per_user_session_token_ends_every_session(protocol: str) -> None:
    app, users = make_app(TokenUser)
    a, b = client_for(app, protocol), client_for(app, protocol)
    log_in(a)
    log_in(b, remember="1")
    assert a.get("/private").status_code == 200
    users["1"].session_token = "t2"  # a password change, say
    assert a.get("/private").status_code == 302
    b.set_cookie("session", "")
    assert b.get("/private").status_code == 302  # the remember-me cookie is refused too


def test_user_gone_means_anonymous(protocol: str) -> None:
    app, users = make_app()
    client = client_for(app, protocol)
    log_in(client)
    del users["1"]
    assert client.get("/whoami").json == {"anonymous": True, "id": None, "keys": []}
    assert client.get("/private").status_code == 302


# -- remember me ------------------------------------------------------------------------------------


def test_remember_me_cookie(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    r = log_in(client, remember="1")
    cookies = r.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    assert "HttpOnly" in remember and "SameSite=Lax" in remember and "Max-Age=31536000" in remember
    client.set_cookie("session", "")  # the browser was closed
    assert client.get("/private").text == "private alice fresh=False"
    assert client.get("/settings").status_code == 401  # a fresh login is needed
    app.login_manager.refresh_view = "login"  # type: ignore[attr-defined]
    assert client.get("/settings").headers["Location"] == "/login?next=%2Fsettings"
    assert client.get("/settings", headers={"Accept": "application/json"}).status_code == 401


def test_remember_duration_and_expiry(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app, users = make_app()

    @app.route("/short")
    def short() -> str:
        login_user(users["1"], remember=True, duration=60)
        return "ok"

    client = client_for(app, protocol)
    r = client.get("/short")
    assert any("Max-Age=60" in c for c in r.headers.getlist("Set-Cookie"))
    client.set_cookie("session", "")
    assert client.get("/private").status_code == 200
    client.set_cookie("session", "")
    now = time.time()
    monkeypatch.setattr(auth_module, "_now", lambda: now + 120)
    r = client.get("/private")
    assert r.status_code == 302
    assert any(c.startswith("remember_token=;") for c in r.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize(
    "value",
    ["garbage", "eyJ1IjoiMSJ9.AAAAAA.forged", "", "x" * 4000, "..", "a.b.c.d"],
)
def test_forged_remember_cookie(protocol: str, value: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    client.set_cookie("remember_token", value)
    r = client.get("/private")
    assert r.status_code == 302


def test_remember_cookie_signed_with_another_key(protocol: str) -> None:
    app, _ = make_app()
    other, _ = make_app()
    other.secret_key = "another key"
    thief = client_for(other, protocol)
    log_in(thief, remember="1")
    cookie = thief.get_cookie("remember_token").value
    client = client_for(app, protocol)
    client.set_cookie("remember_token", cookie)
    assert client.get("/private").status_code == 302


def test_replayed_remember_cookie_after_logout(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    r = log_in(client, remember="1")
    captured = client.get_cookie("remember_token").value
    assert r.status_code == 200
    r = client.post("/logout")
    assert any(c.startswith("remember_token=;") for c in r.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is None
    thief = client_for(app, protocol)
    thief.set_cookie("remember_token", captured)
    assert thief.get("/private").status_code == 302


def test_logout_from_restored_session_revokes_the_cookie(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    log_in(client, remember="1")
    captured = client.get_cookie("remember_token").value
    client.set_cookie("session", "")
    assert client.get("/private").status_code == 200  # restored from the cookie
    client.post("/logout")
    thief = client_for(app, protocol)
    thief.set_cookie("remember_token", captured)
    assert thief.get("/private").status_code == 302


def test_login_without_remember_clears_an_old_cookie(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    log_in(client, remember="1")
    r = log_in(client, "bob", "builder")
    assert any(c.startswith("remember_token=;") for c in r.headers.getlist("Set-Cookie"))


def test_refresh_each_request(protocol: str) -> None:
    app, _ = make_app()
    app.config["REMEMBER_COOKIE_REFRESH_EACH_REQUEST"] = True
    client = client_for(app, protocol)
    log_in(client, remember="1")
    r = client.get("/private")
    assert any(c.startswith("remember_token=") for c in r.headers.getlist("Set-Cookie"))
    app.config["REMEMBER_COOKIE_REFRESH_EACH_REQUEST"] = False
    r = client.get("/private")
    assert not any(c.startswith("remember_token=") for c in r.headers.getlist("Set-Cookie"))


# -- freshness and session protection ------------------------------------------------------------------


def test_fresh_login_and_confirm(protocol: str) -> None:
    app, _ = make_app()
    manager: LoginManager = app.login_manager  # type: ignore[attr-defined]

    @app.route("/reauth")
    def reauth() -> str:
        confirm_login()
        return "confirmed"

    client = client_for(app, protocol)
    log_in(client)
    assert client.get("/settings").text == "settings"
    with client.session_transaction() as sess:
        sess["_fresh"] = False
    assert client.get("/settings").status_code == 401  # no refresh_view: 401
    manager.refresh_view = "reauth"
    r = client.get("/settings")
    assert r.status_code == 302 and r.headers["Location"] == "/reauth?next=%2Fsettings"
    client.get("/reauth")
    assert client.get("/settings").text == "settings"


def test_needs_refresh_handler(protocol: str) -> None:
    app, _ = make_app()

    @app.login_manager.needs_refresh_handler  # type: ignore[attr-defined]
    async def refresh() -> Any:
        return "refresh please", 401

    client = client_for(app, protocol)
    log_in(client)
    with client.session_transaction() as sess:
        sess["_fresh"] = False
    assert client.get("/settings").text == "refresh please"


def test_session_protection_basic(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    log_in(client)
    r = client.get("/private", headers={"User-Agent": "another browser"})
    assert r.text == "private alice fresh=False"


def test_session_protection_strong(protocol: str) -> None:
    app, _ = make_app()
    app.login_manager.session_protection = "strong"  # type: ignore[attr-defined]
    client = client_for(app, protocol)
    log_in(client)
    assert client.get("/private").status_code == 200
    assert client.get("/private", headers={"User-Agent": "stolen"}).status_code == 302
    assert client.get("/private").status_code == 302  # the session was logged out


def test_session_set_by_hand_still_loads(protocol: str) -> None:
    # Tests (and sessions made by Flask-Login) have no session id: they still work.
    app, _ = make_app()
    client = client_for(app, protocol)
    with client.session_transaction() as sess:
        sess["_user_id"] = "2"
    assert client.get("/private").text == "private bob fresh=False"


# -- misconfiguration --------------------------------------------------------------------------------


def test_missing_user_loader_and_manager() -> None:
    app = Erlen(__name__)
    app.secret_key = "k"
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="No LoginManager"):
        logout_user()
    with app.test_request_context("/"):
        assert current_user.is_anonymous  # no manager: anonymous
    LoginManager(app)
    with app.test_request_context("/"):
        session["_user_id"] = "1"
        with pytest.raises(RuntimeError, match="user_loader"):
            _ = current_user.is_authenticated


def test_user_mixins() -> None:
    class NoId(UserMixin):
        pass

    with pytest.raises(NotImplementedError):
        NoId().get_id()
    a, b = User(1, "a", "x"), User(1, "b", "y")
    assert a == b and a.__ne__(b) is False and a != User(2, "c", "z")
    assert a.__eq__("x") is NotImplemented
    assert a.get_session_token() is None
    anon = AnonymousUserMixin()
    assert (anon.is_authenticated, anon.is_active, anon.is_anonymous) == (False, False, True)
    assert anon.get_id() is None and anon.get_session_token() is None


# -- URLs -----------------------------------------------------------------------------------------------


def test_login_url_and_is_safe_url() -> None:
    app, _ = make_app()
    with app.test_request_context("/", base_url="https://shop.example"):
        assert login_url("login") == "/login"
        assert login_url("login", "/a?b=1") == "/login?next=%2Fa%3Fb%3D1"
        assert login_url("/sign-in?x=1&next=old", "/p") == "/sign-in?x=1&next=%2Fp"
        for good in ("/account", "/a?b=c#d", "page", "https://shop.example/x"):
            assert is_safe_url(good), good
        for bad in (
            None,
            "",
            "//evil.example",
            "///evil.example",
            "////evil.example",
            "https://evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "http:evil.example",
            " /x",
            "/x\r\nSet-Cookie: a=b",
            "ftp://shop.example/",
        ):
            assert not is_safe_url(bad), bad
    assert not is_safe_url("https://shop.example/")  # no request: no host to compare with


# -- revocation stores -----------------------------------------------------------------------------------


def test_memory_revocation_store_bounds_and_expiry() -> None:
    clock = [1000.0]
    store = MemoryRevocationStore(max_entries=3, clock=lambda: clock[0])
    store.revoke("a", 10)
    assert store.is_revoked("a") and not store.is_revoked("b")
    clock[0] += 11
    assert not store.is_revoked("a")
    for name in "bcdef":
        store.revoke(name, 100)
    assert len(store._entries) == 3
    assert store.is_revoked("f") and not store.is_revoked("b")


class FakeRedis:
    """The two commands RedisRevocationStore uses, with expiry."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, float]] = {}

    def set(self, key: str, value: bytes, ex: int | None = None) -> bool:
        self.data[key] = (value, time.time() + (ex or 10**9))
        return True

    def exists(self, *keys: str) -> int:
        return sum(1 for k in keys if k in self.data and self.data[k][1] > time.time())


def test_redis_revocation_store_with_a_fake(protocol: str) -> None:
    fake = FakeRedis()
    app, _ = make_app()
    app.login_manager.revocation_store = RedisRevocationStore(fake)  # type: ignore[attr-defined]
    client = client_for(app, protocol)
    log_in(client)
    captured = session_cookie(client)
    client.post("/logout")
    assert len(fake.data) == 1
    key = next(iter(fake.data))
    assert key.startswith("erlen:revoked:")
    assert fake.data[key][1] - time.time() > 30 * 86400  # as long as the cookie could live
    client.set_cookie("session", captured)
    assert client.get("/private").status_code == 302


@pytest.mark.skipif(not os.environ.get("ERLEN_TEST_REDIS_URL"), reason="ERLEN_TEST_REDIS_URL unset")
def test_redis_revocation_store_real(protocol: str) -> None:
    redis = pytest.importorskip("redis")
    client_r = redis.Redis.from_url(os.environ["ERLEN_TEST_REDIS_URL"])
    prefix = f"erlen-test:revoked:{os.getpid()}:{protocol}:"
    store = RedisRevocationStore(client_r, prefix=prefix)
    try:
        app, _ = make_app()
        app.login_manager.revocation_store = store  # type: ignore[attr-defined]
        client = client_for(app, protocol)
        log_in(client)
        captured = session_cookie(client)
        client.post("/logout")
        keys = list(client_r.scan_iter(match=prefix + "*"))
        assert len(keys) == 1 and client_r.ttl(keys[0]) > 30 * 86400
        client.set_cookie("session", captured)
        assert client.get("/private").status_code == 302
    finally:
        for key in client_r.scan_iter(match=prefix + "*"):
            client_r.delete(key)


# -- tokens -------------------------------------------------------------------------------------------------


def test_issue_and_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = TokenAuth("k1", max_age=60)
    token = tokens.issue({"uid": 1, "v": 0})
    assert tokens.verify(token) == {"uid": 1, "v": 0}
    assert tokens.verify(token.encode()) == {"uid": 1, "v": 0}
    assert TokenAuth("k2").verify(token) is None  # another key
    assert TokenAuth("k1", salt="other").verify(token) is None
    head, payload, sig = token.rsplit(".", 2)
    # Change the signature's first character: its last one carries bits base64 ignores,
    # so changing that one could leave the signature valid.
    tampered = ("B" if sig[0] == "A" else "A") + sig[1:]
    assert tokens.verify(f"{head}.{payload}.{tampered}") is None
    forged = base64.urlsafe_b64encode(b'{"uid":2,"v":0}').decode().rstrip("=")
    assert tokens.verify(f"{forged}.{payload}.{sig}") is None
    for bad in (None, "", "a", "a.b.c", "ä.ö.ü", "x" * 10_000, 42, [], b"\xff\xfe"):
        assert tokens.verify(bad) is None, bad  # type: ignore[arg-type]
    now = time.time()
    monkeypatch.setattr(auth_module, "_now", lambda: now + 61)
    assert tokens.verify(token) is None  # expired
    assert tokens.verify(token, max_age=120) == {"uid": 1, "v": 0}
    assert TokenAuth("k1", max_age=None).verify(token) is not None


def test_key_rotation() -> None:
    app = Erlen(__name__)
    app.secret_key = "old"
    tokens = TokenAuth(app=app)
    with app.app_context():
        token = tokens.issue({"uid": 1})
    app.config["SECRET_KEY"] = "new"
    app.config["SECRET_KEY_FALLBACKS"] = ["old"]
    with app.app_context():
        assert tokens.verify(token) == {"uid": 1}  # graceful rotation
        fresh = tokens.issue({"uid": 1})
    app.config["SECRET_KEY_FALLBACKS"] = []
    with app.app_context():
        assert tokens.verify(token) is None  # revoke-all: the old key is gone
        assert tokens.verify(fresh) == {"uid": 1}
    assert TokenAuth("new", fallback_keys=["old"]).verify(token) == {"uid": 1}
    app.config["SECRET_KEY"] = None
    with app.app_context(), pytest.raises(RuntimeError, match="secret key"):
        tokens.issue({})


def api_app() -> tuple[Erlen, TokenAuth, dict[int, Any]]:
    app = Erlen(__name__)
    app.secret_key = "api secret"
    LoginManager(app)
    tokens = TokenAuth(app=app, max_age=300)
    users = {1: User(1, "alice", "wonderland"), 2: User(2, "bob", "builder")}
    versions = {1: 0, 2: 0}

    @tokens.verify_token
    def verify_token(token: str) -> Any:
        data = tokens.verify(token)
        if not isinstance(data, dict) or data.get("v") != versions.get(data.get("uid")):
            return None  # per-user revocation: the version moved on
        return users.get(data["uid"])

    @tokens.verify_password
    async def verify_password(name: str, password: str) -> Any:
        user = next((u for u in users.values() if u.name == name), None)
        if user is not None and check_password_hash(user.pwhash, password):
            return user
        return None

    @app.post("/api/token")
    @tokens.auth_required(scheme="basic")
    def token() -> Any:
        user = g.current_token_user
        return jsonify(token=tokens.issue({"uid": user.id, "v": versions[user.id]}))

    @app.get("/api/me")
    @tokens.auth_required
    def me() -> Any:
        return {"name": current_user.name, "via": g.current_token_user.name}

    @app.get("/api/async-me")
    @auth_required(scheme=("bearer", "basic"), realm="Erlen API")
    async def async_me() -> Any:
        return {"name": current_user.name}

    @app.post("/api/revoke")
    @auth_required
    def revoke() -> str:
        versions[current_user.id] += 1
        return "revoked"

    return app, tokens, versions


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_token_flow(protocol: str) -> None:
    app, _, _ = api_app()
    client = client_for(app, protocol)
    r = client.post("/api/token", headers={"Authorization": basic("alice", "wonderland")})
    assert r.status_code == 200
    token = r.json["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=bearer).json == {"name": "alice", "via": "alice"}
    assert client.get("/api/async-me", headers=bearer).json == {"name": "alice"}
    r = client.get("/api/async-me", headers={"Authorization": basic("bob", "builder")})
    assert r.json == {"name": "bob"}
    assert client.post("/api/revoke", headers=bearer).text == "revoked"
    r = client.get("/api/me", headers=bearer)
    assert r.status_code == 401  # this user's old tokens are revoked
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_wrong_password_and_missing_credentials(protocol: str) -> None:
    app, _, _ = api_app()
    client = client_for(app, protocol)
    r = client.post("/api/token", headers={"Authorization": basic("alice", "nope")})
    assert r.status_code == 401
    assert r.json == {"error": "unauthorized", "message": "Invalid username or password."}
    assert r.headers["WWW-Authenticate"] == 'Basic realm="api", charset="UTF-8"'
    r = client.get("/api/me")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert r.headers["Content-Type"] == "application/json"
    r = client.get("/api/async-me")
    assert r.headers.getlist("WWW-Authenticate") == [
        'Bearer realm="Erlen API"',
        'Basic realm="Erlen API", charset="UTF-8"',
    ]


def test_forged_and_expired_tokens(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app, tokens, _ = api_app()
    client = client_for(app, protocol)
    with app.app_context():
        good = tokens.issue({"uid": 1, "v": 0})
        other_key = TokenAuth("someone else's key").issue({"uid": 1, "v": 0})
    payload = good.split(".")[0]
    forged = base64.urlsafe_b64encode(b'{"uid":2,"v":0}').decode().rstrip("=")
    head, stamp, sig = good.split(".")
    tampered = f"{head}.{stamp}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"
    for token in (other_key, good.replace(payload, forged), tampered, "abc.def.ghi"):
        r = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert client.get("/api/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    now = time.time()
    monkeypatch.setattr(auth_module, "_now", lambda: now + 301)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {good}"}).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer ====",
        "Bearer é",
        "bearer",
        "Basic",
        "Basic !!!",
        "Basic Zm9v",  # no colon
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + "A" * 10_000,
        "Digest username=x",
        "Token abc",
        "garbage",
        ",",
        " ",
    ],
)
def test_malformed_authorization_is_401_not_500(protocol: str, header: str) -> None:
    app, _, _ = api_app()
    client = client_for(app, protocol)
    for path, method in (("/api/me", "GET"), ("/api/async-me", "GET"), ("/api/token", "POST")):
        r = client.open(path, method=method, headers={"Authorization": header})
        assert r.status_code == 401, (path, header)
        assert r.headers["WWW-Authenticate"]
        assert r.json["error"] == "unauthorized"


def test_basic_with_latin1_password(protocol: str) -> None:
    app, _, _ = api_app()
    client = client_for(app, protocol)
    header = "Basic " + base64.b64encode("bob:builder".encode("latin-1")).decode()
    assert client.post("/api/token", headers={"Authorization": header}).status_code == 200


def test_401_can_be_handled(protocol: str) -> None:
    app, _, _ = api_app()

    @app.errorhandler(AuthenticationRequired)
    def handle(e: AuthenticationRequired) -> Any:
        return {"custom": e.description}, 401, {"WWW-Authenticate": e.challenges[0]}

    r = client_for(app, protocol).get("/api/me")
    assert r.json == {"custom": "Authentication required."}
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_request_loader_lets_tokens_through_login_required(protocol: str) -> None:
    app, users = make_app()
    tokens = TokenAuth(max_age=60)

    @app.login_manager.request_loader  # type: ignore[attr-defined]
    def from_header(req: Any) -> Any:
        auth = req.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            data = tokens.verify(auth[7:])
            if isinstance(data, dict):
                return users.get(str(data.get("uid")))
        return None

    with app.app_context():
        token = tokens.issue({"uid": 2})
    client = client_for(app, protocol)
    r = client.get("/async-private", headers={"Authorization": f"Bearer {token}"})
    assert r.text == "async bob"
    assert client.get("/private", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_auth_required_configuration_errors() -> None:
    with pytest.raises(ValueError, match="scheme"):
        auth_required(scheme="digest")
    app = Erlen(__name__)
    app.secret_key = "k"

    @app.route("/a")
    @auth_required
    def a() -> str:
        return "a"

    @app.route("/b")
    @TokenAuth().auth_required("basic")
    def b() -> str:
        return "b"

    app.testing = True
    client = app.test_client()
    with pytest.raises(RuntimeError, match="TokenAuth"):
        client.get("/a", headers={"Authorization": "Bearer x"})
    with pytest.raises(RuntimeError, match="verify_password"):
        client.get("/b", headers={"Authorization": basic("a", "b")})


def test_default_verify_without_callback(protocol: str) -> None:
    app = Erlen(__name__)
    app.secret_key = "k"
    tokens = TokenAuth(app=app)

    @app.route("/data")
    @auth_required
    def data() -> Any:
        return {"data": g.current_token_user, "anonymous": current_user.is_anonymous}

    with app.app_context():
        token = tokens.issue({"scope": "read"})
    r = client_for(app, protocol).get("/data", headers={"Authorization": f"Bearer {token}"})
    assert r.json == {"data": {"scope": "read"}, "anonymous": True}


# -- docs/auth.md runs as written ------------------------------------------------------------------------


def test_auth_doc_runs() -> None:
    assert run_markdown(DOCS / "auth.md", doctest.ELLIPSIS) >= 10


def test_no_stale_user_across_requests_in_one_app_context(protocol: str) -> None:
    app, _ = make_app()
    client = client_for(app, protocol)
    with app.app_context():
        log_in(client)
        assert client.get("/whoami").json["id"] == "1"
        client.post("/logout")
        assert client.get("/whoami").json["id"] is None


def test_login_message_and_category(protocol: str) -> None:
    app, _ = make_app()
    manager: LoginManager = app.login_manager  # type: ignore[attr-defined]
    manager.login_message = "Sign in first"
    manager.login_message_category = "warning"

    @app.route("/messages")
    def messages() -> Any:
        return {"m": get_flashed_messages(with_categories=True)}

    client = client_for(app, protocol)
    client.get("/private")
    assert client.get("/messages").json == {"m": [["warning", "Sign in first"]]}
    assert re.match(r"^/login\?next=", client.get("/private").headers["Location"])
