"""The session cookie signer: Flask's exact cookie format, without itsdangerous on the hot path.

tests/unit/test_sessions.py covers the session's behaviour; this file covers the signing itself:
byte-for-byte equality with Flask's cookies, the checks made on a cookie after its signature
verified (timestamp, base64, zlib, JSON), key rotation with a config change on a live app,
customised interfaces (which go through itsdangerous), and ``add_vary``.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from base64 import urlsafe_b64encode
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import flask
import flask.sessions
import pytest
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer
from werkzeug.datastructures import Headers

import erlen
import erlen.sessions as sessions
from erlen import Erlen, Response
from erlen.sessions import SecureCookieSessionInterface, add_vary

NOW = 1_700_000_000
# Keys in sorted order: the JSON is written with sorted keys, and the tests compare reprs.
SMALL = {"tags": ("a", "b"), "user": 7}
# More than 128 bytes of JSON that compresses well: written as "." + zlib.
LARGE = {"blob": b"\x00" * 50, "items": [{"id": i, "name": "item"} for i in range(40)]}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``clock(t)``: Erlen's and itsdangerous's clocks both read ``t`` seconds."""

    def set_time(when: int) -> None:
        monkeypatch.setattr(sessions, "_now", lambda: when + 0.75)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: when)

    set_time(NOW)
    return set_time


def make_app(mod: ModuleType, secret: str | bytes = "shared secret", **config: Any) -> Any:
    app = (flask.Flask if mod is flask else Erlen)(__name__)
    app.secret_key = secret
    app.config.update(config)
    data: dict[str, Any] = {}

    @app.route("/write")
    def write() -> str:
        mod.session.update(data)
        return "written"

    @app.route("/read")
    def read() -> str:
        return repr(dict(mod.session))

    @app.route("/touch")
    def touch() -> str:
        mod.session["touched"] = True
        return repr({k: v for k, v in mod.session.items() if k != "touched"})

    app.data = data
    return app


def client_for(app: Any, protocol: str = "wsgi") -> Any:
    if isinstance(app, flask.Flask):
        return app.test_client()
    return app.test_client(asgi=protocol == "asgi")


def write_cookie(app: Any, data: dict[str, Any], protocol: str = "wsgi") -> str:
    app.data.clear()
    app.data.update(data)
    header = client_for(app, protocol).get("/write").headers["Set-Cookie"]
    return str(header.split(";")[0].split("=", 1)[1])


def read_with(app: Any, cookie: str, protocol: str = "wsgi") -> tuple[int, str]:
    client = client_for(app, protocol)
    client.set_cookie("session", cookie)
    resp = client.get("/read")
    return resp.status_code, resp.get_data(as_text=True)


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "large"])
def test_same_cookie_as_flask(data: dict[str, Any], clock: Any, protocol: str) -> None:
    flask_cookie = write_cookie(make_app(flask), data)
    erlen_cookie = write_cookie(make_app(erlen), data, protocol)
    assert erlen_cookie == flask_cookie
    assert erlen_cookie.startswith(".") is (data is LARGE)
    # And each framework reads the other's cookie.
    expected = (200, repr(data))
    assert read_with(make_app(erlen), flask_cookie, protocol) == expected
    assert read_with(make_app(flask), erlen_cookie) == expected


def test_flask_compressed_small_cookie_is_read(clock: Any, protocol: str) -> None:
    # Flask compresses any payload that zlib shortens; Erlen only tries above 128 bytes.
    data = {"x": "a" * 60}
    flask_cookie = write_cookie(make_app(flask), data)
    assert flask_cookie.startswith(".")
    erlen_cookie = write_cookie(make_app(erlen), data, protocol)
    assert not erlen_cookie.startswith(".")
    assert read_with(make_app(erlen), flask_cookie, protocol) == (200, repr(data))
    assert read_with(make_app(flask), erlen_cookie) == (200, repr(data))


