"""erlen.contrib.redis_session against a real Redis server, through both doors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import services
from erlen import Erlen, session
from erlen.contrib.redis_session import RedisSessionInterface


class Env:
    """An app whose sessions live in Redis under a key prefix of its own."""

    def __init__(self, redis: Any, prefix: str, **options: Any) -> None:
        self.redis = redis
        self.prefix = prefix
        app = Erlen(__name__)
        app.config.update(SECRET_KEY="test secret", PERMANENT_SESSION_LIFETIME=timedelta(days=2))
        self.interface = RedisSessionInterface(redis, key_prefix=prefix, **options)
        app.session_interface = self.interface
        self.app = app

        @app.get("/set/<key>/<value>")
        def set_value(key: str, value: str) -> Any:
            session[key] = value
            return "ok"

        @app.get("/get")
        def get() -> Any:
            return dict(session)

        @app.get("/nothing")
        def nothing() -> Any:
            return "no session here"

        @app.post("/login/<name>")
        def login(name: str) -> Any:
            session.regenerate()  # type: ignore[attr-defined]
            session["user"] = name
            return "welcome"

        @app.post("/relogin/<name>")
        def relogin(name: str) -> Any:
            session.clear()
            session["user"] = name
            return "welcome again"

        @app.post("/logout")
        def logout() -> Any:
            session.clear()
            return "bye"

        @app.get("/pop/<key>")
        def pop(key: str) -> Any:
            session.pop(key, None)
            return "popped"

        @app.get("/rich")
        def rich() -> Any:
            session["rich"] = {
                "when": datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc),
                "pair": (1, 2),
                "raw": b"\x00\x01",
                "id": uuid.UUID(int=7),
            }
            return "stored"

        @app.get("/async/set/<key>/<value>")
        async def async_set(key: str, value: str) -> Any:
            session[key] = value
            return "ok"

        @app.get("/async/get")
        async def async_get() -> Any:
            return dict(session)

    def keys(self) -> list[str]:
        return sorted(k.decode() for k in self.redis.scan_iter(match=self.prefix + "*"))

    def sid_of(self, client: Any) -> str | None:
        cookie = client.get_cookie("session")
        if cookie is None:
            return None
        signer = self.interface.get_signer(self.app)
        assert signer is not None
        return str(signer.unsign(cookie.value).decode())

    def stored(self, sid: str) -> Any:
        raw = self.redis.get(self.prefix + sid)
        return None if raw is None else json.loads(raw)


@pytest.fixture
def redis_env() -> Iterator[tuple[Any, str]]:
    with services.redis_prefix(services.redis_url()) as pair:
        yield pair


@pytest.fixture
def env(redis_env: tuple[Any, str]) -> Env:
    return Env(*redis_env)


def test_data_lives_in_redis_and_cookie_holds_a_signed_id(env: Env, client: Any) -> None:
    c = client(env.app)
    r = c.get("/set/color/blue")
    assert "Cookie" in r.headers["Vary"]
    sid = env.sid_of(c)
    assert sid is not None and len(sid) >= 43  # 32 random bytes, URL-safe
    assert "blue" not in c.get_cookie("session").value
    assert env.keys() == [env.prefix + sid]
    assert env.stored(sid) == {"color": "blue"}
    assert 2 * 86400 - 60 < env.redis.ttl(env.prefix + sid) <= 2 * 86400
    assert c.get("/get").json == {"color": "blue"}
    c.get("/set/size/L")
    assert env.sid_of(c) == sid
    assert c.get("/get").json == {"color": "blue", "size": "L"}
    assert c.get("/async/get").json == {"color": "blue", "size": "L"}
    c.get("/async/set/size/XL")
    assert env.stored(sid) == {"color": "blue", "size": "XL"}


def test_anonymous_visitors_cost_nothing(env: Env, client: Any) -> None:
    c = client(env.app)
    for path in ("/get", "/nothing", "/async/get", "/pop/x"):
        r = c.get(path)
        assert "Set-Cookie" not in r.headers, path
    assert env.keys() == []
    assert "Cookie" in c.get("/get").headers["Vary"]
    assert "Vary" not in c.get("/nothing").headers


def test_tagged_json_not_pickle(env: Env, client: Any) -> None:
    c = client(env.app)
    c.get("/rich")
    sid = env.sid_of(c)
    assert sid is not None
    raw = env.redis.get(env.prefix + sid)
    assert raw.startswith(b"{")
    json.loads(raw)  # plain JSON text
    with env.app.test_request_context(
        headers={"Cookie": f"session={c.get_cookie('session').value}"}
    ):
        rich = session["rich"]
    assert rich == {
        "when": datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc),
        "pair": (1, 2),
        "raw": b"\x00\x01",
        "id": uuid.UUID(int=7),
    }


def test_tampered_cookie_gives_a_new_empty_session(env: Env, client: Any) -> None:
    c = client(env.app)
    c.get("/set/user/alice")
    good = c.get_cookie("session").value
    sid, _, sig = good.rpartition(".")
    forged = [
        f"{sid}.{'A' * len(sig)}",
        f"{sid[:-1]}{'B' if sid[-1] != 'B' else 'C'}.{sig}",
        sid,
        "garbage",
        f"{'../' * 10}.{sig}",
    ]
    for value in forged:
        other = client(env.app)
        other.set_cookie("session", value)
        assert other.get("/get").json == {}, value
        other.get("/set/user/mallory")
        assert env.sid_of(other) != sid
    assert env.stored(sid) == {"user": "alice"}


def test_unknown_id_is_never_adopted(env: Env, client: Any) -> None:
    """A validly signed id with no data (expired, or planted) is replaced, not reused."""
    c = client(env.app)
    signer = env.interface.get_signer(env.app)
    assert signer is not None
    planted = "p" * 43
    c.set_cookie("session", signer.sign(planted).decode())
    assert c.get("/get").json == {}
    c.get("/set/user/victim")
    assert env.sid_of(c) != planted
    assert env.stored(planted) is None


def test_logout_ends_the_session_for_replayed_cookies(env: Env, client: Any) -> None:
    c = client(env.app)
    c.post("/login/alice")
    stolen = c.get_cookie("session").value
    sid = env.sid_of(c)
    assert sid is not None and env.stored(sid) == {"user": "alice"}
    r = c.post("/logout")
    assert "session=;" in r.headers["Set-Cookie"]  # deleted
    assert c.get_cookie("session") is None
    assert env.keys() == []
    replay = client(env.app)
    replay.set_cookie("session", stolen)
    assert replay.get("/get").json == {}


def test_login_rotates_the_id(env: Env, client: Any) -> None:
    c = client(env.app)
    c.get("/set/cart/3")
    before = env.sid_of(c)
    c.post("/login/alice")
    after = env.sid_of(c)
    assert before and after and before != after
    assert env.stored(before) is None  # the pre-login id is dead
    assert env.stored(after) == {"cart": "3", "user": "alice"}
    # clear() then writing (a re-login) also gets a fresh id, without the old data.
    c.post("/relogin/bob")
    third = env.sid_of(c)
    assert third not in (before, after)
    assert env.stored(after) is None
    assert env.stored(third) == {"user": "bob"}
    assert env.keys() == [env.prefix + third]


def test_emptied_session_deletes_its_key(env: Env, client: Any) -> None:
    c = client(env.app)
    c.get("/set/only/1")
    assert len(env.keys()) == 1
    r = c.get("/pop/only")
    assert env.keys() == []
    assert "session=;" in r.headers["Set-Cookie"]


def test_cookie_lifetime_and_refresh(redis_env: tuple[Any, str], client: Any) -> None:
    env = Env(*redis_env)
    env.app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=5)
    c = client(env.app)
    c.get("/set/a/1")
    cookie = c.get_cookie("session")
    assert cookie.expires is not None
    sid = env.sid_of(c)
    assert 240 < env.redis.ttl(env.prefix + sid) <= 300
    env.redis.expire(env.prefix + sid, 10)
    r = c.get("/get")  # unmodified, but permanent sessions are refreshed each request
    assert "session=" in r.headers["Set-Cookie"]
    assert env.redis.ttl(env.prefix + sid) > 240
    env.app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert "Set-Cookie" not in c.get("/get").headers
    # Browser-session cookies with permanent=False; Redis still expires the data.
    browser = Env(*redis_env, permanent=False)
    bc = client(browser.app)
    r = bc.get("/set/a/1")
    assert "Expires" not in r.headers["Set-Cookie"]
    assert "Set-Cookie" not in bc.get("/get").headers
    bsid = browser.sid_of(bc)
    assert 0 < env.redis.ttl(browser.prefix + bsid) <= 2 * 86400


def test_secret_key_rotation(env: Env, client: Any) -> None:
    c = client(env.app)
    c.get("/set/a/1")
    old_cookie = c.get_cookie("session").value
    env.app.config.update(SECRET_KEY="new secret", SECRET_KEY_FALLBACKS=["test secret"])
    assert c.get("/get").json == {"a": "1"}  # verified with the fallback, re-signed
    assert c.get_cookie("session").value != old_cookie
    env.app.config["SECRET_KEY_FALLBACKS"] = []
    assert c.get("/get").json == {"a": "1"}
    stale = client(env.app)
    stale.set_cookie("session", old_cookie)
    assert stale.get("/get").json == {}


def test_secret_key_needed_unless_unsigned(redis_env: tuple[Any, str], client: Any) -> None:
    env = Env(*redis_env)
    env.app.config["SECRET_KEY"] = None
    env.app.testing = True
    with pytest.raises(RuntimeError, match="secret key"):
        client(env.app).get("/set/a/1")
    unsigned = Env(*redis_env, use_signer=False)
    unsigned.app.config["SECRET_KEY"] = None
    c = client(unsigned.app)
    c.get("/set/a/1")
    sid = c.get_cookie("session").value
    assert unsigned.stored(sid) == {"a": "1"}
    assert c.get("/get").json == {"a": "1"}


def test_client_from_url_or_config(redis_env: tuple[Any, str], client: Any) -> None:
    _, prefix = redis_env
    url = services.redis_url()
    for interface in (
        RedisSessionInterface(url, key_prefix=prefix),
        RedisSessionInterface(key_prefix=prefix),
    ):
        app = Erlen(__name__)
        app.config.update(SECRET_KEY="s", SESSION_REDIS_URL=url)
        app.session_interface = interface

        @app.get("/")
        def index() -> Any:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

        c = client(app)
        assert c.get("/").data == b"1"
        assert c.get("/").data == b"2"
        interface.get_redis(app).close()
    with pytest.raises(ValueError, match="32"):
        RedisSessionInterface(sid_length=16)


# -- docs/caching.md: the Redis sessions example runs as written ------------------------------

DOC = Path(__file__).resolve().parents[3] / "docs" / "caching.md"


def doc_block(name: str) -> str:
    """Return the python block of docs/caching.md whose first line is ``# name``."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return str(block)
    raise LookupError(f"docs/caching.md has no block starting with '# {name}'")


def test_docs_sessions_example(
    redis_env: tuple[Any, str], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis, prefix = redis_env
    monkeypatch.setenv("REDIS_URL", services.redis_url())
    namespace: dict[str, Any] = {"__name__": "docs_sessions"}
    exec(compile(doc_block("sessions.py"), str(DOC), "exec"), namespace)
    app = namespace["app"]
    app.session_interface.key_prefix = prefix  # this test's own keys
    c = client(app)
    try:
        assert c.post("/login", data={"name": "alice", "password": "nope"}).status_code == 401
        assert c.get("/me").json == {"user": None}
        assert "Set-Cookie" not in c.get("/me").headers
        assert c.post("/login", data={"name": "alice", "password": "wonderland"}).json == {
            "user": "alice"
        }
        assert c.get("/me").json == {"user": "alice"}
        copied = c.get_cookie("session").value
        assert [k.decode() for k in redis.scan_iter(match=prefix + "*")] != []
        assert c.post("/logout").status_code == 204
        assert list(redis.scan_iter(match=prefix + "*")) == []
        thief = client(app)
        thief.set_cookie("session", copied)
        assert thief.get("/me").json == {"user": None}
    finally:
        app.session_interface.close()
