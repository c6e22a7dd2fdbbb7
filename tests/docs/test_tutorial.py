"""The tutorial's code (``examples/tutorial/stepNN``), step by step, as its pages show it.

Each step is a complete app. Its tests load it from its own folder (the pages tell the reader
to run it from there), through both doors where the step's behaviour is shared; WebSockets go
through the ASGI door, as under a real server. The last step is served by real gunicorn and
uvicorn processes, started with the commands of its page.
"""

from __future__ import annotations

import base64
import difflib
import importlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from erlen.contrib.passwords import generate_password_hash
from erlen.testing import WebSocketDenied
from support import PYTHON, ROOT, TIMEOUT, serve

TUTORIAL = ROOT / "examples" / "tutorial"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse"
#: A quick hash for the users the fixtures create (the register test uses the real default).
QUICK_HASH = "pbkdf2:sha256:1000"
#: The smallest PNG there is: one transparent pixel.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def step_dir(step: int) -> Path:
    return TUTORIAL / f"step{step:02d}"


# -- loading a step's code ---------------------------------------------------------------------

#: The top-level module names the steps use (each step has its own copy).
STEP_MODULES = ("app", "wsgi", "erlog")


def _ours(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in STEP_MODULES)


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int, str], ModuleType]]:
    """``load(step, "app")`` imports a module from that step's folder, as ``erlen run`` would."""
    saved_path = list(sys.path)
    saved = {name: module for name, module in sys.modules.items() if _ours(name)}

    def load_step(step: int, module: str) -> ModuleType:
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
        sys.path.insert(0, str(step_dir(step)))
        importlib.invalidate_caches()
        return importlib.import_module(module)

    yield load_step
    sys.path[:] = saved_path
    for name in [name for name in sys.modules if _ours(name)]:
        del sys.modules[name]
    sys.modules.update(saved)


class Browser:
    """One visitor: a test client with its cookies, and the site's forms filled in."""

    def __init__(self, app: Any, protocol: str) -> None:
        self.client = app.test_client(asgi=(protocol == "asgi"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def submit(self, page: str, action: str | None = None, **data: Any) -> Any:
        """Post a form of ``page`` (with the CSRF token the page embeds) to ``action``."""
        found = CSRF_FIELD.search(self.client.get(page).text)
        assert found is not None, f"no CSRF field on {page}"
        return self.client.post(action or page, data={**data, "csrf_token": found.group(1)})

    def login(self, username: str) -> Browser:
        response = self.submit("/auth/login", username=username, password=PASSWORD)
        assert response.status_code == 302, response.text
        return self


class Site:
    """A package step's app (``create_app`` with a throw-away database) and its modules."""

    def __init__(self, step: int, load: Callable[[int, str], ModuleType], tmp: Path) -> None:
        self.step = step
        self.package = load(step, "erlog")
        self.db = importlib.import_module("erlog.extensions").db
        self.models = importlib.import_module("erlog.models")
        self.app = self.package.create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test secret",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'erlog.sqlite'}",
                "UPLOAD_FOLDER": str(tmp / "uploads"),
            }
        )
        with self.app.app_context():
            self.db.create_all()

    def add_user(self, username: str) -> int:
        with self.app.app_context():
            user = self.models.User(
                username=username, password_hash=generate_password_hash(PASSWORD, QUICK_HASH)
            )
            self.db.session.add(user)
            self.db.session.commit()
            return int(user.id)

    def browser(self, protocol: str) -> Browser:
        return Browser(self.app, protocol)

    def close(self) -> None:
        with self.app.app_context():
            self.db.dispose()


@pytest.fixture
def site(
    request: pytest.FixtureRequest, load: Callable[[int, str], ModuleType], tmp_path: Path
) -> Iterator[Callable[[int], Site]]:
    """``site(step)``: that step's app on a fresh SQLite file; ann and bob exist from step 6."""
    made: list[Site] = []

    def make(step: int) -> Site:
        site = Site(step, load, tmp_path)
        made.append(site)
        if step >= 6:
            site.add_user("ann")
            site.add_user("bob")
        return site

    yield make
    for site in made:
        site.close()


# -- the pages show every change ---------------------------------------------------------------

