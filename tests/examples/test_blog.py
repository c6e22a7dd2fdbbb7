"""Erlenblog (``examples/blog``), the example application, through the test client.

Every test that can runs through both doors (the ``protocol`` fixture). WebSocket
connections always go through the ASGI door, as under a real server; the notification
stream is an ASGI feature by design (under WSGI it answers 204, tested too).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from erlen import Erlen
from erlen.contrib.passwords import check_password_hash, generate_password_hash
from erlen.testing import WebSocketDenied

ROOT = Path(__file__).resolve().parents[2]
BLOG = ROOT / "examples" / "blog"
if str(BLOG) not in sys.path:
    sys.path.insert(0, str(BLOG))

from erlenblog import create_app  # noqa: E402
from erlenblog.extensions import db, limiter, login_manager  # noqa: E402
from erlenblog.models import Post, User  # noqa: E402

PASSWORD = "correct horse"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Erlen]:
    # Nothing of a test may land in the repository's own instance folder.
    monkeypatch.setenv("ERLENBLOG_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'blog.sqlite'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "POSTS_PER_PAGE": 3,
        }
    )
    with app.app_context():
        limiter.reset()  # one limiter object serves every app built in this process
    yield app
    with app.app_context():
        db.engine.dispose()


class Visitor:
    """One browser: a test client with its cookies, and helpers for the site's forms."""

    def __init__(self, app: Erlen, protocol: str) -> None:
        self.app = app
        self.client = app.test_client(asgi=(protocol == "asgi"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def csrf(self, page: str = "/login") -> str:
        """The CSRF token that ``page`` embeds in its forms."""
        response = self.client.get(page)
        match = CSRF_FIELD.search(response.text)
        assert match is not None, f"no CSRF field on {page} ({response.status_code})"
        return match.group(1)

    def submit(self, page: str, action: str | None = None, **data: Any) -> Any:
        """Fill in a form of ``page`` (with its CSRF token) and post it to ``action``."""
        data["csrf_token"] = self.csrf(page)
        return self.client.post(action or page, data=data)

    def register(self, username: str, password: str = PASSWORD) -> Any:
        return self.submit("/register", username=username, password=password)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.submit("/login", username=username, password=password)

    def signed_up(self, username: str) -> Visitor:
        assert self.register(username).status_code == 302
        assert self.login(username).status_code == 302
        return self

    def write(self, title: str, body: str = "Some text.", **files: Any) -> Any:
        return self.submit("/posts/new", title=title, body=body, **files)


@pytest.fixture
def visitor(app: Erlen, protocol: str) -> Any:
    """``visitor()`` -> a new browser on the app, through the current door."""
    return lambda: Visitor(app, protocol)


def flashes(response: Any) -> list[str]:
    return re.findall(r'<div class="flash[^"]*" role="status">([^<]*)</div>', response.text)


def add_posts(app: Erlen, count: int, author: str = "writer") -> None:
    """Insert posts straight into the database (no cache invalidation, no notification)."""
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username=author)).scalar_one_or_none()
        if user is None:
            user = User(username=author, password_hash="x")
            db.session.add(user)
        for n in range(count):
            db.session.add(Post(title=f"Post {n + 1}", body=f"Body {n + 1}", author=user))
            db.session.flush()
        db.session.commit()


# -- accounts ------------------------------------------------------------------------------


def test_register_stores_a_hashed_password_then_login_works(app: Erlen, visitor: Any) -> None:
    ann = visitor()
    response = ann.register("ann")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Welcome, ann! You can log in now." in flashes(ann.get("/login"))
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username="ann")).scalar_one()
        assert PASSWORD not in user.password_hash
        assert check_password_hash(user.password_hash, PASSWORD)

    response = ann.login("ann")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = ann.get("/")
    assert "Hello, ann." in flashes(page)
    assert '<a href="/account" id="account">ann</a>' in page.text
    assert ann.get("/account").status_code == 200


def test_register_refuses_bad_names_short_passwords_and_taken_names(visitor: Any) -> None:
    ann = visitor()
    assert "A username has 3 to 40" in ann.register("a b").text
    assert "A password has at least 8 characters." in ann.register("ann", "short").text
    assert ann.register("ann").status_code == 302
    assert "The name ann is taken." in visitor().register("ann").text


