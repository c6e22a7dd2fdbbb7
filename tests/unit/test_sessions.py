"""Sessions and flash, checked against Flask: same app, same cookies, same headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from markupsafe import Markup

import erlen
from erlen import Erlen, flash, get_flashed_messages, session
from erlen.sessions import (
    NullSession,
    SecureCookieSession,
    SecureCookieSessionInterface,
    SessionInterface,
    SessionMixin,
)
from support import run_markdown


def app_class(mod: ModuleType) -> Any:
    return mod.Flask if mod is flask else mod.Erlen


def client_for(app: Any, protocol: str) -> Any:
    if isinstance(app, flask.Flask):
        return app.test_client()
    return app.test_client(asgi=protocol == "asgi")


def normalize_cookie(header: str) -> str:
    """Hide what legitimately differs between runs: the signed value and a future expiry."""
    header = re.sub(r"^([^=]+)=[^;]+", r"\1=<value>", header)
    return re.sub(r"Expires=(?!Thu, 01 Jan 1970)[^;]+", "Expires=<future>", header)


def observe(
    build: Callable[[ModuleType], Any], requests: list[str], protocol: str
) -> list[tuple[int, str, str | None, list[str]]]:
    """Run the requests on the Flask app and the Erlen app; compare bodies, Vary, Set-Cookie."""
    seen: dict[str, list[tuple[int, str, str | None, list[str]]]] = {}
    for mod in (flask, erlen):
        client = client_for(build(mod), protocol)
        rows = []
        for req in requests:
            method, _, path = req.rpartition(" ")
            resp = client.open(path, method=method or "GET")
            cookies = [normalize_cookie(c) for c in resp.headers.getlist("Set-Cookie")]
            rows.append(
                (resp.status_code, resp.get_data(as_text=True), resp.headers.get("Vary"), cookies)
            )
        seen[mod.__name__] = rows
    assert seen["erlen"] == seen["flask"]
    return seen["erlen"]


def build_basic(mod: ModuleType) -> Any:
    app = app_class(mod)(__name__)
    app.secret_key = "sessions"
    sess = mod.session

    @app.route("/set")
    def set_value() -> str:
        sess["n"] = sess.get("n", 0) + 1
        return str(sess["n"])

    @app.route("/read")
    def read() -> str:
        return str(sess.get("n"))

    @app.route("/contains")
    def contains() -> str:
        return str("n" in sess)

    @app.route("/len")
    def length() -> str:
        return str(len(sess))

    @app.route("/iterate")
    def iterate() -> str:
        return ",".join(sorted(sess))

    @app.route("/untouched")
    def untouched() -> str:
        return "untouched"

    @app.route("/nested")
    def nested() -> str:
        sess.setdefault("items", []).append(1)
        return str(sess["items"])

    @app.route("/nested-unmarked")
    def nested_unmarked() -> str:
        sess["items"].append(2)
        return str(sess["items"])

    @app.route("/nested-marked")
    def nested_marked() -> str:
        sess["items"].append(3)
        sess.modified = True
        return str(sess["items"])

    @app.route("/clear")
    def clear() -> str:
        sess.clear()
        return "cleared"

    @app.route("/pop")
    def pop() -> str:
        return str(sess.pop("missing", "default"))

    @app.route("/vary")
    def vary() -> Any:
        resp = mod.make_response(str(sess.get("n")))
        resp.headers["Vary"] = "Accept-Encoding"
        return resp

    @app.route("/permanent")
    def permanent() -> str:
        sess.permanent = True
        return str(sess.permanent)

    return app


def test_cookie_written_only_when_needed_and_vary(protocol: str) -> None:
    rows = observe(
        build_basic,
        [
            "/untouched",
            "/read",
            "/set",
            "/untouched",
            "/read",
            "/contains",
            "/len",
            "/iterate",
            "/vary",
            "/set",
            "/pop",
            "/clear",
            "/read",
        ],
        protocol,
    )
    untouched, read_empty, set1, untouched2, read1 = rows[:5]
    assert untouched == (200, "untouched", None, [])
    assert read_empty == (200, "None", "Cookie", [])
    assert set1[1:3] == ("1", "Cookie") and set1[3] == ["session=<value>; HttpOnly; Path=/"]
    assert untouched2 == (200, "untouched", None, [])
    assert read1 == (200, "1", "Cookie", [])
    assert [r[2] for r in rows[5:9]] == ["Cookie", "Cookie", "Cookie", "Accept-Encoding, Cookie"]
    assert rows[11][3] == [
        "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/"
    ]
    assert rows[12][1] == "None"


def test_nested_changes_need_modified(protocol: str) -> None:
    rows = observe(
        build_basic, ["/nested", "/nested-unmarked", "/nested-marked", "/read"], protocol
    )
    assert [r[1] for r in rows[:3]] == ["[1]", "[1, 2]", "[1, 3]"]
    assert rows[1][3] == []


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"SESSION_COOKIE_NAME": "sid"},
        {"SESSION_COOKIE_DOMAIN": "example.test"},
        {"SESSION_COOKIE_PATH": "/app"},
        {"APPLICATION_ROOT": "/root"},
        {"SESSION_COOKIE_HTTPONLY": False},
        {"SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_SAMESITE": "Lax"},
        {"SESSION_COOKIE_SAMESITE": "Strict"},
        {"SESSION_COOKIE_PARTITIONED": True, "SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": True},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "defaults",
)
def test_cookie_settings(config: dict[str, Any], protocol: str) -> None:
    def build(mod: ModuleType) -> Any:
        app = build_basic(mod)
        app.config.update(config)
        return app

    base = "http://example.test"
    rows = observe(build, [f"{base}/set", f"{base}/permanent", f"{base}/clear"], protocol)
    set_cookie = rows[0][3][0]
    name = config.get("SESSION_COOKIE_NAME", "session")
    assert set_cookie.startswith(f"{name}=<value>")
    for key, attr in (
        ("SESSION_COOKIE_DOMAIN", "Domain"),
        ("SESSION_COOKIE_PATH", "Path"),
        ("SESSION_COOKIE_SAMESITE", "SameSite"),
    ):
        if key in config:
            assert f"{attr}={config[key]}" in set_cookie
    assert ("HttpOnly" in set_cookie) is config.get("SESSION_COOKIE_HTTPONLY", True)
    assert "Expires=<future>" in rows[1][3][0]
    assert "Max-Age=0" in rows[2][3][0]


def test_permanent_session_lifetime(protocol: str) -> None:
    for lifetime in (timedelta(hours=2), 600):
        app = Erlen(__name__)
        app.secret_key = "k"
        app.config["PERMANENT_SESSION_LIFETIME"] = lifetime

        @app.route("/")
        def index() -> str:
            session.permanent = True
            session["x"] = 1
            return ""

        client = app.test_client(asgi=protocol == "asgi")
        before = datetime.now(timezone.utc)
        header = client.get("/").headers["Set-Cookie"]
        expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", header).group(1))  # type: ignore[union-attr]
        seconds = lifetime if isinstance(lifetime, int) else lifetime.total_seconds()
        assert abs((expires - before).total_seconds() - seconds) < 5


@pytest.mark.parametrize("refresh", [True, False])
def test_refresh_each_request(refresh: bool, protocol: str) -> None:
    def build(mod: ModuleType) -> Any:
        app = build_basic(mod)
        app.config["SESSION_REFRESH_EACH_REQUEST"] = refresh
        return app

    rows = observe(build, ["/set", "/read", "/permanent", "/read", "/set"], protocol)
    assert rows[1][3] == []  # not permanent: never refreshed
    assert bool(rows[3][3]) is refresh  # permanent: refreshed only when configured
    assert rows[4][3]  # modified: always written


def test_serializer_round_trips_types(protocol: str) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    values = {
        "dict": {"a": 1, "nested": {" t": "tag-like key"}},
        "list": [1, "two", [3]],
        "tuple": (1, (2, 3)),
        "bytes": b"\x00\xffbinary",
        "datetime": when,
        "uuid": ident,
        "markup": Markup("<b>safe</b>"),
        "text": "ünïcödé",
        "none": None,
        "float": 1.5,
    }
    payloads = {}
    for mod in (flask, erlen):
        app = app_class(mod)(__name__)
        app.secret_key = "types"

        @app.route("/set")
        def set_values(mod: ModuleType = mod) -> str:
            mod.session.update(values)
            return ""

        @app.route("/get")
        def get_values(mod: ModuleType = mod) -> str:
            got = {k: mod.session[k] for k in values}
            assert got == values
            assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in values.items()}
            return "ok"

        client = client_for(app, protocol)
        cookie = client.get("/set").headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        assert client.get("/get").text == "ok"
        payloads[mod.__name__] = cookie.rsplit(".", 2)[0]
    # Same serializer, same payload (only the timestamp and signature may differ).
    assert payloads["erlen"] == payloads["flask"]


@pytest.mark.parametrize("writer", ["flask", "erlen"])
def test_cookies_readable_across_frameworks(writer: str, protocol: str) -> None:
    apps = {}
    for mod in (flask, erlen):
        app = app_class(mod)(__name__)
        app.secret_key = "shared secret"

        @app.route("/write")
        def write(mod: ModuleType = mod) -> str:
            mod.session["user"] = {"id": 7, "tags": ("a", "b")}
            mod.flash("hello", "info")
            return ""

        @app.route("/read")
        def read(mod: ModuleType = mod) -> str:
            return f"{mod.session.get('user')} {mod.get_flashed_messages(with_categories=True)}"

        apps[mod.__name__] = app
    reader = "erlen" if writer == "flask" else "flask"
    cookie = client_for(apps[writer], protocol).get("/write").headers["Set-Cookie"]
    value = cookie.split(";")[0].split("=", 1)[1]
    client = client_for(apps[reader], protocol)
    client.set_cookie("session", value)
    assert client.get("/read").text == "{'id': 7, 'tags': ('a', 'b')} [('info', 'hello')]"


def build_secret(mod: ModuleType, secret: str, fallbacks: list[str] | None = None) -> Any:
    app = app_class(mod)(__name__)
    app.secret_key = secret
    app.config["SECRET_KEY_FALLBACKS"] = fallbacks

    @app.route("/write")
    def write() -> str:
        mod.session["who"] = "me"
        return ""

    @app.route("/read")
    def read() -> str:
        return str(mod.session.get("who"))

    @app.route("/rewrite")
    def rewrite() -> str:
        mod.session["again"] = True
        return str(mod.session.get("who"))

    return app


def cookie_value(resp: Any) -> str:
    return str(resp.headers["Set-Cookie"].split(";")[0].split("=", 1)[1])


def test_secret_key_fallbacks_rotation(protocol: str) -> None:
    old_cookie = cookie_value(client_for(build_secret(erlen, "old"), protocol).get("/write"))
    for mod in (flask, erlen):
        rotated = client_for(build_secret(mod, "new", ["older", "old"]), protocol)
        rotated.set_cookie("session", old_cookie)
        assert rotated.get("/read").text == "me"
        resp = rotated.get("/rewrite")
        assert resp.text == "me"
        new_cookie = cookie_value(resp)
        # Re-signed with the current key: readable without the fallbacks.
        plain = client_for(build_secret(mod, "new"), protocol)
        plain.set_cookie("session", new_cookie)
        assert plain.get("/read").text == "me"
        plain.set_cookie("session", old_cookie)
        assert plain.get("/read").text == "None"


def test_bad_cookies_give_empty_session(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_secret(erlen, "key")
    app.config["PERMANENT_SESSION_LIFETIME"] = 60
    client = app.test_client(asgi=protocol == "asgi")
    good = cookie_value(client.get("/write"))
    payload, stamp, sig = good.rsplit(".", 2)
    other_key = URLSafeTimedSerializer("other", salt="cookie-session").dumps({"who": "evil"})
    wrong_salt = URLSafeTimedSerializer("key", salt="other").dumps({"who": "evil"})
    interface = app.session_interface
    assert isinstance(interface, SecureCookieSessionInterface)
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    not_a_dict = serializer.dumps(["who", "evil"])
    real_timestamp = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real_timestamp(self) - 3600)
    expired = serializer.dumps({"who": "expired"})
    monkeypatch.undo()
    bad = [
        payload + "x." + stamp + "." + sig,  # tampered payload
        # Tampered signature (its first character: the last carries bits base64 ignores).
        payload + "." + stamp + "." + ("B" if sig[0] == "A" else "A") + sig[1:],
        other_key,
        wrong_salt,
        not_a_dict,
        expired,
        "garbage",
        "...",
        "a.b.c",
        ".eJzLSM3JyQcABiwCFQ.x.y",  # "compressed" marker with junk
        "\u00e9\u00e8",
        "e30." + "A" * 3000,
    ]
    for value in bad:
        client.set_cookie("session", value)
        resp = client.get("/read")
        assert (resp.status_code, resp.text) == (200, "None"), value
    client.set_cookie("session", good)
    assert client.get("/read").text == "me"


def test_no_secret_key(protocol: str) -> None:
    for mod in (flask, erlen):
        app = app_class(mod)(__name__)
        app.testing = True

        @app.route("/read")
        def read(mod: ModuleType = mod) -> str:
            return f"{mod.session.get('x')} {len(mod.session)} {mod.get_flashed_messages()}"

        @app.route("/write")
        def write(mod: ModuleType = mod) -> str:
            mod.session["x"] = 1
            return ""

        client = client_for(app, protocol)
        resp = client.get("/read")
        assert (resp.status_code, resp.text) == (200, "None 0 []")
        assert "Set-Cookie" not in resp.headers
        with pytest.raises(RuntimeError, match="no secret key was set"):
            client.get("/write")


def test_no_secret_key_is_null_session() -> None:
    app = Erlen(__name__)
    with app.test_request_context():
        assert isinstance(session._get_current_object(), NullSession)  # type: ignore[attr-defined]
        assert app.session_interface.is_null_session(session._get_current_object())  # type: ignore[attr-defined]
        for action in (
            lambda: session.__setitem__("a", 1),
            lambda: session.pop("a"),
            lambda: session.update(a=1),
            lambda: session.setdefault("a", 1),
            session.clear,
            lambda: flash("x"),
        ):
            with pytest.raises(RuntimeError, match="secret key"):
                action()


class CountingInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.saved = 0

    def open_session(self, app: Any, request: Any) -> Any:
        self.opened += 1
        return super().open_session(app, request)

    def save_session(self, app: Any, session: Any, response: Any) -> None:
        self.saved += 1
        super().save_session(app, session, response)


def test_session_loads_lazily(protocol: str) -> None:
    app = Erlen(__name__)
    app.secret_key = "lazy"
    counting = CountingInterface()
    app.session_interface = counting

    @app.route("/plain")
    def plain() -> str:
        return "plain"

    @app.route("/twice")
    def twice() -> str:
        session["a"] = 1
        return str(session["a"] + len(session))

    @app.route("/template")
    def template() -> str:
        return erlen.render_template_string("no session used here")

    @app.route("/template-session")
    def template_session() -> str:
        return erlen.render_template_string("{{ session.a }}")

    # Without a session cookie, a view that does not use the session never opens it.
    client = app.test_client(asgi=protocol == "asgi")
    for path in ("/plain", "/template"):
        resp = client.get(path)
        assert "Vary" not in resp.headers and "Set-Cookie" not in resp.headers
    assert (counting.opened, counting.saved) == (0, 0)
    client.get("/twice")
    assert (counting.opened, counting.saved) == (1, 1)
    resp = client.get("/template-session")
    assert resp.text == "1"
    assert resp.headers["Vary"] == "Cookie"
    assert (counting.opened, counting.saved) == (2, 2)
    # With the cookie, an untouched session is opened after the view, for a refresh
    # (as Flask, which opens every request's session): not marked accessed, not re-sent.
    for path in ("/plain", "/template"):
        resp = client.get(path)
        assert "Vary" not in resp.headers and "Set-Cookie" not in resp.headers
    assert (counting.opened, counting.saved) == (4, 4)
    # No refresh configured: nothing to do for an untouched session.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    client.get("/plain")
    assert (counting.opened, counting.saved) == (4, 4)


def build_permanent(mod: ModuleType) -> Any:
    app = app_class(mod)(__name__)
    app.secret_key = "permanent"
    sess = mod.session

    @app.route("/login")
    def login() -> str:
        sess["user"] = "ann"
        sess.permanent = True
        return "in"

    @app.route("/change-user")
    def change_user() -> str:
        sess["user"] = "bob"
        return "in"

    @app.route("/untouched")
    def untouched() -> str:
        return "untouched"

    @app.route("/browser-session")
    def browser_session() -> str:
        sess["user"] = "ann"
        return "in"

    @app.route("/big-permanent")
    def big_permanent() -> str:
        sess["notes"] = "a long note " * 40  # compressed in the cookie
        sess.permanent = True
        return "in"

    @app.route("/nested")
    def nested() -> str:
        sess["pref"] = {"_permanent": True}  # the key, but not the session's flag
        return "in"

    @app.route("/hook-only")
    def hook_only() -> str:
        return "hook"

    @app.after_request
    def header(response: Any) -> Any:
        response.headers["X-Seen"] = "1"
        return response

    return app


@pytest.mark.parametrize("refresh", [True, False])
def test_untouched_permanent_session_is_refreshed_as_flask(refresh: bool, protocol: str) -> None:
    # A permanent session's cookie gets a later expiry on every request, whether the
    # view reads the session or not (SESSION_REFRESH_EACH_REQUEST, the default).
    def build(mod: ModuleType) -> Any:
        app = build_permanent(mod)
        app.config["SESSION_REFRESH_EACH_REQUEST"] = refresh
        return app

    rows = observe(
        build,
        ["/untouched", "/login", "/untouched", "/hook-only", "/change-user", "/untouched"],
        protocol,
    )
    assert rows[0][3] == []  # no cookie yet: nothing to refresh
    assert bool(rows[2][3]) is refresh and bool(rows[3][3]) is refresh
    assert rows[2][2] == ("Cookie" if refresh else None)
    assert rows[4][3]  # modified: always written (still permanent: the flag is in the session)


class MemoryInterface(SessionInterface):
    """A server-side store: the cookie only carries an id."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}

    def open_session(self, app: Any, request: Any) -> SessionMixin:
        sid = request.cookies.get(self.get_cookie_name(app))
        sess = ServerSession(self.store.get(sid or "", {}))
        sess.sid = sid if sid in self.store else uuid.uuid4().hex
        return sess

    def save_session(self, app: Any, session: Any, response: Any) -> None:
        if not session.modified:
            return
        self.store[session.sid] = dict(session)
        response.set_cookie(self.get_cookie_name(app), session.sid, httponly=True)