DOCS = ROOT / "docs" / "tutorial"
INCLUDE = re.compile(
    r"^```\{literalinclude\} \.\./\.\./examples/tutorial/(step\d\d)/(\S+)\n((?::[^\n]*\n)*)", re.M
)
#: Files that step 5 moves into the package unchanged, as its page says.
MOVED = {
    "erlog/static/style.css": "static/style.css",
    "erlog/templates/blog/form.html": "templates/form.html",
}


def _shown_lines(text: str, options: str) -> set[int]:
    """The 0-based line numbers of ``text`` that a literalinclude with ``options`` shows."""
    lines = text.splitlines()
    opts = dict(re.findall(r"^:([\w-]+):\s*(.*)$", options, re.M))
    opts = {k: v[1:-1].replace('\\"', '"') if v.startswith('"') else v for k, v in opts.items()}
    if "pyobject" in opts:
        import ast

        for node in ast.parse(text).body:
            if getattr(node, "name", None) == opts["pyobject"]:
                first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
                return set(range(first - 1, node.end_lineno or first))
        raise AssertionError(f"no {opts['pyobject']} in the file")
    start, end = 0, len(lines)
    if "start-at" in opts:
        start = next(i for i, line in enumerate(lines) if opts["start-at"] in line)
    if "end-before" in opts:
        end = next(i for i, line in enumerate(lines) if i >= start and opts["end-before"] in line)
    return set(range(start, end))


