"""Templates, checked against Flask: the same app on both renders the same text."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import flask
import jinja2
import markupsafe
import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

import erlen
from erlen import Erlen, get_template_attribute, render_template, render_template_string
from erlen._jinja import Template as ErlenTemplate
from erlen.templating import DispatchingJinjaLoader, Environment
from support import run_markdown

Build = Callable[[ModuleType, Path], Any]


def app_class(mod: ModuleType) -> Any:
    return mod.Flask if mod is flask else mod.Erlen


def observe(build: Build, root: Path, requests: list[str], protocol: str) -> list[tuple[int, str]]:
    """Send the same GET requests to the app built on Flask and on Erlen; compare answers."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for mod in (flask, erlen):
        app = build(mod, root)
        if mod is flask:
            client = app.test_client()
        else:
            client = app.test_client(asgi=protocol == "asgi")
        rows = []
        for path in requests:
            resp = client.get(path)
            rows.append((resp.status_code, resp.get_data(as_text=True)))
        seen[mod.__name__] = rows
    assert seen["erlen"] == seen["flask"]
    return seen["erlen"]


TEMPLATES = {
    "page.html": "<p>{{ value }}</p>",
    "page.htm": "{{ value }}",
    "page.xml": "{{ value }}",
    "page.xhtml": "{{ value }}",
    "page.svg": "{{ value }}",
    "page.txt": "{{ value }}",
    "layout.html": "<main>{% block body %}{% endblock %}</main>",
    "child.html": '{% extends "layout.html" %}{% block body %}child {{ value }}{% endblock %}',
    "macros.html": (
        "{% macro hello(name) %}Hello {{ name }} from {{ request.path }}"
        " {{ g.get('who', '-') }} {{ session.get('user', '-') }}{% endmacro %}"
    ),
    "uses_macro.html": '{% from "macros.html" import hello %}{{ hello("x") }}',
    "globals.html": (
        "{{ request.method }} {{ request.path }} {{ g.who }} {{ session.user }}"
        " {{ config.THE_SETTING }} {{ url_for('index', q=1) }} {{ get_flashed_messages() }}"
    ),
    "stream.html": "{% for i in range(3) %}<{{ i }} {{ request.path }}>{% endfor %}",
    "json.html": "<script>var data = {{ data|tojson }};</script>",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name, text in TEMPLATES.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def build_render(mod: ModuleType, root: Path) -> Any:
    app = app_class(mod)(__name__, root_path=str(root))
    app.secret_key = "templating"
    app.config["THE_SETTING"] = "configured"

    @app.route("/")
    def index() -> str:
        return "index"

    @app.route("/render/<path:name>")
    def render(name: str) -> str:
        return mod.render_template(name, value="<b>&</b>")

    @app.route("/list")
    def render_list() -> str:
        return mod.render_template(["missing.html", "child.html"], value=Markup("<i>ok</i>"))

    @app.route("/string")
    def string() -> str:
        return mod.render_template_string("{{ value }} {{ safe }}", value="<x>", safe=Markup("<y>"))

    @app.route("/no-escape")
    def no_escape() -> str:
        return mod.render_template_string(
            "{% autoescape false %}{{ value }}{% endautoescape %}", value="<x>"
        )

    @app.route("/globals")
    def globals_view() -> str:
        mod.g.who = "me"
        mod.session["user"] = "ann"
        mod.flash("flashed")
        return mod.render_template("globals.html")

    @app.route("/macro")
    def macro() -> str:
        mod.g.who = "macro-g"
        return mod.render_template("uses_macro.html")

    @app.route("/attribute")
    def attribute() -> str:
        hello = mod.get_template_attribute("macros.html", "hello")
        return str(hello("attr"))

    @app.route("/stream")
    def stream() -> Any:
        return mod.stream_template("stream.html")

    @app.route("/stream-string")
    def stream_string() -> Any:
        return mod.stream_template_string(
            "{{ a }}{% for i in range(2) %}-{{ i }}{% endfor %}", a="<"
        )

    @app.route("/json")
    def json_view() -> str:
        return mod.render_template("json.html", data={"a": "</script>", "b": [1, 2]})

    @app.route("/missing")
    def missing() -> str:
        try:
            return mod.render_template("nope.html")
        except jinja2.TemplateNotFound as e:
            return f"not found: {e.name}"

    return app


def test_render_functions_and_autoescape(root: Path, protocol: str) -> None:
    names = ["page.html", "page.htm", "page.xml", "page.xhtml", "page.svg", "page.txt"]
    paths = [f"/render/{n}" for n in names]
    paths += ["/list", "/string", "/no-escape", "/render/child.html", "/missing"]
    rows = observe(build_render, root, paths, protocol)
    bodies = [body for _, body in rows]
    escaped = "&lt;b&gt;&amp;&lt;/b&gt;"
    assert bodies[:6] == [f"<p>{escaped}</p>", escaped, escaped, escaped, escaped, "<b>&</b>"]
    assert bodies[6:] == [
        "<main>child <i>ok</i></main>",
        "&lt;x&gt; <y>",
        "<x>",
        f"<main>child {escaped}</main>",
        "not found: nope.html",
    ]


def test_template_globals_and_context(root: Path, protocol: str) -> None:
    rows = observe(build_render, root, ["/globals", "/macro", "/attribute", "/json"], protocol)
    assert rows[0][1] == "GET /globals me ann configured /?q=1 [&#39;flashed&#39;]"
    # Imported macros see request, g and session through the environment's globals.
    assert rows[1][1] == "Hello x from /macro macro-g ann"
    assert rows[2][1] == "Hello attr from /attribute - ann"
    assert rows[3][1] == (
        '<script>var data = {"a": "\\u003c/script\\u003e", "b": [1, 2]};</script>'
    )


def test_stream_template(root: Path, protocol: str) -> None:
    rows = observe(build_render, root, ["/stream", "/stream-string"], protocol)
    assert rows == [(200, "<0 /stream><1 /stream><2 /stream>"), (200, "&lt;-0-1")]


def test_render_in_async_views(root: Path, protocol: str) -> None:
    def build(mod: ModuleType, root: Path) -> Any:
        app = app_class(mod)(__name__, root_path=str(root))
        app.secret_key = "s"
        app.context_processor(lambda: {"extra": "processed"})

        @app.route("/")
        async def index() -> str:
            mod.g.who = "async-g"
            mod.session["user"] = "async-user"
            return mod.render_template("globals.html") + mod.render_template_string(
                " {{ extra }} {{ request.endpoint }}"
            )

        @app.route("/stream")
        async def stream() -> Any:
            return mod.stream_template("stream.html")

        app.config["THE_SETTING"] = 1
        return app

    rows = observe(build, root, ["/", "/stream"], protocol)
    assert rows[0][1] == "GET / async-g async-user 1 /?q=1 [] processed index"
    assert rows[1][1] == "<0 /stream><1 /stream><2 /stream>"


@pytest.mark.parametrize("mod", [flask, erlen], ids=["flask", "erlen"])
def test_the_default_context_processor_is_registered_first(mod: ModuleType) -> None:
    # Flask-Moment's tests read the processor it registers at index 1.
    app = app_class(mod)(__name__)
    (default,) = app.template_context_processors[None]
    assert default.__name__ == "_default_template_ctx_processor"

    @app.context_processor
    def extra() -> dict[str, Any]:
        return {"extra": 1}

    assert app.template_context_processors[None] == [default, extra]
    with app.test_request_context("/"):
        context: dict[str, Any] = {"extra": 2}
        app.update_template_context(context)
        assert set(context) == {"extra", "g", "request"}
        assert context["extra"] == 2
        assert context["request"] is mod.request._get_current_object()
        assert context["g"] is mod.g._get_current_object()
        app.template_context_processors[None].remove(default)
        context = {}
        app.update_template_context(context)
        assert context == {"extra": 1}
    with app.app_context():
        app.template_context_processors[None][:] = [default]
        context = {}
        app.update_template_context(context)
        assert context == {"g": mod.g._get_current_object()}


def test_context_processors_order_and_precedence(root: Path, protocol: str) -> None:
    def build(mod: ModuleType, root: Path) -> Any:
        app = app_class(mod)(__name__, root_path=str(root))

        @app.context_processor
        def first() -> dict[str, Any]:
            return {"a": "first", "b": "first", "request": "processor request"}

        @app.context_processor
        def second() -> dict[str, Any]:
            return {"b": "second", "c": "second"}

        @app.route("/")
        def index() -> str:
            return mod.render_template_string("{{ a }} {{ b }} {{ c }} {{ request }}", c="explicit")

        return app

    rows = observe(build, root, ["/"], protocol)
    assert rows[0][1] == "first second explicit processor request"


def test_filters_tests_globals(root: Path, protocol: str) -> None:
    def build(mod: ModuleType, root: Path) -> Any:
        app = app_class(mod)(__name__, root_path=str(root))

        @app.template_filter()
        def reverse(s: str) -> str:
            return s[::-1]

        @app.template_filter("shout")
        def upper(s: str) -> str:
            return s.upper()

        @app.template_test()
        def even(n: int) -> bool:
            return n % 2 == 0

        @app.template_test("big")
        def is_big(n: int) -> bool:
            return n > 100

        @app.template_global()
        def site() -> str:
            return "Site"

        @app.template_global("answer")
        def the_answer() -> int:
            return 42

        app.add_template_filter(lambda s: f"({s})", "paren")
        app.add_template_test(lambda n: n == 0, "zero")
        app.add_template_global(lambda: "added", "added")

        @app.route("/")
        def index() -> str:
            return mod.render_template_string(
                "{{ 'ab'|reverse }} {{ 'ab'|shout }} {{ 2 is even }} {{ 200 is big }}"
                " {{ site() }} {{ answer() }} {{ 'x'|paren }} {{ 0 is zero }} {{ added() }}"
            )

        return app

    rows = observe(build, root, ["/"], protocol)
    assert rows[0][1] == "ba AB True True Site 42 (x) True added"


def test_render_with_app_context_only(root: Path) -> None:
    outputs = []
    for mod in (flask, erlen):
        app = app_class(mod)(__name__, root_path=str(root))
        app.config["THE_SETTING"] = "cfg"
        with app.app_context():
            mod.g.who = "ctx"
            outputs.append(
                mod.render_template_string(
                    "{{ g.who }} {{ config.THE_SETTING }} {{ request is defined }}"
                )
            )
    # ``request`` is a (unbound) global proxy, so it is "defined" in both.
    assert outputs[0] == outputs[1] == "ctx cfg True"


def test_render_needs_app_context() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        render_template_string("x")


def test_environment_setup(root: Path) -> None:
    app = Erlen(__name__, root_path=str(root))
    env = app.jinja_env
    assert isinstance(env, Environment)
    assert env is app.jinja_env
    assert env.app is app
    assert isinstance(env.loader, DispatchingJinjaLoader)
    assert env.globals["config"] is app.config
    assert env.autoescape == app.select_jinja_autoescape
    assert app.select_jinja_autoescape(None) is True
    assert app.select_jinja_autoescape("a.SVG") is False  # Flask compares case-sensitively
    assert env.policies["json.dumps_function"] == app.json.dumps
    assert env.list_templates() == sorted(TEMPLATES)


def test_jinja_options(root: Path) -> None:
    outputs = []
    for mod in (flask, erlen):
        app = app_class(mod)(__name__, root_path=str(root))
        app.jinja_options = {
            "trim_blocks": True,
            "line_statement_prefix": "%",
            "extensions": ["jinja2.ext.do"],
        }
        with app.test_request_context():
            outputs.append(
                mod.render_template_string(
                    "% set xs = []\n% for i in range(3)\n{% do xs.append(i) %}\n% endfor\n{{ xs }}"
                )
            )
    assert outputs[0] == outputs[1] == "[0, 1, 2]"


def test_custom_environment_class(root: Path) -> None:
    class MyEnvironment(Environment):
        pass

    class MyApp(Erlen):
        jinja_environment = MyEnvironment

    app = MyApp(__name__, root_path=str(root))
    assert type(app.jinja_env) is MyEnvironment


@pytest.mark.parametrize(
    ("setting", "debug", "expected"),
    [(None, False, False), (None, True, True), (True, False, True), (False, True, False)],
)
def test_templates_auto_reload(
    root: Path, setting: bool | None, debug: bool, expected: bool
) -> None:
    results = []
    for mod in (flask, erlen):
        app = app_class(mod)(__name__, root_path=str(root))
        app.config["TEMPLATES_AUTO_RELOAD"] = setting
        app.debug = debug
        path = root / "templates" / "reload.html"
        path.write_text("one")
        with app.test_request_context():
            first = mod.render_template("reload.html")
            path.write_text("two")
            # Make sure the file's mtime moves on even on coarse file systems.
            mtime = time.time() + 5
            os.utime(path, (mtime, mtime))
            second = mod.render_template("reload.html")
        results.append((app.jinja_env.auto_reload, first, second))
    assert results[0] == results[1] == (expected, "one", "two" if expected else "one")


def test_debug_switch_after_environment_created(root: Path) -> None:
    app = Erlen(__name__, root_path=str(root))
    assert app.jinja_env.auto_reload is False
    app.debug = True
    assert app.jinja_env.auto_reload is True


def test_explain_template_loading(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = Erlen(__name__, root_path=str(root))
    app.config["EXPLAIN_TEMPLATE_LOADING"] = True
    with app.test_request_context(), caplog.at_level(logging.INFO):
        assert render_template("page.txt", value=1) == "1"
        with pytest.raises(jinja2.TemplateNotFound):
            render_template("absent.html")
    assert "Locating template 'page.txt'" in caplog.text
    assert "found" in caplog.text and "no match" in caplog.text


def test_get_template_attribute_outside_request(root: Path) -> None:
    app = Erlen(__name__, root_path=str(root))
    (root / "templates" / "m.html").write_text("{% macro twice(x) %}{{ x }}{{ x }}{% endmacro %}")
    with app.app_context():
        assert get_template_attribute("m.html", "twice")(3) == "33"


def test_no_template_folder() -> None:
    app = Erlen(__name__, template_folder=None)
    with app.app_context(), pytest.raises(jinja2.TemplateNotFound):
        render_template("anything.html")


# -- docs/templates.md runs as written ----------------------------------------------------


def test_templates_doc_runs() -> None:
    assert run_markdown(Path(__file__).resolve().parents[2] / "docs" / "templates.md") >= 6


def test_async_context_processor() -> None:
    app = Erlen(__name__)
    app.testing = True

    @app.context_processor
    async def processor() -> dict[str, Any]:
        return {"x": "from async processor"}

    @app.route("/sync")
    def sync_view() -> str:
        return render_template_string("{{ x }}")

    @app.route("/async")
    async def async_view() -> str:
        return render_template_string("{{ x }}")

    for asgi in (False, True):
        client = app.test_client(asgi=asgi)
        assert client.get("/sync").text == "from async processor"
        # Rendering is sync; from an async view the processor runs on a worker
        # thread's loop (as Flask runs async code from sync code).
        assert client.get("/async").text == "from async processor"


def test_stream_with_context(root: Path, protocol: str) -> None:
    def build(mod: ModuleType, root: Path) -> Any:
        app = app_class(mod)(__name__, root_path=str(root))

        @app.route("/wrapped")
        def wrapped() -> Any:
            def generate() -> Any:
                yield "path="
                yield mod.request.path
                yield f" arg={mod.request.args['x']}"

            return mod.Response(mod.stream_with_context(generate()))

        @app.route("/decorated")
        def decorated() -> Any:
            @mod.stream_with_context
            def generate() -> Any:
                yield mod.request.method
                yield mod.render_template_string(" {{ request.path }}")

            return mod.Response(generate())

        return app

    rows = observe(build, root, ["/wrapped?x=1", "/decorated"], protocol)
    assert rows == [(200, "path=/wrapped arg=1"), (200, "GET /decorated")]


def test_stream_with_context_needs_request() -> None:
    with pytest.raises(RuntimeError, match="request context"):
        erlen.stream_with_context(iter(()))


class _Row(dict):  # type: ignore[type-arg]
    """A dict subclass with an attribute of its own (Jinja's lookup finds the attribute)."""

    name = "class attribute"


DICT_LOOKUPS = (
    "{{ row.name }}|{{ row.missing }}|{{ row.items is defined }}|{{ row.get('name') }}"
    "|{{ row.nested.deep }}|{{ row.nested.gone is defined }}|{{ sub.name }}|{{ sub.other }}"
    "|{% for k, v in row.items() %}{{ k }}={{ v }};{% endfor %}|{{ row['items'] }}"
)


@pytest.mark.parametrize("undefined", ["default", "chainable", "strict"])
def test_dict_attribute_lookup_as_flask(undefined: str, protocol: str) -> None:
    # Item access on a plain dict skips Jinja's failing getattr; the output must not change:
    # keys, missing keys (each kind of Undefined), keys named like dict methods, subclasses.
    kinds = {"default": jinja2.Undefined, "chainable": jinja2.ChainableUndefined}
    kinds["strict"] = jinja2.StrictUndefined
    rows = {"name": "<ann>", "items": "shadowed", "nested": {"deep": 1}}

    def build(mod: ModuleType, root: Path) -> Any:
        app = app_class(mod)(__name__, root_path=str(root))
        app.jinja_options = {**app.jinja_options, "undefined": kinds[undefined]}

        @app.route("/")
        def index() -> str:
            row = dict(rows)
            sub = _Row(other=2)
            try:
                return mod.render_template_string(DICT_LOOKUPS, row=row, sub=sub)
            except jinja2.UndefinedError as e:
                return f"undefined: {e}"

        return app

    [(status, body)] = observe(build, Path("."), ["/"], protocol)
    assert status == 200
    if undefined == "strict":
        assert body == "undefined: 'dict object' has no attribute 'missing'"
    else:
        assert body.startswith("&lt;ann&gt;||True|&lt;ann&gt;|1|False|class attribute|2|")


class _Broken:
    """A property that fails with AttributeError, and items that fail with KeyError or TypeError."""

    @property
    def attribute(self) -> Any:
        raise AttributeError("inside the property")

    def __getitem__(self, key: str) -> Any:
        if key == "item":
            return "the item"
        raise KeyError(key)


@pytest.mark.parametrize(
    ("obj", "attribute"),
    [
        ({"a": 1}, "a"),
        ({"a": 1}, "b"),
        ({"keys": 1}, "keys"),
        ({"__class__": 1}, "__class__"),
        (_Row(name="key"), "name"),
        ({1: "int key"}, "real"),
        ([1, 2], "append"),
        ([1, 2], "missing"),
        ("text", "upper"),
        (_Row(other=2), "other"),
        (_Row(other=2), "missing"),
        (MultiDict([("page", "3")]), "page"),
        (MultiDict([("page", "3")]), "missing"),
        (_Broken(), "attribute"),
        (_Broken(), "item"),
        (None, "anything"),
    ],
)
def test_environment_getattr_is_jinjas(obj: Any, attribute: str) -> None:
    ours = Erlen(__name__).jinja_env
    theirs = jinja2.Environment()
    mine, expected = ours.getattr(obj, attribute), theirs.getattr(obj, attribute)
    if isinstance(expected, jinja2.Undefined):
        assert type(mine) is type(expected)
        assert mine._undefined_message == expected._undefined_message  # type: ignore[attr-defined]
    else:
        assert mine == expected


def _jinja_context(template: jinja2.Template, *args: Any, **kwargs: Any) -> Any:
    """The context Jinja's own ``Template.new_context`` makes for ``template``."""
    return jinja2.Template.new_context(template, *args, **kwargs)


@pytest.mark.parametrize(
    ("template_globals", "render_vars"),
    [
        (None, None),
        (None, {}),
        (None, {"value": 1, "url_for": "a value over a global"}),
        ({"extra": "template global", "g": "over the environment's g"}, {"extra": "a value"}),
    ],
)
def test_render_context_is_jinjas(
    template_globals: dict[str, Any] | None, render_vars: dict[str, Any] | None
) -> None:
    app = Erlen(__name__)
    template = app.jinja_env.from_string("{{ value }}", globals=template_globals)
    assert isinstance(template, ErlenTemplate)  # the fast path is the one used
    ours = template.new_context(render_vars)
    theirs = _jinja_context(template, render_vars)
    assert list(ours.parent.items()) == list(theirs.parent.items())  # same values, same order
    assert ours.globals_keys == theirs.globals_keys
    assert (ours.name, ours.blocks, ours.environment) == (
        theirs.name,
        theirs.blocks,
        theirs.environment,
    )
    # Shared contexts and locals (imports, includes) take Jinja's own path.
    shared = template.new_context({"value": 2}, shared=True)
    assert shared.parent == {"value": 2}
    with_locals = template.new_context({"value": 2}, locals={"l_0_x": 3})
    assert with_locals.parent == _jinja_context(template, {"value": 2}, locals={"l_0_x": 3}).parent


def test_render_keys_must_be_strings_as_in_jinja() -> None:
    template = Erlen(__name__).jinja_env.from_string("x")
    with pytest.raises(TypeError):
        _jinja_context(template, {1: "x"})
    with pytest.raises(TypeError):
        template.render({1: "x"})


def test_globals_changed_after_a_template_is_loaded_show_in_its_next_render(
    root: Path, protocol: str
) -> None:
    (root / "templates" / "late.html").write_text("{{ late }}|{{ over }}|{{ shadow }}")
    app = Erlen(__name__, root_path=str(root))

    @app.route("/")
    def index() -> str:
        return render_template("late.html", shadow="value")

    client = app.test_client(asgi=protocol == "asgi")
    assert client.get("/").text == "||value"
    app.jinja_env.globals.update(late="added", shadow="global")
    app.jinja_env.get_template("late.html").globals["over"] = "template own"
    assert client.get("/").text == "added|template own|value"
    del app.jinja_env.globals["late"]
    assert client.get("/").text == "|template own|value"


def test_templates_render_the_same_through_includes_imports_and_async(root: Path) -> None:
    (root / "templates" / "inc.html").write_text("[{{ value }} {{ x }}]")
    (root / "templates" / "main.html").write_text(
        '{% set x = "set" %}{% include "inc.html" %}'
        '{% import "macros.html" as m with context %}{{ m.hello("n") }}'
    )
    results = []
    for is_async in (False, True):
        app = Erlen(__name__, root_path=str(root))
        app.secret_key = "k"
        app.jinja_options = {"enable_async": is_async}
        with app.test_request_context("/here"):
            results.append(render_template("main.html", value="v"))
    assert results == ["[v set]Hello n from /here - -"] * 2


class _Callable:
    def __call__(self, *args: Any) -> str:
        return f"instance{args}"


class _ContextCallable:
    @jinja2.pass_context
    def __call__(self, context: Any, *args: Any) -> str:
        return f"instance with {context.get('who')}{args}"


class _Helper:
    @jinja2.pass_context
    def who(self, context: Any, *args: Any) -> str:
        return f"method with {context.get('who')}{args}"

    def plain(self, *args: Any) -> str:
        return f"method{args}"

    @classmethod
    @jinja2.pass_environment
    def kind(cls, environment: Any) -> str:
        return f"classmethod {isinstance(environment, jinja2.Environment)}"


class _EnvironmentCallable:
    @jinja2.pass_environment
    def __call__(self, environment: Any, *args: Any) -> str:
        return f"instance with {isinstance(environment, jinja2.Environment)}{args}"


def _odd_mark(*args: Any) -> str:
    return f"odd mark{args}"


_odd_mark.jinja_pass_arg = "not one of Jinja's"  # type: ignore[attr-defined]


def _unmarked(*args: Any) -> str:
    return f"unmarked{args}"


_unmarked.jinja_pass_arg = None  # type: ignore[attr-defined]


def _stops() -> Any:
    raise StopIteration


_CALLS = {
    "plain": (lambda *a, **k: f"plain{a}{sorted(k.items())}"),
    "with_context": jinja2.pass_context(lambda c, *a: f"{c.get('who')} {c.get('x')}{a}"),
    "with_eval_context": jinja2.pass_eval_context(
        lambda e, *a: f"{isinstance(e, jinja2.nodes.EvalContext)}{a}"
    ),
    "with_environment": jinja2.pass_environment(
        lambda e, *a: f"{isinstance(e, jinja2.Environment)}{a}"
    ),
    "instance": _Callable(),
    "context_instance": _ContextCallable(),
    "stops": _stops,
    "builtin": len,
    "helper": _Helper(),
    "unmarked": _unmarked,
    "environment_instance": _EnvironmentCallable(),
    "odd_mark": _odd_mark,
    "partial": functools.partial(_unmarked, 1),
}


@pytest.mark.parametrize(
    "source",
    [
        "{{ plain(1, k=2) }}",
        "{% for x in [1, 2] %}{{ plain(x) }}{{ with_context(x) }}{% endfor %}",
        "{% for x in 'ab' %}{{ with_context() }}|{% endfor %}",
        "{% set x = 'set' %}{{ with_context() }}",
        "{{ with_eval_context(1) }} {{ with_environment(2) }}",
        "{{ instance(1) }} {{ context_instance(2) }}",
        "{{ stops() is undefined }} [{{ stops() }}]",
        "{{ builtin('abc') }}",
        "{{ helper.who(1) }} {{ helper.plain(2) }} {{ helper.kind() }} {{ unmarked(3) }}",
        "{% for x in 'a' %}{{ helper.who(x) }}{% endfor %}",
        "{{ partial() }} {{ environment_instance(1) }} {{ odd_mark(2) }}",
        "{% for x in 'ab' %}{{ loop.cycle('odd', 'even') }}{% endfor %}",
        "{% macro m(a) %}<{{ a }}{{ caller() if caller }}>{% endmacro %}"
        "{{ m(1) }}{% call m(2) %}in{% endcall %}",
        "{% block b %}{{ with_context() }}{% endblock %}",
    ],
)
@pytest.mark.parametrize("is_async", [False, True])
def test_template_calls_are_jinjas(source: str, is_async: bool) -> None:
    app = Erlen(__name__)
    app.jinja_options = {"enable_async": is_async}
    ours = app.jinja_env
    assert ours.context_class is not jinja2.runtime.Context  # the fast call is the one used
    theirs = jinja2.Environment(autoescape=True, enable_async=is_async)
    rendered = []
    for env in (ours, theirs):
        env.globals.update(_CALLS)
        rendered.append(env.from_string(source).render(who="me"))
    assert rendered[0] == rendered[1]


def test_template_call_frames_are_hidden_as_in_jinja() -> None:
    def fails() -> None:
        raise ValueError("from the template")

    for env in (Erlen(__name__).jinja_env, jinja2.Environment()):
        template = env.from_string("{{ fails() }}")
        with pytest.raises(ValueError) as info:
            template.render(fails=fails)
        names = [entry.name for entry in info.traceback]
        assert "call" not in names
        assert names[-1] == "fails"


class _Html:
    def __html__(self) -> str:
        return "<b>own markup</b>"


class _Text(str):
    __slots__ = ()


class _Number(int):
    def __str__(self) -> str:
        return "<not a plain int>"


_ESCAPED_VALUES: list[Any] = [
    "plain",
    "<a href='x'>&\"",
    "",
    _Text("<sub>"),
    Markup("<i>safe</i>"),
    _Html(),
    0,
    -42,
    10**30,
    True,
    _Number(3),
    1.5,
    None,
    [1, "<"],
]


@pytest.mark.parametrize("value", _ESCAPED_VALUES, ids=repr)
def test_autoescape_is_markupsafes(value: Any) -> None:
    from erlen._jinja import _escape

    ours, theirs = _escape(value), markupsafe.escape(value)
    assert (type(ours), ours) == (type(theirs), theirs)


def test_templates_autoescape_through_the_faster_escape_and_render_as_jinja() -> None:
    source = "{% for v in values %}[{{ v }}]{% endfor %}{{ missing }}|{{ values|length }}"
    rendered = []
    for env in (Erlen(__name__).jinja_env, jinja2.Environment(autoescape=True)):
        template = env.from_string(source)
        rendered.append(template.render(values=_ESCAPED_VALUES))
    assert rendered[0] == rendered[1]
    fast = Erlen(__name__).jinja_env.from_string("{{ x }}")
    if getattr(markupsafe, "_escape_inner", None) is not None:  # MarkupSafe 3
        assert fast.root_render_func.__globals__["escape"] is erlen._jinja._escape


def test_a_page_with_a_layout_macros_and_filters_renders_as_with_jinja(root: Path) -> None:
    pages = {
        "base.html": (
            "<title>{% block title %}{% endblock %}</title><a href='{{ url_for('index') }}'>h</a>"
            "{% if g.user %}{{ g.user }}{% endif %}<main>{% block content %}{% endblock %}</main>"
        ),
        "rows.html": (
            "{% macro row(post, caller=None) %}<h2>{{ post.title|title }}</h2>"
            "<p>{{ post.body|truncate(12) }} {{ post.id }}</p>{{ caller() if caller }}"
            "{% endmacro %}"
        ),
        "blog.html": (
            '{% extends "base.html" %}{% from "rows.html" import row %}'
            "{% block title %}Posts{% endblock %}{% block content %}"
            "{% for post in posts %}{{ row(post) }}{% call row(post) %}<i>{{ loop.index }}"
            "</i>{% endcall %}{% if not loop.last %}<hr>{% endif %}{% endfor %}"
            "{{ super() }}{% endblock %}"
        ),
    }
    for name, text in pages.items():
        (root / "templates" / name).write_text(text)
    app = Erlen(__name__, root_path=str(root))
    app.add_url_rule("/", "index", lambda: "")
    posts = [
        {"id": i, "title": f"post <{i}>", "body": "lorem ipsum dolor sit amet"} for i in (1, 2)
    ]
    with app.test_request_context("/"):
        erlen.g.user = "<ann>"
        theirs = jinja2.Environment(autoescape=True, loader=app.jinja_env.loader)
        theirs.globals.update(app.jinja_env.globals)
        expected = theirs.get_template("blog.html").render(posts=posts)
        assert render_template("blog.html", posts=posts) == expected
        assert "&lt;ann&gt;" in expected
        assert "Post &lt;1&gt;" in expected


def test_jinja_loader_is_assignable_as_in_flask() -> None:
    # Flask's jinja_loader is a cached property: apps and blueprints may set their own.
    from jinja2 import DictLoader

    for mod in (flask, erlen):
        app = mod.Flask(__name__) if mod is flask else erlen.Erlen(__name__)
        first = app.jinja_loader
        assert app.jinja_loader is first  # built once
        app.jinja_loader = DictLoader({"hi.html": "hi {{ name }}"})
        bp = mod.Blueprint("bp", __name__)
        bp.jinja_loader = DictLoader({"bp.html": "bp {{ name }}"})
        app.register_blueprint(bp)

        @app.route("/")
        def index(render: Any = mod.render_template) -> str:
            return str(render("hi.html", name="a")) + str(render("bp.html", name="b"))

        assert app.test_client().get("/").get_data(as_text=True) == "hi abp b"


def test_a_template_string_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # render_template_string keeps the compiled code of a source (Flask compiles it on
    # every call); each render still sees the context and the environment as they are.
    app = Erlen(__name__)
    compiled: list[str] = []
    compile_source = app.jinja_env.compile

    def counting_compile(source: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source)
        return compile_source(source, *args, **kwargs)

    monkeypatch.setattr(app.jinja_env, "compile", counting_compile)
    source = "{{ greeting }} {{ name|shout }}{% if extra %} {{ extra }}{% endif %}"
    app.jinja_env.filters["shout"] = str.upper
    with app.test_request_context():
        app.jinja_env.globals["greeting"] = "hi"
        assert render_template_string(source, name="ann") == "hi ANN"
        app.jinja_env.globals["greeting"] = "hello"
        app.jinja_env.filters["shout"] = lambda s: f"{s}!"
        assert render_template_string(source, name="bob", extra="<b>") == "hello bob! &lt;b&gt;"
        assert render_template_string("{{ name }}", name="cy") == "cy"
        first = app.jinja_env.from_string(source)
        assert first is not app.jinja_env.from_string(source)  # a template per call
    assert compiled == [source, "{{ name }}"]


def test_a_template_string_renders_alike_on_both_doors(client: Any) -> None:
    app = Erlen(__name__)
    source = "{% for i in items %}<{{ i }}>{% endfor %} {{ request.path }}"

    @app.route("/t")
    def page() -> str:
        return render_template_string(source, items=["a", "<b>"])

    c = client(app)
    for _ in range(2):  # the second render uses the kept code
        assert c.get("/t").data == b"<a><&lt;b&gt;> /t"
    assert len(app.jinja_env._string_code) == 1


def test_jinja_environment_and_global_loader_are_flask_s_hooks(tmp_path: Path) -> None:
    """``jinja_environment`` and ``create_global_jinja_loader`` are there to read and override."""
    assert Erlen.jinja_environment is Environment
    plain = Erlen(__name__)
    assert isinstance(plain.create_global_jinja_loader(), DispatchingJinjaLoader)
    assert type(plain.jinja_env) is Environment

    (tmp_path / "extra.html").write_text("extra {{ 1 + 1 }}")

    class CountingEnvironment(Environment):
        made = 0

        def __init__(self, app: Any, **options: Any) -> None:
            CountingEnvironment.made += 1
            super().__init__(app, **options)

    class App(Erlen):
        jinja_environment = CountingEnvironment

        def create_global_jinja_loader(self) -> Any:
            # As Flask themes and plugin extensions do: the app's loader, then one more folder.
            return jinja2.ChoiceLoader(
                [super().create_global_jinja_loader(), jinja2.FileSystemLoader(tmp_path)]
            )

    app = App(__name__)
    with app.app_context():
        assert render_template("extra.html") == "extra 2"
    assert type(app.jinja_env) is CountingEnvironment and CountingEnvironment.made == 1


def test_import_erlen_leaves_jinja_unimported() -> None:
    """The environment class is read on demand: ``import erlen`` does not import Jinja."""
    code = "import sys, erlen; erlen.Erlen('x'); print('jinja2' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