class ServerSession(SecureCookieSession):
    sid = ""


def test_custom_session_interface(protocol: str) -> None:
    app = Erlen(__name__)  # no secret key needed: nothing is signed
    store = MemoryInterface()
    app.session_interface = store

    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @app.route("/me")
    async def me() -> str:
        return str(session.get("user"))

    client = app.test_client(asgi=protocol == "asgi")
    assert client.get("/me").text == "None"
    client.get("/login/ann")
    assert list(store.store.values()) == [{"user": "ann"}]
    assert client.get("/me").text == "ann"
    assert client.get_cookie("session").value in store.store  # type: ignore[union-attr]


def test_session_in_async_views(protocol: str) -> None:
    rows = observe(lambda mod: _async_app(mod), ["/set", "/get", "/set", "/get"], protocol)
    assert [r[1] for r in rows] == ["1", "1", "2", "2"]


def _async_app(mod: ModuleType) -> Any:
    app = app_class(mod)(__name__)
    app.secret_key = "async"

    @app.route("/set")
    async def set_value() -> str:
        mod.session["n"] = mod.session.get("n", 0) + 1
        return str(mod.session["n"])

    @app.route("/get")
    async def get_value() -> str:
        return str(mod.session["n"])

    return app


def test_session_mixin_and_defaults() -> None:
    sess = SecureCookieSession({"a": 1})
    assert not sess.modified and not sess.accessed and sess.new is False
    assert sess.permanent is False
    sess.permanent = True
    assert sess["_permanent"] is True and sess.modified
    assert repr(SecureCookieSession({"a": 1})) == "<SecureCookieSession {'a': 1}>"
    assert SessionMixin.accessed is flask.sessions.SessionMixin.accessed