def test_signs_with_bytes_key_and_other_digest(clock: Any) -> None:
    class Sha256(SecureCookieSessionInterface):
        digest_method = staticmethod(hashlib.sha256)

    class FlaskSha256(flask.sessions.SecureCookieSessionInterface):
        digest_method = staticmethod(hashlib.sha256)

    class PythonSha1(SecureCookieSessionInterface):
        # A digest OpenSSL's HMAC cannot take directly (Flask's default is such a function).
        digest_method = staticmethod(lambda string=b"": hashlib.sha1(string))

    ours, theirs = make_app(erlen, b"\xffbytes key"), make_app(flask, b"\xffbytes key")
    ours.session_interface, theirs.session_interface = Sha256(), FlaskSha256()
    assert write_cookie(ours, SMALL) == write_cookie(theirs, SMALL)
    assert read_with(ours, write_cookie(theirs, LARGE)) == (200, repr(LARGE))
    ours, theirs = make_app(erlen), make_app(flask)
    ours.session_interface = PythonSha1()
    assert write_cookie(ours, LARGE) == write_cookie(theirs, LARGE)
    assert read_with(ours, write_cookie(theirs, SMALL)) == (200, repr(SMALL))


class _Sha256CalledSha1:
    """A digest that names itself ``sha1`` but computes SHA-256."""

    name = "sha1"
    digest_size = 32
    block_size = 64

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashlib.sha256(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()

    def copy(self) -> _Sha256CalledSha1:
        other = _Sha256CalledSha1()
        other._h = self._h.copy()
        return other


@pytest.mark.parametrize(
    "digest",
    [hashlib.sha1, hashlib.sha256, hashlib.blake2b, "sha512", _Sha256CalledSha1],
    ids=["sha1", "sha256", "blake2b", "name", "misnamed"],
)
def test_hmac_template_gives_hmac_digests(digest: Any) -> None:
    # The signer may use OpenSSL's HMAC object directly; only when it agrees with hmac.new.
    import hmac

    template = sessions._hmac_template(b"key", digest)
    mac = template.copy()
    mac.update(b"payload.stamp")
    assert mac.digest() == hmac.new(b"key", b"payload.stamp", digest).digest()


def test_fallback_key_accepted_and_resigned(clock: Any, protocol: str) -> None:
    old_cookie = write_cookie(make_app(flask, "old"), {"who": "me"})
    rotated = make_app(erlen, "new", SECRET_KEY_FALLBACKS=["older", "old"])
    client = client_for(rotated, protocol)
    client.set_cookie("session", old_cookie)
    resp = client.get("/touch")
    assert resp.text == "{'who': 'me'}"
    new_cookie = resp.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    # Re-signed with the current key, exactly as Flask would sign it.
    assert new_cookie == write_cookie(make_app(flask, "new"), {"who": "me", "touched": True})
    assert read_with(make_app(erlen, "new"), old_cookie, protocol) == (200, "{}")


def test_key_change_on_a_live_app(clock: Any, protocol: str) -> None:
    app = make_app(erlen, "first")
    cookie = write_cookie(app, {"n": 1}, protocol)
    assert read_with(app, cookie, protocol) == (200, "{'n': 1}")
    app.secret_key = "second"
    assert read_with(app, cookie, protocol) == (200, "{}")
    app.config["SECRET_KEY_FALLBACKS"] = ("first",)
    assert read_with(app, cookie, protocol) == (200, "{'n': 1}")
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert read_with(app, cookie, protocol) == (200, "{}")
    interface = app.session_interface
    interface.salt = "another salt"
    assert read_with(app, write_cookie(app, {"n": 2}, protocol), protocol) == (200, "{'n': 2}")
    other = URLSafeTimedSerializer(
        "second",
        salt="another salt",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    assert other.loads(write_cookie(app, {"n": 3}, protocol)) == {"n": 3}


def set_cookie_header(app: Any, data: dict[str, Any], protocol: str = "wsgi") -> str:
    """The ``Set-Cookie`` header of a write, with any ``Expires`` date taken out."""
    app.data.clear()
    app.data.update(data)
    resp = client_for(app, protocol).get("/write")
    assert resp.headers["Vary"] == "Cookie"
    (header,) = resp.headers.getlist("Set-Cookie")
    return re.sub(r"; Expires=[^;]+", "; Expires=(date)", str(header))


# Settings changed on a live app, one after the other (each on top of the ones before).
LIVE_CHANGES: list[dict[str, Any]] = [
    {},
    {"SESSION_COOKIE_NAME": "sid"},
    {"SESSION_COOKIE_HTTPONLY": False, "SESSION_COOKIE_SECURE": True},
    {"SESSION_COOKIE_DOMAIN": "example.com"},
    {"SESSION_COOKIE_SAMESITE": "Lax", "SESSION_COOKIE_PARTITIONED": True},
    {"SESSION_COOKIE_PATH": "/app"},
    {"SESSION_COOKIE_PATH": None, "APPLICATION_ROOT": "/root"},
    {"SESSION_COOKIE_SAMESITE": "Strict", "SESSION_COOKIE_DOMAIN": None},
    {"SECRET_KEY": "another key"},
    {"PERMANENT_SESSION_LIFETIME": 3600},
]


def test_live_setting_changes_make_flasks_cookie(clock: Any, protocol: str) -> None:
    # The default interface works its settings out once per config version: every change
    # on a live app must still give the header Flask gives with the same settings.
    ours, theirs = make_app(erlen), make_app(flask)
    for change in LIVE_CHANGES:
        ours.config.update(change)
        theirs.config.update(change)
        for data in ({"user": 7}, {"user": 7, "_permanent": True}, LARGE):
            expected = set_cookie_header(theirs, data)
            assert set_cookie_header(ours, data, protocol) == expected, change
            assert ("Expires=" in expected) is ("_permanent" in data)


def test_live_fallback_list_changed_in_place(clock: Any, protocol: str) -> None:
    old_cookie = write_cookie(make_app(flask, "old"), {"who": "me"})
    app = make_app(erlen, "new", SECRET_KEY_FALLBACKS=[])
    assert read_with(app, old_cookie, protocol) == (200, "{}")
    app.config["SECRET_KEY_FALLBACKS"].append("old")  # no config write: a list changed in place
    assert read_with(app, old_cookie, protocol) == (200, "{'who': 'me'}")
    app.config["SECRET_KEY_FALLBACKS"].clear()
    assert read_with(app, old_cookie, protocol) == (200, "{}")


def test_live_max_cookie_size(clock: Any, protocol: str) -> None:
    app = make_app(erlen)
    header = set_cookie_header(app, {"user": 7}, protocol)
    app.config["MAX_COOKIE_SIZE"] = len(header) - 1
    with pytest.warns(UserWarning, match="cookie is too large"):
        assert set_cookie_header(app, {"user": 7}, protocol) == header
    app.config["MAX_COOKIE_SIZE"] = 0  # no limit
    assert set_cookie_header(app, {"user": 7, "x": "y" * 5000}, protocol).startswith("session=")


def test_interface_replaced_on_the_instance_after_first_request(clock: Any, protocol: str) -> None:
    app = make_app(erlen)
    interface = app.session_interface
    assert set_cookie_header(app, {"user": 7}, protocol).endswith("; HttpOnly; Path=/")
    interface.get_cookie_path = lambda app: "/mounted"  # type: ignore[method-assign]
    assert set_cookie_header(app, {"user": 7}, protocol).endswith("; HttpOnly; Path=/mounted")
    interface.should_set_cookie = lambda app, session: False  # type: ignore[method-assign]
    app.data.update(user=8)
    resp = client_for(app, protocol).get("/write")
    assert "Set-Cookie" not in resp.headers and resp.headers["Vary"] == "Cookie"
    del interface.should_set_cookie, interface.get_cookie_path
    assert set_cookie_header(app, {"user": 7}, protocol).endswith("; HttpOnly; Path=/")


def test_overridden_methods_are_called_per_request(clock: Any, protocol: str) -> None:
    calls: list[str] = []

    class Counting(SecureCookieSessionInterface):
        def get_cookie_name(self, app: Any) -> str:
            calls.append("name")
            return "counted"

    class Headline(Response):
        def set_cookie(self, key: str, value: str = "", **options: Any) -> None:
            calls.append("set_cookie")
            super().set_cookie(key, value, **options)

    app = make_app(erlen)
    app.session_interface = Counting()
    for _ in range(2):
        assert set_cookie_header(app, {"user": 7}, protocol).startswith("counted=")
    assert calls.count("name") >= 2
    app.response_class = Headline
    plain = make_app(erlen)
    plain.response_class = Headline
    expected = set_cookie_header(make_app(erlen), {"user": 7}, protocol)
    assert set_cookie_header(plain, {"user": 7}, protocol) == expected
    assert "set_cookie" in calls


def test_interface_shared_by_two_apps(clock: Any, protocol: str) -> None:
    # Each app keeps its own plan: alternating requests neither mix their settings up nor
    # rebuild the plans on every request.
    first, second = make_app(erlen), make_app(erlen, "other key", SESSION_COOKIE_NAME="sid")
    second.session_interface = first.session_interface
    flask_first = make_app(flask)
    flask_second = make_app(flask, "other key", SESSION_COOKIE_NAME="sid")
    for _ in range(2):
        assert set_cookie_header(first, {"user": 7}, protocol) == set_cookie_header(
            flask_first, {"user": 7}
        )
        assert set_cookie_header(second, {"user": 7}, protocol) == set_cookie_header(
            flask_second, {"user": 7}
        )
    interface = first.session_interface
    plans = (interface._plan(first), interface._plan(second))
    assert plans[0] is not plans[1]
    set_cookie_header(second, {"user": 8}, protocol)
    assert interface._plan(first) is plans[0]  # not rebuilt by the other app's request


def test_a_shared_interface_keeps_no_app_alive(protocol: str) -> None:
    """An interface shared by many apps (a class attribute, a test fixture) does not keep
    the apps it made plans for, and forgets their plans once they are gone."""
    import gc
    import weakref

    shared = SecureCookieSessionInterface()
    gone = []
    for n in range(3):
        app = make_app(erlen)
        app.session_interface = shared
        set_cookie_header(app, {"user": n}, protocol)
        gone.append(weakref.ref(app))
        del app
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]
    survivor = make_app(erlen)
    survivor.session_interface = shared
    set_cookie_header(survivor, {"user": 1}, protocol)
    assert len(shared._plans or {}) == 1


def test_bad_samesite_fails_when_the_cookie_is_set(protocol: str) -> None:
    app = make_app(erlen, SESSION_COOKIE_SAMESITE="invalid")
    app.testing = True
    steps: list[str] = []

    @app.route("/use")
    def use() -> str:
        erlen.session["n"] = 1
        steps.append("view ran")
        return "ok"

    with pytest.raises(ValueError, match="SameSite"):
        client_for(app, protocol).get("/use")
    assert steps == ["view ran"]


@pytest.mark.parametrize("offset", [-1, 0, 1, 59, 60, 61, 10**6])
def test_timestamp_limits_as_flask(offset: int, clock: Any, protocol: str) -> None:
    config = {"PERMANENT_SESSION_LIFETIME": 60}
    cookie = write_cookie(make_app(flask, **config), {"who": "me"})
    clock(NOW + offset)
    ours = read_with(make_app(erlen, **config), cookie, protocol)
    theirs = read_with(make_app(flask, **config), cookie)
    assert ours == theirs
    assert ours == (200, "{'who': 'me'}" if 0 <= offset <= 60 else "{}")


def sign(body: bytes, key: str = "shared secret", salt: str = "cookie-session") -> str:
    """Sign ``payload.timestamp`` as the session signer does, whatever it holds."""
    signer = Signer(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha1)
    return signer.sign(body).decode("latin-1")


def b64(data: bytes) -> bytes:
    return urlsafe_b64encode(data).rstrip(b"=")


STAMP = b64(NOW.to_bytes(4, "big"))
GOOD = b64(b'{"who":"me"}')


def test_signed_helper_makes_a_good_cookie(clock: Any) -> None:
    cookie = sign(GOOD + b"." + STAMP)
    assert cookie == write_cookie(make_app(flask), {"who": "me"})
    assert read_with(make_app(erlen), cookie) == (200, "{'who': 'me'}")


# Cookies whose signature verifies, but whose contents are bad: itsdangerous raises on
# these after the signature check (Flask even lets its BadPayload through as a 500).
# (A tagged value that does not parse is no error: Flask reads a bad date as None.)
SIGNED_BUT_BAD = {
    "timestamp of 9 bytes": GOOD + b"." + b64(b"\x01" * 9),
    "timestamp not base64": GOOD + b"." + b"A",
    "empty timestamp": GOOD + b".",
    "no timestamp": GOOD,
    "payload not base64": b"A." + STAMP,
    "payload not zlib": b"." + GOOD + b"." + STAMP,
    "payload zlib of junk json": b"." + b64(zlib.compress(b"{nope")) + b"." + STAMP,
    "payload not utf-8": b64(b'{"a":"\xff"}') + b"." + STAMP,
    "payload not json": b64(b"{nope") + b"." + STAMP,
    "json list": b64(b"[1, 2]") + b"." + STAMP,
    "json string": b64(b'"text"') + b"." + STAMP,
    "json null": b64(b"null") + b"." + STAMP,
    "bad tagged uuid": b64(b'{"u":{" u":"xyz"}}') + b"." + STAMP,
    "deep json": b"."
    + b64(zlib.compress(b'{"a":' + b"[" * 10**5 + b"]" * 10**5 + b"}"))
    + b"."
    + STAMP,
}


@pytest.mark.parametrize("body", SIGNED_BUT_BAD.values(), ids=SIGNED_BUT_BAD.keys())
def test_signed_bad_contents_give_empty_session(body: bytes, clock: Any, protocol: str) -> None:
    assert read_with(make_app(erlen), sign(body), protocol) == (200, "{}")


def tampered() -> dict[str, str]:
    good = sign(GOOD + b"." + STAMP)
    payload, stamp, sig = good.split(".")
    return {
        "payload": b64(b'{"who":"admin"}').decode() + "." + stamp + "." + sig,
        # (The first character: the last one carries bits base64 ignores.)
        "signature": payload + "." + stamp + "." + ("A" if sig[0] != "A" else "B") + sig[1:],
        "timestamp": payload + "." + b64((NOW + 1).to_bytes(4, "big")).decode() + "." + sig,
        "missing signature": payload + "." + stamp,
        "empty signature": payload + "." + stamp + ".",
        "signature not base64": payload + "." + stamp + "." + sig[:-1],
        "wrong key": sign(GOOD + b"." + STAMP, key="other"),
        "wrong salt": sign(GOOD + b"." + STAMP, salt="other"),
        "garbage": "garbage",
        "dots": "...",
        "non-ascii": "é." + stamp + "." + sig,
        "long": "e30." + "A" * 3000,
    }


@pytest.mark.parametrize("name", list(tampered()))
def test_tampered_cookies_give_empty_session(name: str, clock: Any, protocol: str) -> None:
    assert read_with(make_app(erlen), tampered()[name], protocol) == (200, "{}")


def open_directly(app: Any, value: str) -> Any:
    request = SimpleNamespace(cookies={"session": value})
    return app.session_interface.open_session(app, request)


def variants(cookie: str) -> list[str]:
    """Spellings of a cookie that itsdangerous may or may not accept (it decodes leniently)."""
    payload, stamp, sig = cookie.rsplit(".", 2)
    return [
        cookie,
        cookie + "=",
        cookie + "==",
        cookie + "!",
        cookie + "é",
        payload + "." + stamp + ".=" + sig,
        payload + "." + stamp + "." + sig.replace("-", "+").replace("_", "/"),
        payload + "." + stamp + "." + sig[:5] + "\n" + sig[5:],
        payload + "." + stamp + "x." + sig,
        "x" + cookie,
        "." + cookie,
        cookie + "." + sig,
        cookie.replace(".", "..", 1),
        "\udcff" + cookie,
    ]


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "large"])
def test_accepts_what_itsdangerous_accepts(data: dict[str, Any], clock: Any) -> None:
    app = make_app(erlen)
    cookie = write_cookie(app, data)
    serializer = app.session_interface.get_signing_serializer(app)
    for value in variants(cookie):
        try:
            expected = serializer.loads(value, max_age=3600)
        except Exception:
            expected = {}
        assert dict(open_directly(app, value)) == expected, value
    assert dict(open_directly(app, cookie)) == data