@pytest.mark.parametrize("step", range(1, 13))
def test_every_change_is_on_its_page(step: int) -> None:
    """A reader who copies what a page shows gets the step's code: each file the step adds or
    changes is included whole, or the part that changed is (a file named by a partial include
    changes only inside what the page shows)."""
    folder, before = step_dir(step), step_dir(step - 1)
    page = next(DOCS.glob(f"{step:02d}-*.md")).read_text("utf8")
    shown: dict[str, set[int] | None] = {}  # None: the whole file
    for name, path, options in INCLUDE.findall(page):
        assert name == folder.name, f"page {step} includes {name}/{path}"
        text = (folder / path).read_text("utf8")
        partial = re.search(r"^:(lines|pyobject|start-at|end-before|start-after):", options, re.M)
        if partial is None:
            shown[path] = None
        elif shown.get(path, set()) is not None:
            shown[path] = shown.get(path, set()) | _shown_lines(text, options)  # type: ignore[operator]
    for file in sorted(
        p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        path = file.relative_to(folder).as_posix()
        if step == 5 and path in MOVED:
            assert file.read_bytes() == (before / MOVED[path]).read_bytes(), path
            continue
        old = before / path
        if step > 1 and old.exists() and old.read_bytes() == file.read_bytes():
            continue
        assert path in shown, f"step {step} changes {path}, and its page does not show it"
        if shown[path] is None:
            continue
        assert old.exists(), f"{path} is new at step {step}: the page must show all of it"
        matcher = difflib.SequenceMatcher(
            a=old.read_text("utf8").splitlines(), b=file.read_text("utf8").splitlines()
        )
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                changed = set(range(j1, max(j2, j1 + 1)))
                assert changed <= shown[path], f"{path}: lines {j1 + 1}-{j2} changed, not shown"


# -- 1: hello world ----------------------------------------------------------------------------


def test_01_hello(load: Callable[[int, str], ModuleType], protocol: str) -> None:
    app = load(1, "app").app
    response = app.test_client(asgi=(protocol == "asgi")).get("/")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.mimetype == "text/html"


# -- 2: routing and url_for ------------------------------------------------------------------


def test_02_routes_and_url_for(load: Callable[[int, str], ModuleType], protocol: str) -> None:
    client = load(2, "app").app.test_client(asgi=(protocol == "asgi"))
    index = client.get("/").text
    assert 'href="/hello/Ada"' in index
    assert 'href="/posts/1"' in index
    assert 'href="/search?q=erlen"' in index
    assert client.get("/hello/<em>Bob").text == "Hello, &lt;em&gt;Bob!"
    assert client.get("/posts/42").text == "Post number 42"
    assert client.get("/posts/forty-two").status_code == 404  # <int:...> only matches digits
    assert client.get("/search?q=erlen").text == "You searched for: erlen"
    moved = client.get("/about")
    assert moved.status_code == 308  # to the rule's canonical URL, as in Flask
    assert moved.headers["Location"].endswith("/about/")
    assert client.get("/about/").status_code == 200
    assert client.put("/greet").status_code == 405
    greeted = client.post("/greet", data={"name": "Grace"})
    assert (greeted.status_code, greeted.headers["Location"]) == (302, "/hello/Grace")


# -- 3: templates ----------------------------------------------------------------------------


def test_03_templates(load: Callable[[int, str], ModuleType], protocol: str) -> None:
    client = load(3, "app").app.test_client(asgi=(protocol == "asgi"))
    index = client.get("/").text
    assert "<title>Posts · Erlog</title>" in index
    assert '<a href="/posts/2">Templates</a>' in index
    assert 'href="/static/style.css"' in index
    post = client.get("/posts/1").text
    assert "<h1>Hello, Erlog</h1>" in post
    assert client.get("/posts/3").status_code == 404
    css = client.get("/static/style.css")
    assert (css.status_code, css.mimetype) == (200, "text/css")


# -- 4: a blog with SQLAlchemy -----------------------------------------------------------------


def test_04_database(
    load: Callable[[int, str], ModuleType],
    protocol: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The step reads ERLEN_* variables at import: point it at a throw-away database.
    monkeypatch.setenv("ERLEN_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'step04.sqlite'}")
    module = load(4, "app")
    app, db = module.app, module.db
    with app.app_context():
        db.create_all()
    try:
        client = app.test_client(asgi=(protocol == "asgi"))
        assert "No posts yet." in client.get("/").text
        assert "A post needs a title." in client.post("/new", data={"title": " ", "body": ""}).text
        created = client.post("/new", data={"title": "First", "body": "Stored in SQLite."})
        assert (created.status_code, created.headers["Location"]) == (302, "/posts/1")
        assert "Stored in SQLite." in client.get("/posts/1").text
        assert '<a href="/posts/1">First</a>' in client.get("/").text
        edited = client.post("/posts/1/edit", data={"title": "First, edited", "body": "x"})
        assert edited.headers["Location"] == "/posts/1"
        assert "<h1>First, edited</h1>" in client.get("/posts/1").text
        assert client.get("/posts/2").status_code == 404
        assert client.get("/posts/1/delete").status_code == 405  # deleting takes a POST
        deleted = client.post("/posts/1/delete", follow_redirects=True)
        assert "The post was deleted." in deleted.text
        assert client.get("/posts/1").status_code == 404
    finally:
        with app.app_context():
            db.dispose()


def test_04_db_create_command(tmp_path: Path) -> None:
    """``erlen --app app db create``, as the page says, makes the tables."""
    database = tmp_path / "cli.sqlite"
    env = {
        **os.environ,
        "ERLEN_SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run(
        [PYTHON, "-m", "erlen", "--app", "app", "db", "create"],
        cwd=step_dir(4),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Created the tables" in done.stdout
    assert database.exists()


# -- 5: blueprints and the application factory -----------------------------------------------


def test_05_factory_and_blueprint(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(5)
    assert sorted(erlog.app.blueprints) == ["blog"]
    client = erlog.app.test_client(asgi=(protocol == "asgi"))
    created = client.post("/new", data={"title": "From a blueprint", "body": "b"})
    assert created.headers["Location"] == "/posts/1"
    page = client.get("/").text
    assert '<a href="/posts/1">From a blueprint</a>' in page
    assert '<a href="/new">New post</a>' in page  # url_for('blog.create')
    with erlog.app.test_request_context():
        from erlen import url_for

        assert url_for("blog.edit", post_id=1) == "/posts/1/edit"


def test_05_two_apps_from_one_factory(site: Callable[[int], Site], tmp_path: Path) -> None:
    """The factory makes independent apps: each has its own config and database."""
    first = site(5)
    other_db = tmp_path / "other.sqlite"
    other = first.package.create_app(
        {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{other_db}"}
    )
    with other.app_context():
        first.db.create_all()
    try:
        first.app.test_client().post("/new", data={"title": "only here", "body": ""})
        assert "only here" in first.app.test_client().get("/").text
        assert "No posts yet." in other.test_client().get("/").text
    finally:
        with other.app_context():
            first.db.dispose()


# -- 6: login and CSRF -------------------------------------------------------------------------


def test_06_register_login_and_write(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(6)
    visitor = erlog.browser(protocol)
    anonymous = visitor.get("/new")
    assert (anonymous.status_code, anonymous.headers["Location"]) == (
        302,
        "/auth/login?next=%2Fnew",
    )
    short = visitor.submit("/auth/register", username="cy", password="short")
    assert "at least 8 characters" in short.text
    taken = visitor.submit("/auth/register", username="ann", password=PASSWORD)
    assert "The name ann is taken." in taken.text
    registered = visitor.submit("/auth/register", username="cy", password=PASSWORD)
    assert registered.headers["Location"] == "/auth/login"
    wrong = visitor.submit("/auth/login", username="cy", password="not it at all")
    assert "Wrong user name or password." in wrong.text
    back = visitor.submit(
        "/auth/login?next=/new", "/auth/login?next=/new", username="cy", password=PASSWORD
    )
    assert back.headers["Location"] == "/new"
    written = visitor.submit("/new", title="By cy", body="hello")
    assert written.headers["Location"] == "/posts/1"
    page = visitor.get("/posts/1").text
    assert "by cy" in page and "Edit</a>" in page
    visitor.submit("/", "/auth/logout")
    assert visitor.get("/new").status_code == 302


def test_06_csrf_and_ownership(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(6)
    ann = erlog.browser(protocol).login("ann")
    assert ann.post("/new", data={"title": "no token", "body": ""}).status_code == 400
    assert ann.submit("/new", title="Ann's", body="").status_code == 302
    bob = erlog.browser(protocol).login("bob")
    assert "Edit</a>" not in bob.get("/posts/1").text
    assert bob.get("/posts/1/edit").status_code == 403
    assert bob.submit("/posts/1", "/posts/1/delete").status_code == 403
    assert ann.submit("/posts/1", "/posts/1/delete").status_code == 302
    assert ann.get("/posts/1").status_code == 404


def test_06_open_redirect_refused(site: Callable[[int], Site]) -> None:
    visitor = site(6).browser("wsgi")
    to = "/auth/login?next=//evil.example/"
    landed = visitor.submit(to, to, username="ann", password=PASSWORD)
    assert landed.headers["Location"] == "/"


# -- 7: file uploads ---------------------------------------------------------------------------


def test_07_upload_and_download(site: Callable[[int], Site], protocol: str, tmp_path: Path) -> None:
    erlog = site(7)
    ann = erlog.browser(protocol).login("ann")
    form = ann.get("/new").text
    assert 'enctype="multipart/form-data"' in form
    posted = ann.submit(
        "/new", title="A pixel", body="", image=(io.BytesIO(PIXEL), "../../pixel.PNG")
    )
    assert posted.headers["Location"] == "/posts/1"
    assert (tmp_path / "uploads" / "1" / "pixel.PNG").read_bytes() == PIXEL  # name made safe
    assert '<img src="/posts/1/image"' in ann.get("/posts/1").text
    picture = ann.get("/posts/1/image")
    assert (picture.status_code, picture.mimetype, picture.data) == (200, "image/png", PIXEL)
    refused = ann.submit("/new", title="x", body="", image=(io.BytesIO(b"<svg/>"), "x.svg"))
    assert "Only PNG, JPEG, GIF and WebP pictures" in refused.text
    assert not (tmp_path / "uploads" / "2").exists()
    assert ann.submit("/new", title="No picture", body="").headers["Location"] == "/posts/2"
    assert ann.get("/posts/2/image").status_code == 404
    ann.submit("/posts/1", "/posts/1/delete")
    assert not (tmp_path / "uploads" / "1").exists()


def test_07_too_large(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(7)
    ann = erlog.browser(protocol).login("ann")
    token = CSRF_FIELD.search(ann.get("/new").text).group(1)  # type: ignore[union-attr]
    # Encoded here, in memory: the test client would spool a body this size to a temporary
    # file that the ASGI door's unread 413 leaves open (a ResourceWarning).
    boundary, body = encode_multipart(
        {
            "csrf_token": token,
            "title": "big",
            "body": "",
            "image": FileStorage(io.BytesIO(b"\0" * (4 * 1024 * 1024 + 1)), "big.png"),
        }
    )
    response = ann.post("/new", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413


# -- 8: a JSON API with typed views ------------------------------------------------------------


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def api_roundtrip(erlog: Site, protocol: str) -> None:
    client = erlog.app.test_client(asgi=(protocol == "asgi"))
    assert client.post("/api/tokens", headers=basic("ann", "wrong")).status_code == 401
    issued = client.post("/api/tokens", headers=basic("ann", PASSWORD))
    assert issued.status_code == 201 and issued.json["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {issued.json['token']}"}
    assert client.post("/api/posts", json={"title": "x"}).status_code == 401
    invalid = client.post("/api/posts", json={"title": "  ", "body": 3}, headers=bearer)
    assert invalid.status_code == 422
    assert invalid.content_type == "application/problem+json"
    assert [e["loc"] for e in invalid.json["errors"]] == [["body", "title"], ["body", "body"]]
    created = client.post("/api/posts", json={"title": "Via the API"}, headers=bearer)
    assert (created.status_code, created.headers["Location"]) == (201, "/api/posts/1")
    assert created.json["author"] == "ann" and created.json["image_url"] is None
    client.post("/api/posts", json={"title": "Second", "body": "2"}, headers=bearer)
    listed = client.get("/api/posts?limit=1")
    assert [post["title"] for post in listed.json] == ["Second"]
    assert client.get("/api/posts?limit=0").status_code == 422
    assert client.get("/api/posts/1").json["title"] == "Via the API"
    missing = client.get("/api/posts/9")
    assert (missing.status_code, missing.json["error"]) == (404, "not found")


def test_08_api(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(8)
    api_roundtrip(erlog, protocol)
    client = erlog.app.test_client(asgi=(protocol == "asgi"))
    document = client.get("/api/openapi.json").json
    assert sorted(document["paths"]) == ["/api/posts", "/api/posts/{post_id}", "/api/tokens"]
    assert client.get("/api/docs").status_code == 200


# -- 9: async views ---------------------------------------------------------------------------


def test_09_async_api(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(9)
    import erlog.api as api  # the step's own module, loaded by site()

    assert api.list_posts.__name__ == "list_posts"
    api_roundtrip(erlog, protocol)
    client = erlog.app.test_client(asgi=(protocol == "asgi"))
    assert client.get("/api/health").json == {"status": "ok"}


# -- 10: a WebSocket chat ----------------------------------------------------------------------


def test_10_chat(site: Callable[[int], Site]) -> None:
    erlog = site(10)
    ann = erlog.browser("asgi").login("ann")
    bob = erlog.browser("asgi").login("bob")
    page = ann.get("/chat/").text
    assert 'data-socket="/chat/socket"' in page and "/static/chat.js" in page
    with ann.websocket_connect("/chat/socket") as ann_ws:
        assert ann_ws.receive_json() == {"user": "erlog", "text": "Welcome, ann!"}
        with bob.websocket_connect("/chat/socket") as bob_ws:
            assert bob_ws.receive_json() == {"user": "erlog", "text": "Welcome, bob!"}
            bob_ws.send_text("  hello ann  ")
            assert ann_ws.receive_json() == {"user": "bob", "text": "hello ann"}
            assert bob_ws.receive_json() == {"user": "bob", "text": "hello ann"}


def test_10_chat_refusals(site: Callable[[int], Site]) -> None:
    erlog = site(10)
    anonymous_client = erlog.app.test_client(asgi=True)
    with (
        pytest.raises(WebSocketDenied) as anonymous,
        anonymous_client.websocket_connect("/chat/socket"),
    ):
        pass
    assert (anonymous.value.status_code, anonymous.value.text) == (403, "Log in to chat.")
    ann = erlog.browser("asgi").login("ann")
    evil = {"Origin": "https://evil.example"}
    with (
        pytest.raises(WebSocketDenied) as cross_site,
        ann.websocket_connect("/chat/socket", headers=evil),
    ):
        pass
    assert cross_site.value.status_code == 403
    # The WSGI door cannot upgrade a connection: it says an ASGI server is needed.
    assert erlog.browser("wsgi").login("ann").get("/chat/socket").status_code == 400


# -- 11: server-sent notifications ------------------------------------------------------------


def test_11_notifications(site: Callable[[int], Site], protocol: str) -> None:
    erlog = site(11)
    reader = erlog.app.test_client(asgi=True)
    stream = reader.get("/notifications", buffered=False)
    try:
        assert stream.mimetype == "text/event-stream"
        events = iter(stream.response)
        assert next(events).startswith(b"event: ready\n")
        ann = erlog.browser(protocol).login("ann")  # the writer may use either door
        ann.submit("/new", title="Live!", body="")
        event = next(events).decode()
        assert event.startswith("event: post\nid: ")
        assert 'data: {"author": "ann", "title": "Live!", "url": "/posts/1"}' in event
        issued = ann.post("/api/tokens", headers=basic("ann", PASSWORD)).json["token"]
        ann.post(
            "/api/posts", json={"title": "By API"}, headers={"Authorization": f"Bearer {issued}"}
        )
        assert '"title": "By API"' in next(events).decode()
    finally:
        stream.close()
    page = erlog.browser(protocol).get("/").text
    assert 'data-stream="/notifications"' in page and "/static/live.js" in page


def test_11_replay_and_wsgi(site: Callable[[int], Site]) -> None:
    erlog = site(11)
    ann = erlog.browser("wsgi").login("ann")
    ann.submit("/new", title="one", body="")
    first = erlog.app.test_client(asgi=True).get("/notifications", buffered=False)
    try:
        ready = next(iter(first.response)).decode()
    finally:
        first.close()
    last_id = re.search(r"^id: (.+)$", ready, re.M).group(1)  # type: ignore[union-attr]
    ann.submit("/new", title="two", body="")  # published while the browser was away
    again = erlog.app.test_client(asgi=True).get(
        "/notifications", headers={"Last-Event-ID": last_id}, buffered=False
    )
    try:
        assert '"title": "two"' in next(iter(again.response)).decode()
    finally:
        again.close()
    assert erlog.app.test_client().get("/notifications").status_code == 204  # WSGI door


# -- 12: deployment ----------------------------------------------------------------------------


def test_12_wsgi_module(
    load: Callable[[int, str], ModuleType], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ERLEN_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'w.sqlite'}")
    app = load(12, "wsgi").app
    assert callable(app) and app.name == "erlog"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("w.sqlite")  # read from ERLEN_*
    with app.app_context():
        importlib.import_module("erlog.extensions").db.dispose()


@pytest.mark.slow
def test_12_real_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's commands: create the tables, then gunicorn and uvicorn serve ``wsgi:app``."""
    httpx = pytest.importorskip("httpx")
    websockets_client = pytest.importorskip("websockets.sync.client")
    folder = step_dir(12)
    monkeypatch.setenv("ERLEN_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'prod.sqlite'}")
    monkeypatch.setenv("ERLEN_SECRET_KEY", "a secret for this test only")
    monkeypatch.setenv("ERLEN_UPLOAD_FOLDER", str(tmp_path / "uploads"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    created = subprocess.run(
        [PYTHON, "-m", "erlen", "--app", "erlog", "db", "create"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr

    with (
        serve("gunicorn", folder, "wsgi:app") as base,
        httpx.Client(base_url=base, timeout=TIMEOUT) as http,
    ):
        assert "No posts yet." in http.get("/").text
        assert http.get("/api/health").json() == {"status": "ok"}
        assert http.get("/notifications").status_code == 204  # WSGI: no stream
        token_page = http.get("/auth/register").text
        csrf = CSRF_FIELD.search(token_page).group(1)  # type: ignore[union-attr]
        registered = http.post(
            "/auth/register", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf}
        )
        assert registered.status_code == 302

    with (
        serve("uvicorn", folder, "wsgi:app") as base,
        httpx.Client(base_url=base, timeout=TIMEOUT) as http,
    ):
        assert http.get("/api/health").json() == {"status": "ok"}
        csrf = CSRF_FIELD.search(http.get("/auth/login").text).group(1)  # type: ignore[union-attr]
        logged_in = http.post(
            "/auth/login", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf}
        )
        assert logged_in.status_code == 302
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        with http.stream("GET", "/notifications") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            lines = events.iter_lines()
            assert next(lines) == "event: ready"
        url = base.replace("http://", "ws://") + "/chat/socket"
        with websockets_client.connect(
            url, additional_headers={"Cookie": cookie}, open_timeout=TIMEOUT
        ) as socket:
            assert '"Welcome, ann!"' in socket.recv(timeout=TIMEOUT)
            socket.send("hello from a real socket")
            assert '"hello from a real socket"' in socket.recv(timeout=TIMEOUT)