def test_session_transaction(protocol: str) -> None:
    app = build_secret(erlen, "tx")
    client = app.test_client(asgi=protocol == "asgi")
    with client.session_transaction() as sess:
        sess["who"] = "prepared"
    assert client.get("/read").text == "prepared"
    client.get("/rewrite")
    with client.session_transaction() as sess:
        assert sess["again"] is True


# -- flash ------------------------------------------------------------------------------


def build_flash(mod: ModuleType) -> Any:
    app = app_class(mod)(__name__)
    app.secret_key = "flash"

    @app.route("/flash")
    def do_flash() -> Any:
        mod.flash("plain")
        mod.flash("careful", "warning")
        mod.flash(Markup("<b>bold</b>"), "error")
        mod.flash("second error", "error")
        return mod.redirect(mod.url_for("show"))

    @app.route("/show")
    def show() -> str:
        return repr(mod.get_flashed_messages()) + " | " + repr(mod.get_flashed_messages())

    @app.route("/categories")
    def categories() -> str:
        return repr(mod.get_flashed_messages(with_categories=True))

    @app.route("/filtered")
    def filtered() -> str:
        return " | ".join(
            [
                repr(mod.get_flashed_messages(category_filter=["error"])),
                repr(mod.get_flashed_messages(with_categories=True, category_filter=("warning",))),
                repr(mod.get_flashed_messages(category_filter=["nothing"])),
            ]
        )

    @app.route("/template")
    def template() -> str:
        return mod.render_template_string(
            "{% for c, m in get_flashed_messages(with_categories=true) %}[{{ c }}:{{ m }}]{% endfor %}"
        )

    return app


