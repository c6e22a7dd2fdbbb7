"""Flaskr (Flask's tutorial blog, in ``tests/compat/flaskr``) and its test suite.

The suite is the tutorial's, run three ways: on Erlen through the WSGI door, on
Erlen through the ASGI door, and, as the oracle, on Flask itself, using a copy of
the package whose only change is ``erlen`` -> ``flask`` and ``Erlen`` -> ``Flask``.
Flaskr on real servers is in ``tests/integration/test_flaskr_real_server.py``.
"""

from __future__ import annotations

import importlib
import io
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import pytest

import erlen

HERE = Path(__file__).resolve().parent
FLASKR = HERE / "flaskr"
DATA_SQL = (FLASKR / "data.sql").read_text("utf8")


def to_flask(source: str) -> str:
    """Undo the port: the Flask version differs only by these names."""
    return source.replace("erlen", "flask").replace("Erlen", "Flask")


@pytest.fixture(scope="session")
def flaskr_on_flask(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("oracle")
    target = root / "flaskr_on_flask"
    shutil.copytree(FLASKR, target, ignore=shutil.ignore_patterns("instance", "__pycache__"))
    for path in target.rglob("*.py"):
        path.write_text(to_flask(path.read_text("utf8")), "utf8")
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("flaskr_on_flask")
    finally:
        sys.path.remove(str(root))


@pytest.fixture(params=["erlen-wsgi", "erlen-asgi", "flask"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pkg(flavour: str, request: pytest.FixtureRequest) -> ModuleType:
    """The flaskr package under test."""
    if flavour == "flask":
        return request.getfixturevalue("flaskr_on_flask")  # type: ignore[no-any-return]
    return importlib.import_module("flaskr")


@pytest.fixture
def fw(flavour: str) -> ModuleType:
    """The framework module the package imports (for ``session`` and ``g`` in tests)."""
    return flask if flavour == "flask" else erlen


# -- the tutorial's fixtures ----------------------------------------------------------------


@pytest.fixture
def app(pkg: ModuleType, tmp_path: Path) -> Iterator[Any]:
    app = pkg.create_app({"TESTING": True, "DATABASE": str(tmp_path / "flaskr.sqlite")})
    with app.app_context():
        pkg.db.init_db()
        pkg.db.get_db().executescript(DATA_SQL)
    yield app


@pytest.fixture
def client(app: Any, flavour: str) -> Any:
    if flavour == "flask":
        return app.test_client()
    return app.test_client(asgi=flavour == "erlen-asgi")


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client: Any) -> None:
        self._client = client

    def login(self, username: str = "test", password: str = "test") -> Any:
        return self._client.post("/auth/login", data={"username": username, "password": password})

    def logout(self) -> Any:
        return self._client.get("/auth/logout")


@pytest.fixture
def auth(client: Any) -> AuthActions:
    return AuthActions(client)


# -- test_factory ---------------------------------------------------------------------------


def test_config(pkg: ModuleType) -> None:
    assert not pkg.create_app().testing
    assert pkg.create_app({"TESTING": True}).testing


def test_hello(client: Any) -> None:
    response = client.get("/hello")
    assert response.data == b"Hello, World!"


# -- test_db --------------------------------------------------------------------------------


def test_get_close_db(app: Any, pkg: ModuleType) -> None:
    with app.app_context():
        db = pkg.db.get_db()
        assert db is pkg.db.get_db()

    with pytest.raises(sqlite3.ProgrammingError) as e:
        db.execute("SELECT 1")

    assert "closed" in str(e.value)


def test_init_db_command(runner: Any, monkeypatch: pytest.MonkeyPatch, pkg: ModuleType) -> None:
    class Recorder:
        called = False

    def fake_init_db() -> None:
        Recorder.called = True

    monkeypatch.setattr(pkg.db, "init_db", fake_init_db)
    result = runner.invoke(args=["init-db"])
    assert "Initialized" in result.output
    assert Recorder.called


def test_init_db_command_for_real(runner: Any, app: Any, pkg: ModuleType) -> None:
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert result.output == "Initialized the database.\n"
    with app.app_context():
        assert pkg.db.get_db().execute("SELECT COUNT(*) FROM post").fetchone()[0] == 0


# -- test_auth ------------------------------------------------------------------------------


def test_register(client: Any, app: Any, pkg: ModuleType) -> None:
    assert client.get("/auth/register").status_code == 200
    response = client.post("/auth/register", data={"username": "a", "password": "a"})
    assert response.headers["Location"] == "/auth/login"

    with app.app_context():
        row = pkg.db.get_db().execute("SELECT * FROM user WHERE username = 'a'").fetchone()
        assert row is not None


@pytest.mark.parametrize(
    ("username", "password", "message"),
    (
        ("", "", b"Username is required."),
        ("a", "", b"Password is required."),
        ("test", "test", b"already registered"),
    ),
)
def test_register_validate_input(client: Any, username: str, password: str, message: bytes) -> None:
    response = client.post("/auth/register", data={"username": username, "password": password})
    assert message in response.data


def test_login(client: Any, auth: AuthActions, fw: ModuleType) -> None:
    assert client.get("/auth/login").status_code == 200
    response = auth.login()
    assert response.headers["Location"] == "/"

    with client:
        client.get("/")
        assert fw.session["user_id"] == 1
        assert fw.g.user["username"] == "test"


@pytest.mark.parametrize(
    ("username", "password", "message"),
    (("a", "test", b"Incorrect username."), ("test", "a", b"Incorrect password.")),
)
def test_login_validate_input(
    auth: AuthActions, username: str, password: str, message: bytes
) -> None:
    response = auth.login(username, password)
    assert message in response.data


def test_logout(client: Any, auth: AuthActions, fw: ModuleType) -> None:
    auth.login()

    with client:
        auth.logout()
        assert "user_id" not in fw.session


# -- test_blog ------------------------------------------------------------------------------


def test_index(client: Any, auth: AuthActions) -> None:
    response = client.get("/")
    assert b"Log In" in response.data
    assert b"Register" in response.data

    auth.login()
    response = client.get("/")
    assert b"Log Out" in response.data
    assert b"test title" in response.data
    assert b"by test on 2018-01-01" in response.data
    assert b"test\nbody" in response.data
    assert b'href="/1/update"' in response.data


@pytest.mark.parametrize("path", ("/create", "/1/update", "/1/delete"))
def test_login_required(client: Any, path: str) -> None:
    response = client.post(path)
    assert response.headers["Location"] == "/auth/login"


def test_author_required(app: Any, client: Any, auth: AuthActions, pkg: ModuleType) -> None:
    # Give the post to another user.
    with app.app_context():
        db = pkg.db.get_db()
        db.execute("UPDATE post SET author_id = 2 WHERE id = 1")
        db.commit()

    auth.login()
    # The current user can't modify another user's post...
    assert client.post("/1/update").status_code == 403
    assert client.post("/1/delete").status_code == 403
    # ...nor see the edit link.
    assert b'href="/1/update"' not in client.get("/").data


@pytest.mark.parametrize("path", ("/2/update", "/2/delete"))
def test_exists_required(client: Any, auth: AuthActions, path: str) -> None:
    auth.login()
    assert client.post(path).status_code == 404


def test_create(client: Any, auth: AuthActions, app: Any, pkg: ModuleType) -> None:
    auth.login()
    assert client.get("/create").status_code == 200
    client.post("/create", data={"title": "created", "body": ""})

    with app.app_context():
        count = pkg.db.get_db().execute("SELECT COUNT(id) FROM post").fetchone()[0]
        assert count == 2


def test_update(client: Any, auth: AuthActions, app: Any, pkg: ModuleType) -> None:
    auth.login()
    assert client.get("/1/update").status_code == 200
    client.post("/1/update", data={"title": "updated", "body": ""})

    with app.app_context():
        post = pkg.db.get_db().execute("SELECT * FROM post WHERE id = 1").fetchone()
        assert post["title"] == "updated"


@pytest.mark.parametrize("path", ("/create", "/1/update"))
def test_create_update_validate(client: Any, auth: AuthActions, path: str) -> None:
    auth.login()
    response = client.post(path, data={"title": "", "body": ""})
    assert b"Title is required." in response.data


def test_delete(client: Any, auth: AuthActions, app: Any, pkg: ModuleType) -> None:
    auth.login()
    response = client.post("/1/delete")
    assert response.headers["Location"] == "/"

    with app.app_context():
        post = pkg.db.get_db().execute("SELECT * FROM post WHERE id = 1").fetchone()
        assert post is None


# -- beyond the tutorial's suite ------------------------------------------------------------


def test_static_stylesheet(client: Any) -> None:
    with client.get("/static/style.css") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/css"
        assert b".flash" in response.data


def test_flashed_error_shown_once(client: Any) -> None:
    response = client.post("/auth/login", data={"username": "nobody", "password": "x"})
    assert b'<div class="flash">Incorrect username.</div>' in response.data
    assert b"Incorrect username." not in client.get("/auth/login").data


def test_unknown_post_404_message(client: Any, auth: AuthActions) -> None:
    auth.login()
    response = client.get("/9/update")
    assert response.status_code == 404
    assert b"Post id 9 doesn&#39;t exist." in response.data


def test_session_cookie_shared_with_flask(
    app: Any, flavour: str, flaskr_on_flask: ModuleType, tmp_path: Path
) -> None:
    """A user logged in on Flask stays logged in after the switch to Erlen (and back)."""
    if flavour == "flask":
        other = importlib.import_module("flaskr").create_app(
            {"TESTING": True, "DATABASE": app.config["DATABASE"]}
        )
    else:
        other = flaskr_on_flask.create_app({"TESTING": True, "DATABASE": app.config["DATABASE"]})
    login = app.test_client().post("/auth/login", data={"username": "test", "password": "test"})
    cookie = re.match(r"session=([^;]+)", login.headers["Set-Cookie"]).group(1)  # type: ignore[union-attr]
    client = other.test_client()
    client.set_cookie("session", cookie)
    assert b"Log Out" in client.get("/").data


def test_port_changes_only_names() -> None:
    """Every line that differs from the Flask version is an import or the app class."""
    for path in FLASKR.rglob("*.py"):
        for line in path.read_text("utf8").splitlines():
            if to_flask(line) == line:
                continue
            is_import = line.startswith(("from erlen import", "import erlen"))
            is_app_class = re.search(r"\bErlen\(", line) is not None
            is_docstring = line.lstrip().startswith('"""')
            assert is_import or is_app_class or is_docstring, (path, line)


def test_teardown_runs_in_the_views_thread(protocol: str) -> None:
    """Thread-bound resources on ``g`` (sqlite3) are closed by the thread that opened them."""
    import threading

    app = erlen.Erlen(__name__)
    seen: list[tuple[str, int]] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        seen.append(("teardown_request", threading.get_ident()))

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        seen.append(("teardown_appcontext", threading.get_ident()))

    @app.route("/")
    def index() -> str:
        seen.append(("view", threading.get_ident()))
        return "ok"

    @app.route("/file")
    def file() -> Any:
        seen.append(("view", threading.get_ident()))
        return erlen.send_file(io.BytesIO(b"file body"), mimetype="text/plain")

    client = app.test_client(asgi=protocol == "asgi")
    for path, body in (("/", "ok"), ("/file", "file body")):
        seen.clear()
        with client.get(path) as response:
            assert response.text == body
        assert [name for name, _ in seen] == ["view", "teardown_request", "teardown_appcontext"]
        assert len({ident for _, ident in seen}) == 1, path


# -- the worked example of docs/extensions.md -----------------------------------------------

EXTENSIONS_DOC = HERE.parents[1] / "docs" / "extensions.md"


def fenced_blocks(text: str, language: str) -> list[str]:
    """Return the bodies of the ``` blocks tagged *language* in markdown *text*."""
    return re.findall(rf"^```{re.escape(language)}\n(.*?)^```$", text, re.S | re.M)


@pytest.fixture
def extension_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The doc's two Python blocks as the modules they say they are, imported."""
    extension, app_module = fenced_blocks(EXTENSIONS_DOC.read_text("utf8"), "python")
    assert extension.startswith("# erlen_sqlite.py\n") and app_module.startswith("# app.py\n")
    (tmp_path / "erlen_sqlite.py").write_text(extension, "utf8")
    (tmp_path / "doc_extension_app.py").write_text(app_module, "utf8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield importlib.import_module("doc_extension_app")
    finally:
        sys.modules.pop("doc_extension_app", None)
        sys.modules.pop("erlen_sqlite", None)


def test_extensions_doc_example(extension_example: ModuleType, protocol: str) -> None:
    import doctest

    session_text = fenced_blocks(EXTENSIONS_DOC.read_text("utf8"), "pycon")[0]
    globs = dict(vars(extension_example))
    test = doctest.DocTestParser().get_doctest(session_text, globs, "extensions.md", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, clear_globs=False)
    assert tuple(runner.summarize(verbose=False)) == (0, 3)  # (failed, attempted)
    first, second = test.globs["first"], test.globs["second"]
    second.test_cli_runner().invoke(args=["init-db"])

    one = first.test_client(asgi=protocol == "asgi")
    two = second.test_client(asgi=protocol == "asgi")
    assert one.post("/notes", data={"text": "alpha"}).status_code == 201
    assert one.post("/notes", data={"text": "beta"}).status_code == 201
    assert two.post("/notes", data={"text": "gamma"}).status_code == 201
    assert one.get("/notes").text == "2 notes: alpha, beta"
    assert two.get("/notes").text == "1 notes: gamma"
    assert first.config["DATABASE"] == "first.sqlite"
    assert "db_count" in first.jinja_env.globals
