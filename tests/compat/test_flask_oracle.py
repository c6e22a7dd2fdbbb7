"""A Flask app ported by changing one import line behaves as it does on Flask.

The same application source is compiled twice, once with ``from flask import ...`` and once
with ``from erlen import ...`` (``Flask`` -> ``Erlen``), and a scripted session of requests
(cookies, login, flash, JSON API, errors, redirects) must give the same answers.
"""

from __future__ import annotations

import textwrap
from types import ModuleType
from typing import Any

import pytest

APP_SOURCE = textwrap.dedent(
    '''
    import functools

    from {fw} import (
        Blueprint, abort, flash, g, get_flashed_messages, jsonify, make_response, redirect,
        render_template_string, request, session, url_for,
    )
    from {fw} import {cls} as Flask

    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY="oracle", TODOS_PER_PAGE=2)

    USERS = {{"ann": "pw1", "bob": "pw2"}}
    TODOS = []

    PAGE = """<!doctype html>
    <title>{{{{ title }}}}</title>
    {{% for category, message in get_flashed_messages(with_categories=True) %}}
    <p class="{{{{ category }}}}">{{{{ message }}}}</p>
    {{% endfor %}}
    {{% if g.user %}}<p>logged in as {{{{ g.user }}}}</p>{{% endif %}}
    {{{{ body }}}}
    """


    def login_required(view):
        @functools.wraps(view)
        def wrapped(**kwargs):
            if g.user is None:
                return redirect(url_for("auth.login", next=request.path))
            return view(**kwargs)
        return wrapped


    auth = Blueprint("auth", __name__, url_prefix="/auth")


    @auth.before_app_request
    def load_user():
        g.user = session.get("user")


    @auth.route("/login", methods=("GET", "POST"))
    def login():
        if request.method == "POST":
            user = request.form.get("username", "")
            if USERS.get(user) != request.form.get("password"):
                flash("Incorrect login.", "error")
                return render_template_string(PAGE, title="Log in", body="form"), 401
            session.clear()
            session["user"] = user
            flash(f"Welcome, {{user}}!")
            return redirect(request.args.get("next") or url_for("index"))
        return render_template_string(PAGE, title="Log in", body="form")


    @auth.route("/logout")
    def logout():
        session.clear()
        return redirect(url_for("index"))


    api = Blueprint("api", __name__, url_prefix="/api/v1")


    @api.errorhandler(404)
    def api_404(e):
        return jsonify(error=e.name, detail=e.description), 404


    @api.get("/todos")
    def list_todos():
        page = request.args.get("page", 1, type=int)
        per = app.config["TODOS_PER_PAGE"]
        items = TODOS[(page - 1) * per : page * per]
        return {{"page": page, "items": items, "next": url_for(".list_todos", page=page + 1)}}


    @api.post("/todos")
    @login_required
    def add_todo():
        data = request.get_json()
        if not isinstance(data, dict) or not data.get("title"):
            abort(400, description="title is required")
        todo = {{"id": len(TODOS) + 1, "title": data["title"], "owner": g.user}}
        TODOS.append(todo)
        return todo, 201, {{"Location": url_for(".get_todo", todo_id=todo["id"])}}


    @api.get("/todos/<int:todo_id>")
    def get_todo(todo_id):
        for todo in TODOS:
            if todo["id"] == todo_id:
                return todo
        abort(404, description=f"todo {{todo_id}} does not exist")


    @api.delete("/todos/<int:todo_id>")
    @login_required
    def delete_todo(todo_id):
        for todo in TODOS:
            if todo["id"] == todo_id:
                if todo["owner"] != g.user:
                    abort(403)
                TODOS.remove(todo)
                return "", 204
        abort(404)


    app.register_blueprint(auth)
    app.register_blueprint(api)


    @app.route("/")
    def index():
        return render_template_string(PAGE, title="Home", body=f"{{len(TODOS)}} todos")


    @app.route("/private")
    @login_required
    def private():
        return f"secret of {{g.user}}"


    @app.route("/prefs", methods=["GET", "POST"])
    def prefs():
        if request.method == "POST":
            resp = make_response(redirect(url_for("prefs")))
            resp.set_cookie("theme", request.form["theme"], max_age=3600, samesite="Lax")
            return resp
        return {{"theme": request.cookies.get("theme", "light")}}


    @app.errorhandler(403)
    def forbidden(e):
        return render_template_string(PAGE, title="Forbidden", body=e.description), 403
    '''
)