def test_flash_messages(protocol: str) -> None:
    rows = observe(
        build_flash,
        [
            "/flash",
            "/show",
            "/show",
            "/flash",
            "/categories",
            "/flash",
            "/filtered",
            "/flash",
            "/template",
            "/template",
        ],
        protocol,
    )
    assert rows[1][1].startswith("['plain', 'careful', Markup('<b>bold</b>'), 'second error'] | ")
    assert rows[2][1] == "[] | []"
    assert rows[4][1] == (
        "[('message', 'plain'), ('warning', 'careful'), ('error', Markup('<b>bold</b>')),"
        " ('error', 'second error')]"
    )
    assert rows[6][1] == ("[Markup('<b>bold</b>'), 'second error'] | [('warning', 'careful')] | []")
    assert rows[8][1] == "[message:plain][warning:careful][error:<b>bold</b>][error:second error]"
    assert rows[9][1] == ""


def test_flash_outside_request_fails() -> None:
    app = Erlen(__name__)
    with app.app_context(), pytest.raises(RuntimeError, match="request context"):
        flash("x")
    with app.app_context(), pytest.raises(RuntimeError):
        get_flashed_messages()


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s["a"],
        lambda s: s.get("zz"),
        lambda s: "a" in s,
        lambda s: s.__setitem__("b", 2),
        lambda s: s.__delitem__("a"),
        lambda s: s.setdefault("a", 5),
        lambda s: s.setdefault("new", 5),
        lambda s: s.pop("a"),
        lambda s: s.pop("missing", None),
        lambda s: s.popitem(),
        lambda s: s.update(c=3),
        lambda s: s.clear(),
        lambda s: len(s),
        lambda s: list(s.items()),
    ],
)
def test_modified_tracking_matches_flask(operation: Callable[[Any], Any]) -> None:
    ours, theirs = SecureCookieSession({"a": 1}), flask.sessions.SecureCookieSession({"a": 1})
    assert operation(ours) == operation(theirs)
    assert ours.modified == theirs.modified
    assert dict(ours) == dict(theirs)