def test_fast_path_does_not_use_itsdangerous(
    clock: Any, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("itsdangerous was used")

    app = make_app(erlen)
    cookie = write_cookie(app, LARGE, protocol)
    monkeypatch.setattr(URLSafeTimedSerializer, "loads", fail)
    monkeypatch.setattr(URLSafeTimedSerializer, "dumps", fail)
    client = client_for(app, protocol)
    client.set_cookie("session", cookie)
    resp = client.get("/touch")
    assert resp.text == repr(LARGE)
    assert "Set-Cookie" in resp.headers


def test_get_signing_serializer_is_flasks(clock: Any) -> None:
    app = make_app(erlen, "key", SECRET_KEY_FALLBACKS=["older", "old"])
    theirs = make_app(flask, "key", SECRET_KEY_FALLBACKS=["older", "old"])
    ours_s = app.session_interface.get_signing_serializer(app)
    flask_s = theirs.session_interface.get_signing_serializer(theirs)
    assert type(ours_s) is URLSafeTimedSerializer
    assert ours_s.secret_keys == flask_s.secret_keys == [b"older", b"old", b"key"]
    assert ours_s.salt == flask_s.salt
    assert ours_s.signer_kwargs["key_derivation"] == "hmac"
    assert ours_s.serializer is sessions.session_json_serializer
    with theirs.app_context():
        flask_cookie = flask_s.dumps(SMALL)
    assert ours_s.dumps(SMALL) == flask_cookie == write_cookie(app, SMALL)
    # Cached while the keys are unchanged, rebuilt when they change.
    assert app.session_interface.get_signing_serializer(app) is ours_s
    app.config["SECRET_KEY_FALLBACKS"] = None
    assert app.session_interface.get_signing_serializer(app).secret_keys == [b"key"]
    app.secret_key = None
    assert app.session_interface.get_signing_serializer(app) is None


class SaltedInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Any) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        return URLSafeTimedSerializer(
            app.secret_key,
            salt="my-salt",
            serializer=self.serializer,
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
        )


