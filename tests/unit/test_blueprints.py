"""Blueprints, checked against Flask: the same tiny app on both gives the same answers.

Each ``build(mod, log)`` function builds an app with ``mod`` (``flask`` or
``erlen``) and appends what happens to ``log``; :func:`observe` runs the same
requests against both apps and compares status, body and log.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import pytest
from werkzeug.exceptions import HTTPException

import erlen
from erlen import Blueprint, Erlen
from support import run_markdown

Build = Callable[[ModuleType, list[str]], Any]


def app_class(mod: ModuleType) -> Any:
    return mod.Flask if mod is flask else mod.Erlen


def client_for(app: Any, protocol: str) -> Any:
    if isinstance(app, flask.Flask):
        return app.test_client()
    return app.test_client(asgi=protocol == "asgi")


def observe(
    build: Build, requests: list[str], protocol: str, **open_kwargs: Any
) -> list[tuple[str, int, str, list[str]]]:
    """Send ``requests`` ("PATH" or "METHOD PATH") to the Flask and the Erlen app; compare."""
    seen: dict[str, list[tuple[str, int, str, list[str]]]] = {}
    for mod in (flask, erlen):
        log: list[str] = []
        app = build(mod, log)
        client = client_for(app, protocol)
        rows = []
        for req in requests:
            method, _, path = req.rpartition(" ")
            resp = client.open(path, method=method or "GET", **open_kwargs)
            rows.append((req, resp.status_code, resp.get_data(as_text=True), log.copy()))
            log.clear()
        seen[mod.__name__] = rows
    assert seen["erlen"] == seen["flask"]
    return seen["erlen"]


# -- hooks: scoping and order -------------------------------------------------------


def build_hooks(mod: ModuleType, log: list[str]) -> Any:
    app = app_class(mod)(__name__)
    parent = mod.Blueprint("parent", __name__, url_prefix="/p")
    child = mod.Blueprint("child", __name__, url_prefix="/c")
    other = mod.Blueprint("other", __name__, url_prefix="/o")

    for scope, name in ((app, "app"), (parent, "parent"), (child, "child"), (other, "other")):
        for i in (1, 2):

            def before(name: str = name, i: int = i) -> None:
                log.append(f"before {name}{i}")

            def after(resp: Any, name: str = name, i: int = i) -> Any:
                log.append(f"after {name}{i}")
                return resp

            def teardown(exc: Any, name: str = name, i: int = i) -> None:
                log.append(f"teardown {name}{i}")

            def preprocess(endpoint: Any, values: Any, name: str = name, i: int = i) -> None:
                log.append(f"url_value {name}{i} {endpoint}")

            scope.before_request(before)
            scope.after_request(after)
            scope.teardown_request(teardown)
            scope.url_value_preprocessor(preprocess)

    @child.before_app_request
    def child_app_before() -> None:
        log.append("before child-app")

    @child.after_app_request
    def child_app_after(resp: Any) -> Any:
        log.append("after child-app")
        return resp

    @child.teardown_app_request
    def child_app_teardown(exc: Any) -> None:
        log.append("teardown child-app")

    @child.app_url_value_preprocessor
    def child_app_preprocess(endpoint: Any, values: Any) -> None:
        log.append("url_value child-app")

    def view() -> str:
        log.append(f"view {mod.request.endpoint} {mod.request.blueprint} {mod.request.blueprints}")
        return "ok"

    app.add_url_rule("/", "index", view)
    parent.add_url_rule("/", "index", view)
    child.add_url_rule("/", "index", view)
    other.add_url_rule("/", "index", view)
    parent.register_blueprint(child)
    app.register_blueprint(parent)
    app.register_blueprint(other)
    return app


def test_hooks_run_in_flasks_order_and_scope(protocol: str) -> None:
    rows = observe(build_hooks, ["/", "/p/", "/p/c/", "/o/", "/missing"], protocol)
    by_path = {path: log for path, _, _, log in rows}
    child_log = by_path["/p/c/"]
    assert child_log.index("before app1") < child_log.index("before parent1")
    assert child_log.index("before parent2") < child_log.index("before child1")
    assert "view parent.child.index parent.child ['parent.child', 'parent']" in child_log
    assert child_log.index("after child2") < child_log.index("after parent2")
    assert child_log[-1] == "teardown app1"
    assert not any("other" in entry for entry in child_log)
    assert "before child-app" in by_path["/o/"]
    assert not any("parent" in entry for entry in by_path["/missing"])
    assert [status for _, status, _, _ in rows] == [200, 200, 200, 200, 404]


def build_error_handlers(mod: ModuleType, log: list[str]) -> Any:
    app = app_class(mod)(__name__)
    parent = mod.Blueprint("parent", __name__, url_prefix="/p")
    child = mod.Blueprint("child", __name__, url_prefix="/c")

    @app.errorhandler(404)
    def app_404(e: Any) -> Any:
        return f"app 404 {mod.request.blueprint}", 404

    @app.errorhandler(ValueError)
    def app_value(e: Any) -> Any:
        return "app ValueError", 500

    @parent.errorhandler(LookupError)
    def parent_lookup(e: Any) -> Any:
        return f"parent LookupError {type(e).__name__}", 400

    @parent.errorhandler(ValueError)
    def parent_value(e: Any) -> Any:
        return "parent ValueError", 400

    @child.errorhandler(KeyError)
    def child_key(e: Any) -> Any:
        return "child KeyError", 400

    @child.errorhandler(HTTPException)
    def child_http(e: Any) -> Any:
        return f"child HTTPException {e.code}", e.code

    @child.app_errorhandler(418)
    def teapot(e: Any) -> Any:
        return "app-wide teapot from child", 418

    @parent.errorhandler(500)
    def parent_500(e: Any) -> Any:
        return f"parent 500 {type(e.original_exception).__name__}", 500

    def raiser(what: str) -> str:
        if what == "key":
            raise KeyError("k")
        if what == "index":
            raise IndexError("i")
        if what == "value":
            raise ValueError("v")
        if what == "runtime":
            raise RuntimeError("r")
        codes = {"404": 404, "403": 403, "418": 418}
        mod.abort(codes[what])
        return "unreachable"

    app.add_url_rule("/<what>", "raiser", raiser)
    parent.add_url_rule("/<what>", "raiser", raiser)
    child.add_url_rule("/<what>", "raiser", raiser)
    parent.register_blueprint(child)
    app.register_blueprint(parent)
    return app


def test_error_handlers_resolve_like_flask(protocol: str) -> None:
    cases = [
        f"{prefix}/{what}"
        for prefix in ("", "/p", "/p/c")
        for what in ("key", "index", "value", "runtime", "404", "403", "418")
    ]
    cases += ["/p/c/x/y", "/p/nothing/here"]
    rows = observe(build_error_handlers, cases, protocol)
    got = {path: (status, body) for path, status, body, _ in rows}
    # Code-specific handlers anywhere win over class handlers (Flask's rule).
    assert got["/p/c/404"] == (404, "app 404 parent.child")
    assert got["/p/c/403"] == (403, "child HTTPException 403")
    assert got["/p/c/key"] == (400, "child KeyError")
    assert got["/p/c/index"] == (400, "parent LookupError IndexError")
    assert got["/p/runtime"] == (500, "parent 500 RuntimeError")
    assert got["/418"] == (418, "app-wide teapot from child")
    assert got["/p/nothing/here"] == (404, "app 404 None")


def test_unhandled_error_without_handler_is_500(protocol: str) -> None:
    rows = observe(build_error_handlers, ["/runtime"], protocol)
    assert rows[0][1] == 500


# -- URLs, names and registration options ------------------------------------------------


def build_urls(mod: ModuleType, log: list[str]) -> Any:
    app = app_class(mod)(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"
    parent = mod.Blueprint("parent", __name__, url_prefix="/parent/")
    child = mod.Blueprint("child", __name__, url_prefix="child")
    grand = mod.Blueprint("grand", __name__)
    sub = mod.Blueprint("sub", __name__, subdomain="api")
    subchild = mod.Blueprint("subchild", __name__, subdomain="v1", url_prefix="/sc")
    dflt = mod.Blueprint("dflt", __name__, url_defaults={"lang": "en"})

    def show() -> str:
        req = mod.request
        urls = [
            mod.url_for(".show"),
            mod.url_for("parent.show"),
            mod.url_for("parent.child.show"),
            mod.url_for("parent.child.grand.show"),
            mod.url_for("second.show"),
            mod.url_for("sub.show"),
            mod.url_for("sub.subchild.show"),
            mod.url_for("dflt.lang"),
            mod.url_for("dflt.lang", q="1"),
            mod.url_for("other.lang"),
            mod.url_for("show", _external=True),
            mod.url_for("parent.child.empty"),
        ]
        return f"{req.endpoint}|{req.blueprint}|{req.blueprints}|" + " ".join(urls)

    def lang(lang: str) -> str:
        return f"{mod.request.endpoint} {lang}"

    def empty() -> str:
        return f"empty {mod.request.path}"

    app.add_url_rule("/", "show", show)
    for bp in (parent, child, grand, sub, subchild):
        bp.add_url_rule("/show", "show", show)
    child.add_url_rule("", "empty", empty)
    dflt.add_url_rule("/lang", "lang", lang)
    child.register_blueprint(grand, url_prefix="/g")
    parent.register_blueprint(child)
    app.register_blueprint(parent)
    parent_twice = mod.Blueprint("parent2", __name__)
    parent_twice.add_url_rule("/show", "show", show)
    app.register_blueprint(parent_twice, name="second", url_prefix="/second")
    sub.register_blueprint(subchild)
    app.register_blueprint(sub)
    app.register_blueprint(dflt, url_prefix="/d")
    app.register_blueprint(dflt, name="other", url_prefix="/o", url_defaults={"lang": "de"})
    return app


def test_url_for_names_prefixes_subdomains_defaults(protocol: str) -> None:
    paths = [
        "/",
        "/parent/show",
        "/parent/child/show",
        "/parent/child",
        "/parent/child/g/show",
        "/second/show",
        "/d/lang",
        "/o/lang",
    ]
    rows = observe(build_urls, [f"http://example.test{p}" for p in paths], protocol)
    rows += observe(
        build_urls, ["http://api.example.test/show", "http://v1.api.example.test/sc/show"], protocol
    )
    got = {path.removeprefix("http://"): body for path, _, body, _ in rows}
    grand = got["example.test/parent/child/g/show"]
    assert grand.startswith(
        "parent.child.grand.show|parent.child.grand|"
        "['parent.child.grand', 'parent.child', 'parent']|/parent/child/g/show "
    )
    assert "http://v1.api.example.test/sc/show" in grand
    assert got["example.test/parent/child"] == "empty /parent/child"
    assert got["example.test/o/lang"] == "other.lang de"
    assert got["v1.api.example.test/sc/show"].startswith("sub.subchild.show|sub.subchild|")


def test_request_blueprint_outside_blueprint(protocol: str) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return f"{erlen.request.blueprint} {erlen.request.blueprints}"

    client = app.test_client(asgi=protocol == "asgi")
    assert client.get("/").text == "None []"


def build_url_processors(mod: ModuleType, log: list[str]) -> Any:
    app = app_class(mod)(__name__)
    bp = mod.Blueprint("frontend", __name__, url_prefix="/<lang_code>")

    @bp.url_defaults
    def add_language_code(endpoint: str, values: dict[str, Any]) -> None:
        log.append(f"defaults {endpoint}")
        values.setdefault("lang_code", mod.g.lang_code)

    @bp.url_value_preprocessor
    def pull_lang_code(endpoint: Any, values: Any) -> None:
        mod.g.lang_code = values.pop("lang_code")

    @app.url_defaults
    def app_defaults(endpoint: str, values: dict[str, Any]) -> None:
        log.append(f"app defaults {endpoint}")

    @bp.app_url_defaults
    def app_wide_defaults(endpoint: str, values: dict[str, Any]) -> None:
        log.append(f"bp app-wide defaults {endpoint}")

    @bp.route("/about")
    def about() -> str:
        return f"{mod.g.lang_code} {mod.url_for('.about')} {mod.url_for('.index', lang_code='xx')}"

    @bp.route("/")
    def index() -> str:
        return "index"

    @app.route("/home")
    def home() -> str:
        return mod.url_for("home")

    app.register_blueprint(bp)
    return app


def test_url_defaults_and_value_preprocessors(protocol: str) -> None:
    rows = observe(build_url_processors, ["/fr/about", "/home"], protocol)
    assert rows[0][2] == "fr /fr/about /xx/"
    assert rows[1][3] == ["app defaults home", "bp app-wide defaults home"]


def test_same_blueprint_twice(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        bp = mod.Blueprint("bp", __name__)
        bp.record(lambda state: log.append(f"record {state.name} {state.first_registration}"))
        bp.record_once(lambda state: log.append(f"record_once {state.name}"))

        @bp.before_request
        def before() -> None:
            log.append(f"before {mod.request.blueprint}")

        @bp.before_app_request
        def before_app() -> None:
            log.append("before app-wide")

        @bp.route("/")
        def index() -> str:
            return f"{mod.request.blueprint} {mod.url_for('.index')}"

        app.register_blueprint(bp, url_prefix="/a")
        app.register_blueprint(bp, name="b", url_prefix="/b")
        log.append(f"blueprints {sorted(app.blueprints)}")
        return app

    rows = observe(build, ["/a/", "/b/"], protocol)
    assert rows[0][3][:3] == ["record bp True", "record_once bp", "record b False"]
    assert rows[0][2] == "bp /a/"
    assert rows[1][2] == "b /b/"
    assert rows[1][3] == ["before app-wide", "before b"]


@pytest.mark.parametrize("mod", [flask, erlen], ids=["flask", "erlen"])
def test_registration_errors(mod: ModuleType) -> None:
    app = app_class(mod)(__name__)
    bp = mod.Blueprint("bp", __name__)
    bp.add_url_rule("/", "index", lambda: "")
    app.register_blueprint(bp)
    with pytest.raises(ValueError, match="already registered for this blueprint"):
        app.register_blueprint(bp)
    with pytest.raises(ValueError, match="already registered for a different blueprint"):
        app.register_blueprint(mod.Blueprint("bp", __name__))
    with pytest.raises(ValueError, match="dot"):
        mod.Blueprint("a.b", __name__)
    with pytest.raises(ValueError, match="empty"):
        mod.Blueprint("", __name__)
    with pytest.raises(ValueError, match="dot"):
        mod.Blueprint("x", __name__).add_url_rule("/", "a.b", lambda: "")
    with pytest.raises(ValueError, match="itself"):
        bp2 = mod.Blueprint("bp2", __name__)
        bp2.register_blueprint(bp2)
    # Setup after registration is refused rather than silently ignored.
    with pytest.raises(AssertionError, match="registered"):
        bp.add_url_rule("/late", "late", lambda: "")
    with pytest.raises(AssertionError, match="registered"):
        bp.before_request(lambda: None)
    with pytest.raises(AssertionError, match="registered"):
        bp.errorhandler(404)(lambda e: "")


def test_endpoint_decorator_and_rule_without_view(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        bp = mod.Blueprint("bp", __name__)
        bp.add_url_rule("/late", "late")

        @bp.endpoint("bp.late")
        def late() -> str:
            return "late view"

        app.register_blueprint(bp)
        return app

    rows = observe(build, ["/late"], protocol)
    assert rows[0][1:3] == (200, "late view")


def test_record_runs_per_registration_and_sees_options() -> None:
    app = Erlen(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/default", subdomain="s")
    states: list[tuple[str, str | None, str | None, bool, dict[str, Any]]] = []
    bp.record(
        lambda s: states.append(
            (s.name, s.url_prefix, s.subdomain, s.first_registration, s.url_defaults)
        )
    )
    once: list[Erlen] = []
    bp.record_once(lambda s: once.append(s.app))
    app.register_blueprint(bp)
    app.register_blueprint(bp, name="two", url_prefix="/two", url_defaults={"x": 1})
    assert states == [
        ("bp", "/default", "s", True, {}),
        ("two", "/two", "s", False, {"x": 1}),
    ]
    assert once == [app]


def test_blueprint_cli_commands() -> None:
    app = Erlen(__name__)
    bp = Blueprint("tools", __name__)
    flat = Blueprint("flat", __name__, cli_group=None)

    @bp.cli.command("hello")
    def hello() -> None:
        print("hello from tools")

    @flat.cli.command("top")
    def top() -> None:
        print("top level")

    app.register_blueprint(bp)
    app.register_blueprint(flat)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["tools", "hello"]).output == "hello from tools\n"
    assert runner.invoke(args=["top"]).output == "top level\n"


# -- templates and static files of blueprints ---------------------------------------------


@pytest.fixture
def bp_tree(tmp_path: Path) -> Path:
    files = {
        "templates/shared.html": "app shared",
        "templates/layout.html": "<app>{% block body %}{% endblock %}</app>",
        "admin/templates/shared.html": "admin shared",
        "admin/templates/admin/page.html": (
            '{% extends "layout.html" %}{% block body %}admin page {{ x }}{% endblock %}'
        ),
        "admin/templates/only_in_bps.html": "admin wins (registered first)",
        "shop/templates/only_in_bps.html": "shop",
        "shop/templates/shop/page.html": "shop page",
        "admin/static/admin.css": "body { color: red }",
        "static/app.css": "app css",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_blueprint_templates_app_first(bp_tree: Path, protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__, root_path=str(bp_tree))
        admin = mod.Blueprint(
            "admin",
            __name__,
            root_path=str(bp_tree / "admin"),
            template_folder="templates",
            static_folder="static",
            url_prefix="/admin",
        )
        shop = mod.Blueprint(
            "shop", __name__, root_path=str(bp_tree / "shop"), template_folder="templates"
        )

        @admin.route("/<path:name>")
        def page(name: str) -> str:
            return mod.render_template(name, x=1)

        app.register_blueprint(admin)
        app.register_blueprint(shop)
        log.append(mod.url_for.__name__)
        return app

    rows = observe(
        build,
        ["/admin/shared.html", "/admin/admin/page.html", "/admin/only_in_bps.html"],
        protocol,
    )
    assert [body for _, _, body, _ in rows] == [
        "app shared",
        "<app>admin page 1</app>",
        "admin wins (registered first)",
    ]


def test_blueprint_static_url(bp_tree: Path) -> None:
    for mod in (flask, erlen):
        app = app_class(mod)(__name__, root_path=str(bp_tree))
        admin = mod.Blueprint(
            "admin", __name__, root_path=str(bp_tree / "admin"), static_folder="static"
        )
        custom = mod.Blueprint(
            "custom",
            __name__,
            root_path=str(bp_tree / "admin"),
            static_folder="static",
            static_url_path="/assets",
        )
        app.register_blueprint(admin, url_prefix="/admin")
        app.register_blueprint(custom, url_prefix="/c")
        with app.test_request_context():
            urls = [
                mod.url_for("admin.static", filename="admin.css"),
                mod.url_for("custom.static", filename="admin.css"),
                mod.url_for("static", filename="app.css"),
            ]
        assert urls == ["/admin/static/admin.css", "/c/assets/admin.css", "/static/app.css"]
        assert admin.static_folder == str(bp_tree / "admin" / "static")


def test_blueprint_static_files_served(bp_tree: Path, protocol: str) -> None:
    app = Erlen(__name__, root_path=str(bp_tree))
    admin = Blueprint("admin", __name__, root_path=str(bp_tree / "admin"), static_folder="static")
    app.register_blueprint(admin, url_prefix="/admin")
    client = app.test_client(asgi=protocol == "asgi")
    assert client.get("/admin/static/admin.css").data == b"body { color: red }"
    assert client.get("/admin/static/../../static/app.css").status_code == 404


def test_app_wide_template_registrations_from_blueprint(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        bp = mod.Blueprint("bp", __name__)

        @bp.app_template_filter()
        def shout(s: str) -> str:
            return s.upper()

        @bp.app_template_filter("rev")
        def reverse(s: str) -> str:
            return s[::-1]

        @bp.app_template_test()
        def short(s: str) -> bool:
            return len(s) < 4

        @bp.app_template_test("long")
        def is_long(s: str) -> bool:
            return len(s) > 10

        @bp.app_template_global()
        def answer() -> int:
            return 42

        @bp.app_template_global("twice")
        def double(x: int) -> int:
            return x * 2

        bp.add_app_template_filter(lambda s: f"[{s}]", "box")
        bp.add_app_template_test(lambda s: s == "x", "x")
        bp.add_app_template_global(lambda: "g!", "bang")

        @bp.app_context_processor
        def inject() -> dict[str, Any]:
            return {"from_bp": "bp-wide"}

        @bp.context_processor
        def only_bp() -> dict[str, Any]:
            return {"only_bp": "scoped"}

        tpl = (
            "{{ 'abc'|shout }} {{ 'abc'|rev }} {{ 'abc' is short }} {{ 'abc' is long }}"
            " {{ answer() }} {{ twice(2) }} {{ 'a'|box }} {{ 'x' is x }} {{ bang() }}"
            " {{ from_bp }} {{ only_bp|default('-') }}"
        )

        @app.route("/app")
        def on_app() -> str:
            return mod.render_template_string(tpl)

        @bp.route("/bp")
        def on_bp() -> str:
            return mod.render_template_string(tpl)

        app.register_blueprint(bp)
        return app

    rows = observe(build, ["/app", "/bp"], protocol)
    assert rows[0][2] == "ABC cba True False 42 4 [a] True g! bp-wide -"
    assert rows[1][2].endswith("bp-wide scoped")


def test_nested_context_processors_innermost_wins(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        parent = mod.Blueprint("parent", __name__, url_prefix="/p")
        child = mod.Blueprint("child", __name__, url_prefix="/c")
        app.context_processor(lambda: {"a": "app", "b": "app", "c": "app"})
        parent.context_processor(lambda: {"b": "parent", "c": "parent"})
        child.context_processor(lambda: {"c": "child"})

        def view() -> str:
            return mod.render_template_string("{{ a }} {{ b }} {{ c }}")

        for bp in (app, parent, child):
            bp.add_url_rule("/", "v", view)
        parent.register_blueprint(child)
        app.register_blueprint(parent)
        return app

    rows = observe(build, ["/", "/p/", "/p/c/"], protocol)
    assert [r[2] for r in rows] == ["app app app", "app parent parent", "app parent child"]


def test_method_view_in_blueprint(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        views = importlib.import_module(f"{mod.__name__}.views")

        class Items(views.MethodView):
            def get(self) -> str:
                return f"get {mod.request.endpoint}"

            def post(self) -> str:
                return "post"

        app = app_class(mod)(__name__)
        bp = mod.Blueprint("api", __name__, url_prefix="/api")
        bp.add_url_rule("/items", view_func=Items.as_view("items"))
        app.register_blueprint(bp)
        return app

    rows = observe(build, ["/api/items", "POST /api/items", "DELETE /api/items"], protocol)
    assert [r[1] for r in rows] == [200, 200, 405]


def test_async_hooks_in_blueprints(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        bp = mod.Blueprint("bp", __name__)

        @bp.before_request
        async def before() -> None:
            log.append("async before")

        @bp.after_request
        async def after(resp: Any) -> Any:
            log.append("async after")
            return resp

        @bp.errorhandler(ValueError)
        async def handle(e: Any) -> Any:
            return "async handled", 400

        @bp.route("/ok")
        async def ok() -> str:
            return "ok"

        @bp.route("/boom")
        async def boom() -> str:
            raise ValueError

        app.register_blueprint(bp)
        return app

    rows = observe(build, ["/ok", "/boom"], protocol)
    assert rows[1][1:] == (400, "async handled", ["async before", "async after"])


def test_blueprint_repr_and_iter_blueprints() -> None:
    app = Erlen(__name__)
    a, b = Blueprint("a", __name__), Blueprint("b", __name__)
    a.register_blueprint(b)
    app.register_blueprint(a)
    assert list(app.iter_blueprints()) == [a, b]
    assert list(app.blueprints) == ["a", "a.b"]
    assert repr(a) == "<Blueprint 'a'>"


def test_after_this_request_runs_before_blueprint_hooks(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        bp = mod.Blueprint("bp", __name__)

        @bp.after_request
        def bp_after(resp: Any) -> Any:
            log.append("bp after")
            return resp

        @app.after_request
        def app_after(resp: Any) -> Any:
            log.append("app after")
            return resp

        @bp.route("/")
        def index() -> str:
            for i in (1, 2):

                @mod.after_this_request
                def later(resp: Any, i: int = i) -> Any:
                    log.append(f"after_this_request {i}")
                    return resp

            return "ok"

        app.register_blueprint(bp)
        return app

    rows = observe(build, ["/"], protocol)
    assert rows[0][3] == ["after_this_request 1", "after_this_request 2", "bp after", "app after"]


# -- docs/blueprints.md runs as written --------------------------------------------------


def test_blueprints_doc_runs() -> None:
    assert run_markdown(Path(__file__).resolve().parents[2] / "docs" / "blueprints.md") >= 10


def test_nested_blueprint_registered_twice_through_parent(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        parent = mod.Blueprint("parent", __name__)
        child = mod.Blueprint("child", __name__, url_prefix="/c")

        @child.before_request
        def before() -> None:
            log.append(f"child before {mod.request.blueprints}")

        @child.errorhandler(KeyError)
        def on_key(e: Any) -> Any:
            return f"child handled in {mod.request.blueprint}", 400

        @child.route("/")
        def index() -> str:
            return f"{mod.request.endpoint} {mod.url_for('.index')}"

        @child.route("/key")
        def key() -> str:
            raise KeyError

        parent.register_blueprint(child)
        app.register_blueprint(parent, url_prefix="/one")
        app.register_blueprint(parent, name="two", url_prefix="/two")
        log.append(" ".join(sorted(app.blueprints)))
        return app

    rows = observe(build, ["/one/c/", "/two/c/", "/two/c/key"], protocol)
    assert rows[0][3] == [
        "parent parent.child two two.child",
        "child before ['parent.child', 'parent']",
    ]
    assert rows[1][2] == "two.child.index /two/c/"
    assert rows[2][1:3] == (400, "child handled in two.child")


def test_before_request_short_circuit_and_errors_in_hooks(protocol: str) -> None:
    def build(mod: ModuleType, log: list[str]) -> Any:
        app = app_class(mod)(__name__)
        bp = mod.Blueprint("bp", __name__)

        @bp.before_request
        def gate() -> Any:
            if mod.request.args.get("stop"):
                return "stopped by bp", 401
            if mod.request.args.get("fail"):
                raise ValueError("in hook")
            return None

        @bp.before_request
        def second() -> None:
            log.append("second before")

        @bp.errorhandler(ValueError)
        def on_value(e: Any) -> Any:
            return f"handled {e}", 409

        @bp.after_request
        def after(resp: Any) -> Any:
            log.append(f"after {resp.status_code}")
            return resp

        @bp.teardown_request
        def teardown(exc: Any) -> None:
            log.append(f"teardown {exc!r}")

        @bp.route("/")
        def index() -> str:
            log.append("view")
            return "view"

        app.register_blueprint(bp)
        return app

    rows = observe(build, ["/", "/?stop=1", "/?fail=1"], protocol)
    assert rows[0][3] == ["second before", "view", "after 200", "teardown None"]
    assert rows[1][1:] == (401, "stopped by bp", ["after 401", "teardown None"])
    assert rows[2][1:] == (409, "handled in hook", ["after 409", "teardown None"])


def test_rule_defaults_are_flasks() -> None:
    """A blueprint's rules have ``defaults == {}``, an app's ``None`` (Flask-Smorest reads them)."""

    def defaults(mod: ModuleType, app_class: Any) -> dict[str, Any]:
        app = app_class(__name__)
        bp = mod.Blueprint("bp", __name__, url_prefix="/bp")
        bp.add_url_rule("/<int:i>", "item", lambda i: "")
        bp.add_url_rule("/page", "page", lambda page: "", defaults={"page": 1})
        app.add_url_rule("/", "index", lambda: "")
        app.register_blueprint(bp)
        return {rule.endpoint: rule.defaults for rule in app.url_map.iter_rules()}

    expected = defaults(flask, flask.Flask)
    assert expected == {"static": None, "index": None, "bp.item": {}, "bp.page": {"page": 1}}
    assert defaults(erlen, Erlen) == expected