# -- docs/sessions.md runs as written ------------------------------------------------------


def test_sessions_doc_runs() -> None:
    assert run_markdown(Path(__file__).resolve().parents[2] / "docs" / "sessions.md") >= 12


def test_naive_datetime_and_microseconds() -> None:
    app = Erlen(__name__)
    app.secret_key = "k"
    naive = datetime(2024, 1, 2, 3, 4, 5, 678)

    @app.route("/set")
    def set_value() -> str:
        session["when"] = naive
        return ""

    @app.route("/get")
    def get_value() -> str:
        return repr(session["when"])

    client = app.test_client()
    client.get("/set")
    assert client.get("/get").text == repr(naive.replace(microsecond=0, tzinfo=timezone.utc))


def test_get_opened_session_looks_without_opening() -> None:
    from erlen.sessions import get_opened_session

    app = Erlen(__name__)
    app.secret_key = "dev"
    seen: list[Any] = []

    @app.route("/set")
    def set_value() -> str:
        session["x"] = 1
        return "set"

    @app.route("/<touch>")
    def index(touch: str) -> str:
        if touch == "yes":
            seen.append(session.get("x"))
        return "ok"

    @app.after_request
    def look(response: Any) -> Any:
        opened = get_opened_session()
        seen.append(None if opened is None else dict(opened))
        return response

    assert get_opened_session() is None  # outside a request
    client = app.test_client()
    client.get("/set")
    seen.clear()
    untouched = client.get("/no")
    assert seen == [None] and "Vary" not in untouched.headers
    seen.clear()
    touched = client.get("/yes")
    assert seen == [1, {"x": 1}] and touched.headers["Vary"] == "Cookie"