def test_overridden_get_signing_serializer_is_used(clock: Any, protocol: str) -> None:
    app = make_app(erlen)
    app.session_interface = SaltedInterface()
    cookie = write_cookie(app, LARGE, protocol)
    assert read_with(app, cookie, protocol) == (200, repr(LARGE))
    assert read_with(make_app(erlen), cookie, protocol) == (200, "{}")
    assert read_with(app, write_cookie(make_app(erlen), SMALL), protocol) == (200, "{}")
    assert sign_and_read_salted() == {"who": "me"}
    for bad in ("garbage", cookie[:-3], sign(b"A." + STAMP, salt="my-salt")):
        assert read_with(app, bad, protocol) == (200, "{}")


def sign_and_read_salted() -> Any:
    app = make_app(erlen)
    app.session_interface = SaltedInterface()
    return dict(open_directly(app, sign(GOOD + b"." + STAMP, salt="my-salt")))


def test_other_key_derivation_interoperates_with_flask(clock: Any, protocol: str) -> None:
    class Concat(SecureCookieSessionInterface):
        key_derivation = "concat"

    class FlaskConcat(flask.sessions.SecureCookieSessionInterface):
        key_derivation = "concat"

    ours, theirs = make_app(erlen), make_app(flask)
    ours.session_interface, theirs.session_interface = Concat(), FlaskConcat()
    cookie = write_cookie(ours, SMALL, protocol)
    assert cookie == write_cookie(theirs, SMALL)
    assert cookie != write_cookie(make_app(erlen), SMALL)
    assert read_with(theirs, cookie) == (200, repr(SMALL))
    assert read_with(ours, write_cookie(theirs, LARGE), protocol) == (200, repr(LARGE))
    assert read_with(ours, write_cookie(make_app(flask), SMALL), protocol) == (200, "{}")