def test_wrong_password_and_unknown_user_do_not_log_in(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    mallory = visitor()
    for name, password in (("ann", "wrong password"), ("nobody", PASSWORD)):
        response = mallory.login(name, password)
        assert response.status_code == 200
        assert "Incorrect username or password." in flashes(response)
    response = mallory.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert ann.get("/account").status_code == 200


def test_login_redirects_to_next_but_only_on_this_site(visitor: Any) -> None:
    visitor().register("ann")
    ann = visitor()
    token = ann.csrf("/login")
    form = {"username": "ann", "password": PASSWORD, "csrf_token": token}
    assert ann.post("/login?next=/account", data=form).headers["Location"] == "/account"
    ann.post("/logout", data={"csrf_token": ann.csrf("/account")})
    form["csrf_token"] = ann.csrf("/login")
    assert ann.post("/login?next=//evil.example/", data=form).headers["Location"] == "/"


def test_login_next_from_the_whole_table_stays_on_the_site(app: Erlen, protocol: str) -> None:
    """Every ``next`` of tests/redirect_targets.py, on the site's own login over HTTPS."""
    from erlen.contrib.auth import _url_origin
    from redirect_targets import HTTPS_BASE, HTTPS_CASES, SAFE, SITE

    app.config["RATELIMIT_ENABLED"] = False  # one login per target
    with app.app_context():
        # A cheap hash: this test is about redirects, not password hashing.
        cheap = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
        db.session.add(User(username="ann", password_hash=cheap))
        db.session.commit()
    client = app.test_client(asgi=(protocol == "asgi"))
    site = ("https", SITE, None)
    # HTTPS: the CSRF check also wants a same-origin Referer.
    headers = {"Referer": f"{HTTPS_BASE}/login"}
    for target, verdict in HTTPS_CASES:
        page = client.get("/login", base_url=HTTPS_BASE)
        match = CSRF_FIELD.search(page.text)
        assert match is not None
        form = {"username": "ann", "password": PASSWORD, "csrf_token": match.group(1)}
        response = client.post(
            "/login",
            query_string={"next": target},
            data=form,
            headers=headers,
            base_url=HTTPS_BASE,
        )
        assert response.status_code == 302, (target, response.status_code)
        location = response.headers["Location"]
        assert _url_origin(location, site) == site, (target, location)
        if verdict != SAFE:
            assert location == "/", (target, location)
        elif target != "/":
            assert location != "/", target  # a safe target is followed


def test_logout_ends_the_session_even_for_a_copied_cookie(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    cookie = ann.get_cookie("session").value
    response = ann.submit("/account", "/logout")
    assert response.status_code == 302
    assert ann.get("/account").status_code == 302
    thief = visitor()
    thief.set_cookie("session", cookie)
    assert thief.get("/account").status_code == 302  # the old session id was revoked


def test_logout_is_not_a_get(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    assert ann.get("/logout").status_code == 405
    assert ann.get("/account").status_code == 200


def test_login_attempts_are_rate_limited(
    app: Erlen, visitor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows are clock-aligned minutes: the limiter's clock stands still, so that the
    # eleven attempts never straddle a minute boundary (they would start a fresh count).
    limiter = app.extensions["limiter"]
    frozen = time.time()
    monkeypatch.setattr(limiter, "clock", lambda: frozen)
    monkeypatch.setattr(limiter._storages[app], "clock", lambda: frozen)
    visitor().register("ann")
    mallory = visitor()
    token = mallory.csrf("/login")
    form = {"username": "ann", "password": "guess", "csrf_token": token}
    codes = [mallory.post("/login", data=form).status_code for _ in range(11)]
    assert codes[:10] == [200] * 10
    assert codes[10] == 429
    response = mallory.post("/login", data=form)
    assert int(response.headers["Retry-After"]) > 0
    assert "Too Many Requests" in response.text


# -- CSRF --------------------------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_refused(app: Erlen, visitor: Any) -> None:
    stranger = visitor()
    response = stranger.post("/register", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 400
    assert "The CSRF token is missing." in response.text
    assert "<title>400 Bad Request" in response.text

    ann = visitor().signed_up("ann")
    response = ann.post("/posts/new", data={"title": "Forged", "body": "by a third party"})
    assert response.status_code == 400
    response = ann.post(
        "/posts/new", data={"title": "Forged", "body": "x", "csrf_token": "not-a-token"}
    )
    assert response.status_code == 400
    assert "The CSRF token is invalid." in response.text
    response = ann.post("/logout")
    assert response.status_code == 400
    assert ann.get("/account").status_code == 200  # still logged in
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Post.id))).scalar_one() == 0
        assert db.session.execute(db.select(User).filter_by(username="bob")).first() is None


def test_a_token_from_another_session_is_refused(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    bob = visitor().signed_up("bob")
    ann.csrf()  # ann's session has a CSRF secret of its own
    response = ann.post("/posts/new", data={"title": "t", "body": "b", "csrf_token": bob.csrf()})
    assert response.status_code == 400
    assert "The CSRF tokens do not match." in response.text


# -- posts ---------------------------------------------------------------------------------------


def test_create_edit_and_delete_a_post(app: Erlen, visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    response = ann.write("First post", "Hello <world>!")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert re.fullmatch(r"/posts/\d+", location)
    page = ann.get(location)
    assert "Your post is published." in flashes(page)
    assert "Hello &lt;world&gt;!" in page.text  # escaped
    assert f"{location}/edit" in page.text

    response = ann.submit(f"{location}/edit", title="First post, edited", body="New text")
    assert response.status_code == 302
    page = ann.get(location)
    assert "First post, edited" in page.text
    assert "edited" in page.text

    bob = visitor().signed_up("bob")
    assert f"{location}/edit" not in bob.get(location).text
    assert bob.get(f"{location}/edit").status_code == 403
    assert bob.submit(location, f"{location}/delete").status_code == 403

    response = ann.submit(location, f"{location}/delete")
    assert response.status_code == 302
    assert "The post is deleted." in flashes(ann.get("/"))
    assert ann.get(location).status_code == 404


def test_writing_needs_a_login_and_valid_fields(visitor: Any) -> None:
    response = visitor().get("/posts/new")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fposts%2Fnew"
    ann = visitor().signed_up("ann")
    response = ann.write("", "text")
    assert response.status_code == 200
    assert "A post needs a title." in flashes(response)
    assert "A title has at most 200 characters." in flashes(ann.write("x" * 201))
    assert "A post needs some text." in flashes(ann.write("Title", "   "))


def test_the_index_is_paginated(app: Erlen, visitor: Any) -> None:
    add_posts(app, 7)
    reader = visitor()
    first = reader.get("/")
    titles = re.findall(r'<h2><a href="/posts/\d+">([^<]+)</a></h2>', first.text)
    assert titles == ["Post 7", "Post 6", "Post 5"]
    assert "Page 1 of 3" in first.text
    assert 'href="/?page=2"' in first.text
    third = reader.get("/?page=3")
    assert re.findall(r'<h2><a href="/posts/\d+">([^<]+)</a></h2>', third.text) == ["Post 1"]
    assert 'rel="prev" href="/?page=2"' in third.text
    assert 'rel="next"' not in third.text
    assert reader.get("/?page=4").status_code == 404
    assert reader.get("/?page=x").status_code == 404


def test_the_public_index_is_cached_until_a_post_is_published(app: Erlen, visitor: Any) -> None:
    reader = visitor()
    assert "No posts yet." in reader.get("/").text
    add_posts(app, 1)  # behind the app's back: the cached page does not know
    assert "No posts yet." in reader.get("/").text
    # Logged-in users never get the shared copy.
    ann = visitor().signed_up("ann")
    assert "Post 1" in ann.get("/").text
    ann.write("Fresh news")
    page = reader.get("/")
    assert "Fresh news" in page.text
    assert "Post 1" in page.text


def test_upload_and_download_an_attachment(app: Erlen, visitor: Any, tmp_path: Path) -> None:
    ann = visitor().signed_up("ann")
    upload = (io.BytesIO(b"id,name\n1,Ada\n"), "../../secret/report 2026.csv")
    response = ann.write("With a file", attachment=upload)
    assert response.status_code == 302
    post_id = int(response.headers["Location"].rpartition("/")[2])
    saved = tmp_path / "uploads" / str(post_id) / "secret_report_2026.csv"
    assert saved.read_bytes() == b"id,name\n1,Ada\n"
    assert list((tmp_path / "uploads").rglob("*.csv")) == [saved]

    page = ann.get(f"/posts/{post_id}")
    link = f"/posts/{post_id}/files/secret_report_2026.csv"
    assert link in page.text
    reader = visitor()
    response = reader.get(link)
    assert response.status_code == 200
    assert response.data == b"id,name\n1,Ada\n"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert reader.get(f"/posts/{post_id}/files/../../blog.sqlite").status_code == 404
    assert reader.get(f"/posts/{post_id}/files/other.csv").status_code == 404

    # An image is shown inline, and replacing it removes the old file.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    response = ann.submit(
        f"/posts/{post_id}/edit",
        title="With a picture",
        body="b",
        attachment=(io.BytesIO(png), "photo.png"),
    )
    assert response.status_code == 302
    assert not saved.exists()
    assert (
        f'<img class="attachment-image" src="/posts/{post_id}/files/photo.png"'
        in ann.get(f"/posts/{post_id}").text
    )
    response = reader.get(f"/posts/{post_id}/files/photo.png")
    assert response.data == png
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")

    ann.submit(f"/posts/{post_id}", f"/posts/{post_id}/delete")
    assert not (tmp_path / "uploads" / str(post_id)).exists()


def test_uploads_of_other_kinds_and_oversized_ones_are_refused(app: Erlen, visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    response = ann.write("x", attachment=(io.BytesIO(b"<script>"), "page.html"))
    assert response.status_code == 200
    assert "Attachments can be:" in flashes(response)[0]
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = ann.write("big", attachment=(io.BytesIO(b"x" * 4096), "big.txt"))
    assert response.status_code == 413
    assert "<title>413 Request Entity Too Large" in response.text
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Post.id))).scalar_one() == 0


# -- the API ---------------------------------------------------------------------------------------


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    import base64

    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_reads_are_public_and_writes_need_a_token(app: Erlen, visitor: Any) -> None:
    visitor().register("ann")
    visitor().register("bob")
    api = visitor()

    response = api.post("/api/posts", json={"title": "t", "body": "b"})
    assert response.status_code == 401
    assert response.json["error"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    response = api.post("/api/tokens", headers=basic("ann", "wrong"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = api.post("/api/tokens", headers=basic("ann"))
    assert response.status_code == 201
    token = response.json["token"]

    response = api.post(
        "/api/posts", json={"title": "From the API", "body": "b"}, headers=bearer(token)
    )
    assert response.status_code == 201
    post = response.json
    assert post["author"] == "ann"
    assert response.headers["Location"] == f"/api/posts/{post['id']}"

    listing = api.get("/api/posts").json
    assert listing["total"] == 1
    assert [p["title"] for p in listing["posts"]] == ["From the API"]
    assert api.get(f"/api/posts/{post['id']}").json["body"] == "b"
    assert api.get("/api/posts/999").status_code == 404
    assert api.get("/api/posts/999").json["status"] == 404

    url = f"/api/posts/{post['id']}"
    response = api.patch(url, json={"title": "Renamed"}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json["title"] == "Renamed"
    assert response.json["updated"] is not None
    # Bodies that do not fit the models are 422 problem documents (400 before typed views).
    response = api.put(url, json={"title": "only a title"}, headers=bearer(token))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.json["errors"] == [
        {"loc": ["body", "body"], "msg": "Field required", "type": "missing"}
    ]
    assert api.patch(url, json={"title": ""}, headers=bearer(token)).status_code == 422
    assert api.patch(url, data="not json", headers=bearer(token)).status_code == 422

    bob_token = api.post("/api/tokens", headers=basic("bob")).json["token"]
    assert api.delete(url, headers=bearer(bob_token)).status_code == 403
    assert api.delete(url, headers=bearer(token + "x")).status_code == 401
    assert api.delete(url, headers=bearer(token)).status_code == 204
    assert api.get(url).status_code == 404


def test_api_tokens_from_the_account_page_and_their_revocation(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    page = ann.submit("/account", "/account/token")
    token = re.search(r'<pre id="api-token">([^<]+)</pre>', page.text).group(1)
    api = visitor()
    body = {"title": "t", "body": "b"}
    assert api.post("/api/posts", json=body, headers=bearer(token)).status_code == 201
    ann.submit("/account", "/account/revoke")
    response = api.post("/api/posts", json=body, headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_api_tokens_expire(app: Erlen, visitor: Any) -> None:
    visitor().register("ann")
    api = visitor()
    token = api.post("/api/tokens", headers=basic("ann")).json["token"]
    app.config["API_TOKEN_MAX_AGE"] = -1
    assert api.get("/api/posts", headers=bearer(token)).status_code == 200  # reading is public
    assert (
        api.post("/api/posts", json={"title": "t", "body": "b"}, headers=bearer(token)).status_code
        == 401
    )


# -- real time ----------------------------------------------------------------------------------------


def welcome(ws: Any) -> dict[str, Any]:
    """Skip what others said meanwhile; return the welcome (other workers' news can be first)."""
    while True:
        message = ws.receive_json()
        if message["type"] == "welcome":
            return dict(message)


def next_chat_message(ws: Any) -> dict[str, Any]:
    """Skip presence events; return the next chat message."""
    while True:
        message = ws.receive_json()
        if message["type"] == "message":
            return dict(message)


def test_chat_relays_messages_with_the_senders_name(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    bob = visitor().signed_up("bob")
    with ann.websocket_connect("/ws/chat") as ann_ws:
        welcome = ann_ws.receive_json()
        assert welcome == {"type": "welcome", "user": "ann", "online": 1, "history": []}
        with bob.websocket_connect("/ws/chat") as bob_ws:
            assert bob_ws.receive_json()["type"] == "welcome"
            assert ann_ws.receive_json() == {"type": "joined", "user": "ann", "online": 1}
            assert ann_ws.receive_json() == {"type": "joined", "user": "bob", "online": 2}
            ann_ws.send_text("  hello bob  ")
            message = next_chat_message(bob_ws)
            assert (message["user"], message["text"]) == ("ann", "hello bob")
            assert next_chat_message(ann_ws)["text"] == "hello bob"
            bob_ws.send_text("x" * 2000)
            assert next_chat_message(ann_ws)["text"] == "x" * 500
        assert ann_ws.receive_json() == {"type": "left", "user": "bob", "online": 1}

    # A late joiner gets the recent history.
    carol = visitor().signed_up("carol")
    with carol.websocket_connect("/ws/chat") as carol_ws:
        history = carol_ws.receive_json()["history"]
        assert [(m["user"], m["text"][:9]) for m in history] == [
            ("ann", "hello bob"),
            ("bob", "xxxxxxxxx"),
        ]


def test_chat_refuses_anonymous_and_cross_site_connections(visitor: Any) -> None:
    with pytest.raises(WebSocketDenied) as denied, visitor().websocket_connect("/ws/chat"):
        pass
    assert denied.value.status_code == 403
    assert "Log in to chat." in denied.value.text

    ann = visitor().signed_up("ann")
    evil = Headers({"Origin": "http://evil.example"})
    with pytest.raises(WebSocketDenied) as denied, ann.websocket_connect("/ws/chat", headers=evil):
        pass
    assert denied.value.status_code == 403
    with ann.websocket_connect("/ws/chat", headers=Headers({"Origin": "http://localhost"})) as ws:
        assert ws.receive_json()["user"] == "ann"


def test_the_chat_page(visitor: Any, protocol: str) -> None:
    assert visitor().get("/chat").status_code == 302
    page = visitor().signed_up("ann").get("/chat")
    assert page.status_code == 200
    if protocol == "asgi":
        assert 'data-socket="/ws/chat"' in page.text
        assert "/static/js/chat.js" in page.text
    else:  # served by a WSGI server, which cannot carry WebSockets: say so
        assert 'id="chat-unavailable"' in page.text


def test_a_new_post_is_announced_to_open_pages(visitor: Any, protocol: str) -> None:
    reader = visitor()
    response = reader.get("/notifications/stream", buffered=False)
    if protocol == "wsgi":
        # A stream would hold a WSGI worker for as long as the tab is open.
        assert response.status_code == 204
        return
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        chunks = iter(response.response)
        ready = next(chunks).decode()
        assert re.fullmatch(r"event: ready\nid: \S+\nretry: 3000\ndata: \n\n", ready)
        ann = visitor().signed_up("ann")
        location = ann.write("Breaking news").headers["Location"]
        post_id = int(location.rpartition("/")[2])
        event = next(chunks).decode()
        assert re.match(r"event: post\nid: \S+\ndata: ", event)
        assert f'"id": {post_id}' in event
        assert '"title": "Breaking news"' in event
        assert '"author": "ann"' in event
        assert f'"url": "{location}"' in event
        # The API's posts are announced too.
        token = visitor().post("/api/tokens", headers=basic("ann")).json["token"]
        ann.post("/api/posts", json={"title": "By API", "body": "b"}, headers=bearer(token))
        by_api = next(chunks).decode()
        assert '"title": "By API"' in by_api
        last_id = by_api.split("\n")[1].removeprefix("id: ")
    finally:
        response.close()
    # The page lost its connection; a post was announced meanwhile. EventSource reconnects
    # with the last id it saw and gets the missed post before the stream goes live again.
    ann.write("While you were away")
    response = reader.get(
        "/notifications/stream", headers={"Last-Event-ID": last_id}, buffered=False
    )
    try:
        chunks = iter(response.response)
        assert '"title": "While you were away"' in next(chunks).decode()
        assert next(chunks).startswith(b"event: ready\n")
    finally:
        response.close()


def test_without_a_broker_the_post_task_runs_in_the_request(app: Erlen, visitor: Any) -> None:
    # No CELERY broker_url: Celery runs tasks.prepare_post eagerly (a real worker:
    # tests/integration/test_celery_worker.py).
    assert app.extensions["celery"].conf.task_always_eager
    ann = visitor().signed_up("ann")
    location = ann.write("Long read", body=" ".join(["word"] * 450)).headers["Location"]
    assert "3 min read" in ann.get(location).text  # 450 words at 220 a minute
    post_id = int(location.rpartition("/")[2])
    assert ann.get(f"/api/posts/{post_id}").json["reading_minutes"] == 3
    ann.submit(f"{location}/edit", title="Short now", body="A few words.")
    assert ann.get(f"/api/posts/{post_id}").json["reading_minutes"] == 1
    with app.app_context():
        digest = db.session.get(Post, post_id).digest
        assert (digest.words, digest.excerpt) == (3, "A few words.")


# -- errors and headers ------------------------------------------------------------------------------


def test_error_pages(app: Erlen, visitor: Any) -> None:
    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # TESTING would re-raise it
    reader = visitor()
    response = reader.get("/no/such/page")
    assert response.status_code == 404
    assert "<h1>Nothing here</h1>" in response.text
    assert '<link rel="stylesheet" href="/static/style.css">' in response.text
    response = reader.get("/boom")
    assert response.status_code == 500
    assert "<h1>Something broke</h1>" in response.text
    assert "a bug" not in response.text
    response = reader.delete("/posts/new")
    assert response.status_code == 405
    assert "<title>405 Method Not Allowed" in response.text
    assert "GET" in response.headers["Allow"]
    response = reader.get("/api/nothing")
    assert response.status_code == 404
    # An RFC 9457 problem document, with the members the API answered before typed views.
    assert response.content_type == "application/problem+json"
    assert response.json == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": response.json["message"],
        "instance": "/api/nothing",
        "error": "Not Found",
        "message": response.json["message"],
    }


def test_security_headers_and_no_inline_script(visitor: Any) -> None:
    ann = visitor().signed_up("ann")
    for path in ("/", "/chat", "/posts/new", "/account", "/login", "/nowhere"):
        response = ann.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        # The CSP allows no inline script: every script must come from a file.
        for tag in re.findall(r"<script[^>]*>", response.text):
            assert 'src="/static/' in tag, f"{path}: inline script {tag}"
        assert not re.search(r"<[^>]+\son[a-z]+=", response.text), f"{path}: inline handler"
    cookie = ann.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


# -- start-up ----------------------------------------------------------------------------------------


def test_the_first_start_sets_up_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "fresh" / "instance"
    monkeypatch.setenv("ERLENBLOG_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("ERLENBLOG_SQLALCHEMY_DATABASE_URI", raising=False)
    app = create_app()
    assert app.instance_path == str(instance)
    key = (instance / "secret_key").read_text()
    assert len(key) == 64
    assert (instance / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (instance / "uploads").is_dir()
    assert (instance / "erlenblog.sqlite").is_file()
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 0
        db.engine.dispose()
    again = create_app()  # a restart, or another worker: the same key, so sessions survive
    assert again.config["SECRET_KEY"] == key
    with again.app_context():
        db.engine.dispose()


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERLENBLOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ERLENBLOG_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("ERLENBLOG_POSTS_PER_PAGE", "10")
    app = create_app()
    assert app.config["POSTS_PER_PAGE"] == 10
    assert (tmp_path / "other.db").is_file()
    with app.app_context():
        db.engine.dispose()


def test_init_db_command(app: Erlen) -> None:
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Initialized the database" in result.output


def test_the_erlen_command_finds_the_app(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ERLENBLOG_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": str(ROOT / "src"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "erlen", "--app", "examples/blog/erlenblog", "routes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for line in ("chat.socket", "WEBSOCKET", "/ws/chat", "notify.stream", "api.posts"):
        assert line in result.stdout
    assert (tmp_path / "instance" / "erlenblog.sqlite").is_file()


# -- many workers: PostgreSQL and Redis ----------------------------------------------------------------


@contextmanager
def shared_database(backend: str) -> Iterator[dict[str, Any]]:
    """Config for a fresh schema on PostgreSQL or a fresh database on MySQL/MariaDB."""
    import services

    if backend == "mysql":
        with services.mysql_database(services.mysql_url()) as url:
            yield {"SQLALCHEMY_DATABASE_URI": url}
        return
    pg = services.postgres_url()
    with services.postgres_schema(pg) as schema:
        yield {
            "SQLALCHEMY_DATABASE_URI": pg,
            "SQLALCHEMY_ENGINE_OPTIONS": services.psycopg_search_path(schema),
        }


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_two_workers_share_everything_through_postgres_and_redis(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two app objects stand for two worker processes: what one does, the other sees."""
    from services import redis_prefix, redis_url

    redis = redis_url()
    monkeypatch.setenv("ERLENBLOG_INSTANCE_PATH", str(tmp_path / "instance"))
    # The app puts a Redis store on the login manager, an object every app shares.
    monkeypatch.setattr(login_manager, "revocation_store", login_manager.revocation_store)
    with shared_database(backend) as database, redis_prefix(redis) as (client, prefix):
        config = {
            "TESTING": True,
            "SECRET_KEY": "shared by the workers",
            **database,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "REDIS_URL": redis,
            "REDIS_PREFIX": prefix,
        }
        one, two = create_app(config), create_app(config)
        try:
            _exercise_two_workers(one, two, client, prefix)
        finally:
            for app in (one, two):
                app.extensions["erlenblog.live"].close()
                with app.app_context():
                    db.engine.dispose()


def _exercise_two_workers(one: Erlen, two: Erlen, client: Any, prefix: str) -> None:
    # Ann's worker is a WSGI server, the others ASGI (pages over WSGI, live parts over ASGI).
    ann = Visitor(one, "wsgi").signed_up("ann")
    # Ann's session lives in Redis: her cookie logs her in at the other worker too.
    assert client.keys(prefix + "session:*")
    ann_at_two = Visitor(two, "asgi")
    ann_at_two.set_cookie("session", ann.get_cookie("session").value)
    assert ann_at_two.get("/account").status_code == 200
    # A logout at one worker is final at the other.
    copy = Visitor(two, "asgi")
    assert copy.login("ann").status_code == 302
    cookie = copy.get_cookie("session").value
    copy.submit("/account", "/logout")
    replay = Visitor(one, "asgi")
    replay.set_cookie("session", cookie)
    assert replay.get("/account").status_code == 302
    bob = Visitor(two, "asgi").signed_up("bob")

    # The index cached by worker two is dropped when worker one publishes a post.
    reader = Visitor(two, "asgi")
    assert "No posts yet." in reader.get("/").text
    stream = reader.get("/notifications/stream", buffered=False)
    try:
        chunks = iter(stream.response)
        assert next(chunks).startswith(b"event: ready")
        ann.write("Written at worker one")
        assert b'"title": "Written at worker one"' in next(chunks)
    finally:
        stream.close()
    assert "Written at worker one" in reader.get("/").text

    # Chat between the workers.
    with ann.websocket_connect("/ws/chat") as ann_ws, bob.websocket_connect("/ws/chat") as bob_ws:
        welcome(ann_ws)
        welcome(bob_ws)
        bob_ws.send_text("hello from worker two")
        message = next_chat_message(ann_ws)
        assert (message["user"], message["text"]) == ("bob", "hello from worker two")
    with Visitor(one, "asgi").signed_up("carol").websocket_connect("/ws/chat") as carol_ws:
        history = welcome(carol_ws)["history"]
        assert [m["text"] for m in history] == ["hello from worker two"]