@pytest.mark.parametrize(
    ("login", "refreshed", "verified"),
    [
        ("/browser-session", False, False),  # peeked at: no "_permanent", never verified
        ("/login", True, True),
        ("/big-permanent", True, True),  # compressed: not peeked at, opened
        ("/nested", False, True),  # "_permanent" in the payload: opened to know
    ],
)
def test_an_untouched_session_is_opened_only_when_it_may_need_a_refresh(
    login: str, refreshed: bool, verified: bool, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = observe(build_permanent, [login, "/untouched"], protocol)
    assert bool(rows[1][3]) is refreshed  # the same Set-Cookie (or none) as Flask's
    checked: list[str] = []
    loads = erlen.sessions._CookieSigner.loads

    def counting_loads(self: Any, value: str, max_age: int) -> Any:
        checked.append(value)
        return loads(self, value, max_age)

    monkeypatch.setattr(erlen.sessions._CookieSigner, "loads", counting_loads)
    client = build_permanent(erlen).test_client(asgi=protocol == "asgi")
    client.get(login)
    assert bool("Set-Cookie" in client.get("/untouched").headers) is refreshed
    assert bool(checked) is verified


@pytest.mark.parametrize(
    "payload",
    [
        b'{"user":"mallory"}',  # not permanent: skipped without a check
        b'{"_permanent":true,"user":"mallory"}',  # claims permanence: checked, refused
    ],
)
def test_a_forged_session_cookie_untouched_is_answered_as_flask(
    payload: bytes, protocol: str
) -> None:
    import base64

    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    forged = f"{body}.aaaaaa.bm90IGEgc2lnbmF0dXJl"
    answers = []
    for mod in (flask, erlen):
        client = client_for(build_permanent(mod), protocol)
        client.set_cookie("session", forged)
        resp = client.get("/untouched")
        answers.append(
            (resp.status_code, resp.headers.get("Vary"), resp.headers.getlist("Set-Cookie"))
        )
    assert answers[0] == answers[1] == (200, None, [])