def reference_add_vary(headers: Any, value: str) -> None:
    """``add_vary`` as it was before it learned to look in the header list directly."""
    current = headers.get("Vary")
    if not current:
        headers["Vary"] = value
    elif value.lower() not in (v.strip().lower() for v in current.split(",")):
        headers["Vary"] = f"{current}, {value}"


class DictHeaders(dict[str, str]):
    """Headers without Werkzeug's list (``add_vary`` must not rely on it)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


@pytest.mark.parametrize(
    "before",
    [
        [],
        [("Vary", "Cookie")],
        [("vary", "cookie")],
        [("Vary", "")],
        [("Vary", "Accept-Encoding")],
        [("VARY", "Accept-Encoding,COOKIE")],
        [("Vary", "Accept-Encoding , Cookie , Origin")],
        [("Vary", "Cookies")],
        [("Vary", "*")],
        [("Vary", "Origin"), ("Vary", "Cookie")],
        [("Content-Type", "text/plain"), ("X-Vary", "Cookie")],
    ],
)
@pytest.mark.parametrize("kind", ["response", "werkzeug", "dict"])
def test_add_vary_unchanged(before: list[tuple[str, str]], kind: str) -> None:
    def build() -> Any:
        if kind == "response":
            resp = Response("x")
            resp.headers.extend(before)
            return resp
        if kind == "werkzeug":
            return SimpleNamespace(headers=Headers(before))
        if len({k.lower() for k, _ in before}) < len(before):
            pytest.skip("a dict holds one value per name")
        return SimpleNamespace(headers=DictHeaders(before))

    for value in ("Cookie", "Origin"):
        ours, reference = build(), build()
        add_vary(ours, value)
        reference_add_vary(reference.headers, value)
        assert list(ours.headers.items()) == list(reference.headers.items())