def _load(framework: str, cls: str) -> Any:
    module = ModuleType(f"oracle_{framework}")
    module.__file__ = __file__
    exec(
        compile(APP_SOURCE.format(fw=framework, cls=cls), module.__file__, "exec"), module.__dict__
    )
    return module.app


SCRIPT: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/private", {}),
    ("GET", "/auth/login?next=/private", {}),
    ("POST", "/auth/login", {"data": {"username": "ann", "password": "wrong"}}),
    ("GET", "/", {}),
    ("POST", "/auth/login?next=/private", {"data": {"username": "ann", "password": "pw1"}}),
    ("GET", "/private", {}),
    ("GET", "/", {}),
    ("GET", "/", {}),
    ("POST", "/api/v1/todos", {"json": {"title": "write tests"}}),
    ("POST", "/api/v1/todos", {"json": {"title": "fix bugs"}}),
    ("POST", "/api/v1/todos", {"json": {"title": "ship"}}),
    ("POST", "/api/v1/todos", {"json": {}}),
    ("POST", "/api/v1/todos", {"data": "not json", "content_type": "text/plain"}),
    ("GET", "/api/v1/todos", {}),
    ("GET", "/api/v1/todos?page=2", {}),
    ("GET", "/api/v1/todos?page=x", {}),
    ("GET", "/api/v1/todos/2", {}),
    ("GET", "/api/v1/todos/99", {}),
    ("GET", "/api/v1/nothing", {}),
    ("PUT", "/api/v1/todos/2", {}),
    ("GET", "/auth/logout", {}),
    ("POST", "/auth/login", {"data": {"username": "bob", "password": "pw2"}}),
    ("DELETE", "/api/v1/todos/1", {}),
    ("GET", "/auth/logout", {}),
    ("POST", "/auth/login", {"data": {"username": "ann", "password": "pw1"}}),
    ("DELETE", "/api/v1/todos/1", {}),
    ("DELETE", "/api/v1/todos/1", {}),
    ("GET", "/api/v1/todos", {}),
    ("GET", "/prefs", {}),
    ("POST", "/prefs", {"data": {"theme": "dark"}}),
    ("GET", "/prefs", {}),
    ("HEAD", "/", {}),
    ("OPTIONS", "/api/v1/todos", {}),
    ("GET", "/auth/login/", {}),
    ("GET", "/api/v1/todos/", {}),
]


def test_ported_app_behaves_like_flask(protocol: str) -> None:
    flask_client = _load("flask", "Flask").test_client()
    erlen_client = _load("erlen", "Erlen").test_client(asgi=(protocol == "asgi"))
    for step, (method, path, kwargs) in enumerate(SCRIPT):
        f = flask_client.open(path, method=method, **kwargs)
        e = erlen_client.open(path, method=method, **kwargs)
        where = f"step {step}: {method} {path} ({protocol})"
        assert e.status_code == f.status_code, f"{where}: {e.status_code} != {f.status_code}"
        assert e.data == f.data, f"{where}:\n{e.data[:400]!r}\n!=\n{f.data[:400]!r}"
        for header in ("Content-Type", "Location", "Vary"):
            assert e.headers.get(header) == f.headers.get(header), f"{where}: {header}"
        if "Allow" in f.headers:
            allow = {m.strip() for m in f.headers["Allow"].split(",")}
            assert {m.strip() for m in e.headers["Allow"].split(",")} == allow, where
        # Session cookies are signed with a timestamp; compare which cookies were set.
        f_cookies = sorted(c.split("=", 1)[0] for c in f.headers.getlist("Set-Cookie"))
        e_cookies = sorted(c.split("=", 1)[0] for c in e.headers.getlist("Set-Cookie"))
        assert e_cookies == f_cookies, f"{where}: {e_cookies} != {f_cookies}"
        f.close()
        e.close()


@pytest.mark.parametrize("framework", ["flask", "erlen"])
def test_oracle_app_loads(framework: str) -> None:
    app = _load(framework, "Flask" if framework == "flask" else "Erlen")
    assert sorted(r.endpoint for r in app.url_map.iter_rules()) == sorted(
        [
            "static",
            "auth.login",
            "auth.logout",
            "api.list_todos",
            "api.add_todo",
            "api.get_todo",
            "api.delete_todo",
            "index",
            "private",
            "prefs",
        ]
    )
