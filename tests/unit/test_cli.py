"""The ``erlen`` command line: discovery, errors, routes, shell, custom commands, dotenv, run."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import erlen
from erlen import Blueprint, Erlen, current_app
from erlen.cli import (
    AppGroup,
    ErlenGroup,
    NoAppException,
    ScriptInfo,
    _load_app_for_server,
    cli,
    find_best_app,
    load_dotenv,
    locate_app,
    pass_script_info,
    prepare_import,
    with_appcontext,
)
from erlen.middleware.debug import DebugMiddleware
from support import isolated_cli_run

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run in an empty folder; restore the environment, sys.path and sys.modules after."""
    yield from isolated_cli_run(monkeypatch, tmp_path)


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


HELLO = """
from erlen import Erlen

{name} = Erlen(__name__)

@{name}.route("/")
def index():
    return "hi"
"""


def run(*args: str, input: str | None = None, group: click.Group = cli) -> Any:
    return CliRunner().invoke(group, list(args), input=input, catch_exceptions=False)


def routes_app_name(*args: str) -> str:
    """Load the app through the CLI and return its name, via a tiny command."""
    result = run(*args, "appname")
    assert result.exit_code == 0, result.output
    return str(result.output.strip())


APP_WITH_NAME_COMMAND = """
import click
from erlen import Erlen

def _make(name):
    app = Erlen(name)

    @app.cli.command("appname")
    def appname():
        click.echo(app.import_name + ":" + app.config.get("WHO", "-"))

    return app
"""


# -- discovery -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attr", ["app", "application", "something_else"])
def test_finds_app_attribute(tmp_path: Path, attr: str) -> None:
    write(tmp_path / "hello_attr.py", APP_WITH_NAME_COMMAND + f"\n{attr} = _make('attr')\n")
    assert routes_app_name("--app", "hello_attr") == "attr:-"


def test_prefers_app_over_other_instances(tmp_path: Path) -> None:
    write(
        tmp_path / "two_apps.py",
        APP_WITH_NAME_COMMAND + "\nother = _make('other')\napp = _make('main')\n",
    )
    assert routes_app_name("--app", "two_apps") == "main:-"
    assert routes_app_name("--app", "two_apps:other") == "other:-"


def test_several_apps_without_a_name_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "many.py", APP_WITH_NAME_COMMAND + "\na1 = _make('a')\na2 = _make('b')\n")
    result = CliRunner().invoke(cli, ["--app", "many", "routes"])
    assert result.exit_code == 2
    assert "several Erlen applications" in result.output
    assert "many:name" in result.output


@pytest.mark.parametrize("factory", ["create_app", "make_app"])
def test_finds_factory(tmp_path: Path, factory: str) -> None:
    write(
        tmp_path / "fact.py",
        APP_WITH_NAME_COMMAND + f"\ndef {factory}():\n    return _make('from-{factory}')\n",
    )
    assert routes_app_name("--app", "fact") == f"from-{factory}:-"


def test_factory_call_with_literal_arguments(tmp_path: Path) -> None:
    write(
        tmp_path / "fact_args.py",
        APP_WITH_NAME_COMMAND
        + """
def create_app(who, *, extra=None):
    app = _make("args")
    app.config["WHO"] = f"{who}/{extra}"
    return app
""",
    )
    assert routes_app_name("--app", "fact_args:create_app('ann', extra=[1, 2])") == (
        "args:ann/[1, 2]"
    )


def test_factory_needing_arguments_says_how_to_pass_them(tmp_path: Path) -> None:
    write(tmp_path / "needs_args.py", APP_WITH_NAME_COMMAND + "\ndef create_app(who):\n    pass\n")
    result = CliRunner().invoke(cli, ["--app", "needs_args", "routes"])
    assert result.exit_code == 2
    assert "cannot be called without arguments" in result.output
    assert "needs_args:create_app(args)" in result.output


def test_type_error_inside_factory_is_not_hidden(tmp_path: Path) -> None:
    write(tmp_path / "bad_fact.py", "def create_app():\n    return len(1)\n")
    with pytest.raises(TypeError, match="has no len"):
        ScriptInfo("bad_fact").load_app()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mod:create_app(", "Cannot parse"),
        ("mod:1 + 2", "Cannot parse"),
        ("mod:create_app(os.sep)", "must be Python literals"),
        ("mod:a.b()", "must be a plain name"),
        ("mod:missing", "has no attribute 'missing'"),
        ("mod:app()", "is not a function"),
        ("mod:create_app(1, 2, 3)", "cannot be called with these arguments"),
        ("mod:not_an_app", "is a int, not an Erlen application"),
    ],
)
def test_bad_app_strings(tmp_path: Path, spec: str, message: str) -> None:
    write(
        tmp_path / "mod.py",
        HELLO.format(name="app") + "\nnot_an_app = 3\n\ndef create_app():\n    return app\n",
    )
    with pytest.raises(NoAppException, match=message):
        ScriptInfo(spec).load_app()


def test_erlen_app_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "from_env.py", APP_WITH_NAME_COMMAND + "\napp = _make('env')\n")
    monkeypatch.setenv("ERLEN_APP", "from_env")
    assert routes_app_name() == "env:-"


@pytest.mark.parametrize("filename", ["app.py", "wsgi.py"])
def test_default_files_in_cwd(tmp_path: Path, filename: str) -> None:
    write(tmp_path / filename, APP_WITH_NAME_COMMAND + "\napp = _make('default')\n")
    assert routes_app_name() == "default:-"


def test_wsgi_py_wins_over_app_py(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_WITH_NAME_COMMAND + "\napp = _make('from-app')\n")
    write(tmp_path / "wsgi.py", APP_WITH_NAME_COMMAND + "\napp = _make('from-wsgi')\n")
    assert routes_app_name() == "from-wsgi:-"


def test_app_given_as_file_path_in_a_package(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "pkg" / "__init__.py", "")
    write(tmp_path / "proj" / "pkg" / "web.py", APP_WITH_NAME_COMMAND + "\napp = _make('pkg')\n")
    assert routes_app_name("--app", "proj/pkg/web.py") == "pkg:-"
    assert sys.modules["pkg.web"].app.import_name == "pkg"
    assert str(tmp_path / "proj") in sys.path


def test_dotted_module_and_package(tmp_path: Path) -> None:
    write(tmp_path / "dpkg" / "__init__.py", APP_WITH_NAME_COMMAND + "\napp = _make('init')\n")
    write(tmp_path / "dpkg" / "sub.py", "from dpkg import _make\napp = _make('sub')\n")
    assert routes_app_name("--app", "dpkg.sub") == "sub:-"
    sys.modules.pop("dpkg", None)
    sys.modules.pop("dpkg.sub", None)
    assert routes_app_name("--app", "dpkg") == "init:-"


def test_prepare_import(tmp_path: Path) -> None:
    write(tmp_path / "a" / "b" / "__init__.py", "")
    write(tmp_path / "a" / "b" / "c.py", "")
    assert prepare_import(str(tmp_path / "a" / "b" / "c.py")) == "b.c"
    assert sys.path[0] == str(tmp_path / "a")
    assert prepare_import(str(tmp_path / "a" / "b" / "__init__.py")) == "b"
    assert prepare_import("plain_name") == "plain_name"
    assert sys.path[0] == str(tmp_path)


# -- discovery errors ----------------------------------------------------------------------------


def test_missing_module(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--app", "no_such_module_here", "routes"])
    assert result.exit_code == 2
    assert "Could not import 'no_such_module_here'" in result.output
    assert "Traceback" not in result.output


def test_import_error_inside_the_app_shows_its_traceback(tmp_path: Path) -> None:
    write(
        tmp_path / "broken_app.py",
        """
        from erlen import Erlen
        import a_dependency_that_is_not_installed
        app = Erlen(__name__)
        """,
    )
    result = CliRunner().invoke(cli, ["--app", "broken_app", "routes"])
    assert result.exit_code == 2
    assert "While importing 'broken_app', an error was raised" in result.output
    assert "Traceback (most recent call last)" in result.output
    assert "broken_app.py" in result.output
    assert "a_dependency_that_is_not_installed" in result.output


def test_other_errors_inside_the_app_show_their_traceback(tmp_path: Path) -> None:
    write(tmp_path / "raises_app.py", "raise RuntimeError('config is wrong')\n")
    result = CliRunner().invoke(cli, ["--app", "raises_app", "routes"])
    assert result.exit_code == 2
    assert "RuntimeError: config is wrong" in result.output
    assert "raises_app.py" in result.output


def test_module_without_app(tmp_path: Path) -> None:
    write(tmp_path / "no_app_here.py", "x = 1\n")
    result = CliRunner().invoke(cli, ["--app", "no_app_here", "routes"])
    assert result.exit_code == 2
    assert "Found no Erlen application or factory in module 'no_app_here'" in result.output


def test_nothing_to_discover() -> None:
    result = CliRunner().invoke(cli, ["routes"])
    assert result.exit_code == 2
    assert "Could not locate an Erlen application" in result.output
    assert "ERLEN_APP" in result.output


def test_help_without_app_still_lists_builtin_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "routes", "shell"):
        assert name in result.output
    assert "Could not locate an Erlen application" in result.output


def test_locate_app_optional(tmp_path: Path) -> None:
    assert locate_app("surely_not_a_module", None, raise_if_not_found=False) is None


def test_find_best_app_ignores_non_functions(tmp_path: Path) -> None:
    write(tmp_path / "fake_factory.py", "create_app = 3\n")
    with pytest.raises(NoAppException):
        find_best_app(importlib.import_module(prepare_import("fake_factory")))


def test_factory_returning_something_else(tmp_path: Path) -> None:
    write(tmp_path / "wrong_fact.py", "def create_app():\n    return 'nope'\n")
    with pytest.raises(NoAppException, match="returned str"):
        ScriptInfo("wrong_fact").load_app()


# -- routes --------------------------------------------------------------------------------------

ROUTES_APP = """
from erlen import Blueprint, Erlen

app = Erlen(__name__)

@app.route("/")
def index():
    return "i"

@app.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id):
    return "u"

@app.websocket("/ws")
async def chat():
    pass

bp = Blueprint("admin", __name__, url_prefix="/admin")

@bp.route("/delete", methods=["DELETE"])
def delete():
    return "d"

app.register_blueprint(bp)
"""


def test_routes_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "app.py", ROUTES_APP)
    result = run("routes")
    lines = result.output.splitlines()
    assert lines[0].split() == ["Endpoint", "Methods", "Rule"]
    assert set(lines[1]) <= {"-", " "}
    rows = [line.split(None, 1) for line in lines[2:]]
    assert [row[0] for row in rows] == ["admin.delete", "chat", "index", "static", "user"]
    table = {row[0]: row[1] for row in rows}
    assert table["user"].split() == ["GET,", "POST", "/users/<int:user_id>"]
    assert table["chat"].split() == ["WEBSOCKET", "/ws"]
    assert table["admin.delete"].split() == ["DELETE", "/admin/delete"]
    assert "HEAD" not in result.output
    assert "OPTIONS" not in result.output


@pytest.mark.parametrize(
    ("sort", "first", "last"),
    [
        ("endpoint", "admin.delete", "user"),
        ("rule", "index", "chat"),
        ("methods", "admin.delete", "chat"),
        ("match", "static", "admin.delete"),
    ],
)
def test_routes_sort(tmp_path: Path, sort: str, first: str, last: str) -> None:
    write(tmp_path / "app.py", ROUTES_APP)
    result = run("routes", "--sort", sort)
    rows = result.output.splitlines()[2:]
    assert rows[0].split()[0] == first
    assert rows[-1].split()[0] == last


TIED_ROUTES_APP = """
from erlen import Erlen
app = Erlen(__name__, static_folder=None)

@app.route("/aa")
@app.route("/zz")
def page():
    return "p"

@app.post("/items")
def zeta():
    return "z"

@app.get("/items")
def alpha():
    return "a"
"""


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # One endpoint with two rules: listed in the order they were added ("/zz" first).
        ("endpoint", ["alpha /items", "page /zz", "page /aa", "zeta /items"]),
        # Two endpoints on one rule: "zeta" was added before "alpha".
        ("rule", ["page /aa", "zeta /items", "alpha /items", "page /zz"]),
        ("methods", ["page /zz", "page /aa", "alpha /items", "zeta /items"]),
    ],
)
def test_routes_sort_keeps_added_order_between_ties(
    tmp_path: Path, sort: str, expected: list[str]
) -> None:
    """As in Flask, rows equal in the sorted column stay in the order the rules were added."""
    write(tmp_path / "app.py", TIED_ROUTES_APP)
    result = run("routes", "--sort", sort)
    rows = [line.split() for line in result.output.splitlines()[2:]]
    assert [f"{row[0]} {row[-1]}" for row in rows] == expected


def test_routes_all_methods(tmp_path: Path) -> None:
    write(tmp_path / "app.py", ROUTES_APP)
    result = run("routes", "--all-methods")
    user_row = next(line for line in result.output.splitlines() if line.startswith("user"))
    assert "GET, HEAD, OPTIONS, POST" in user_row


def test_routes_subdomain_column(tmp_path: Path) -> None:
    write(
        tmp_path / "app.py",
        """
        from erlen import Erlen
        app = Erlen(__name__, static_folder=None, subdomain_matching=True)
        app.config["SERVER_NAME"] = "example.com"

        @app.route("/", subdomain="api")
        def api_root():
            return "a"
        """,
    )
    lines = run("routes").output.splitlines()
    assert lines[0].split() == ["Endpoint", "Methods", "Subdomain", "Rule"]
    assert lines[2].split() == ["api_root", "GET", "api", "/"]


def test_routes_empty(tmp_path: Path) -> None:
    write(
        tmp_path / "app.py", "from erlen import Erlen\napp = Erlen(__name__, static_folder=None)\n"
    )
    assert run("routes").output == "No routes were registered.\n"


# -- custom commands -----------------------------------------------------------------------------


def test_app_and_blueprint_commands(tmp_path: Path) -> None:
    write(
        tmp_path / "app.py",
        """
        import click
        from erlen import Blueprint, Erlen, current_app

        app = Erlen(__name__)

        @app.cli.command("hello")
        @click.option("--name", default="world")
        def hello(name):
            click.echo(f"hello {name} from {current_app.name}")

        users = Blueprint("users", __name__)

        @users.cli.command("create")
        @click.argument("username")
        def create(username):
            click.echo(f"created {username} in {current_app.name}")

        merged = Blueprint("merged", __name__, cli_group=None)

        @merged.cli.command("top")
        def top():
            click.echo("top-level")

        app.register_blueprint(users)
        app.register_blueprint(merged)
        """,
    )
    assert run("hello", "--name", "ann").output == "hello ann from app\n"
    assert run("users", "create", "bob").output == "created bob in app\n"
    assert run("top").output == "top-level\n"
    listing = run("--help").output
    for name in ("hello", "users", "top", "run", "routes", "shell"):
        assert name in listing


def test_app_group_nesting_and_opt_out() -> None:
    app = Erlen("nesting")
    seen: list[Any] = []

    @app.cli.group()
    def db() -> None:
        """Database commands."""

    @db.command()
    def init() -> None:
        seen.append(current_app.name)

    @app.cli.command(with_appcontext=False)
    def bare() -> None:
        seen.append(erlen.has_app_context())

    assert isinstance(db, AppGroup)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "init"]).exit_code == 0
    assert runner.invoke(args=["bare"]).exit_code == 0
    assert seen == ["nesting", False]


def test_with_appcontext_on_a_plain_click_command() -> None:
    app = Erlen("plain_cmd")

    @click.command()
    @with_appcontext
    def whoami() -> None:
        click.echo(current_app.name)

    result = CliRunner().invoke(whoami, obj=ScriptInfo(create_app=lambda: app))
    assert result.output == "plain_cmd\n"


def test_test_cli_runner_runs_in_app_context() -> None:
    app = Erlen("runner_app")
    app.config["GREETING"] = "howdy"

    @app.cli.command("greet")
    @click.argument("name")
    def greet(name: str) -> None:
        click.echo(f"{current_app.config['GREETING']}, {name}")

    result = app.test_cli_runner().invoke(args=["greet", "ann"])
    assert result.exit_code == 0
    assert result.output == "howdy, ann\n"

    @click.command()
    @pass_script_info
    def info_cmd(info: ScriptInfo) -> None:
        click.echo(info.load_app().name)

    assert app.test_cli_runner().invoke(info_cmd).output == "runner_app\n"


def test_custom_entry_point_with_create_app() -> None:
    app = Erlen("custom_entry")

    @app.route("/x")
    def x() -> str:
        return "x"

    @click.group(cls=ErlenGroup, create_app=lambda: app)
    def manage() -> None:
        """Management script."""

    @manage.command()
    def own() -> None:
        click.echo(f"own command in {current_app.name}")

    assert run("own", group=manage).output == "own command in custom_entry\n"
    assert "/x" in run("routes", group=manage).output


def test_group_without_default_commands() -> None:
    group = ErlenGroup(name="bare", add_default_commands=False, add_version_option=False)
    result = CliRunner().invoke(group, ["--help"])
    assert "run" not in result.output.split("Commands:")[-1]
    assert "--version" not in result.output


def test_group_debug_flag_sets_app_debug(tmp_path: Path) -> None:
    write(
        tmp_path / "app.py",
        """
        import click
        from erlen import Erlen, current_app
        app = Erlen(__name__)

        @app.cli.command()
        def show():
            click.echo(f"debug={current_app.debug}")
        """,
    )
    assert run("show").output == "debug=False\n"
    assert run("--debug", "show").output == "debug=True\n"
    assert run("--no-debug", "show").output == "debug=False\n"


def test_version() -> None:
    result = run("--version")
    assert f"Erlen {erlen.__version__}" in result.output
    assert "Python" in result.output
    assert "Werkzeug" in result.output


# -- shell ---------------------------------------------------------------------------------------


def test_shell_has_app_and_context_processor_names(tmp_path: Path) -> None:
    write(
        tmp_path / "app.py",
        """
        from erlen import Erlen
        app = Erlen(__name__)

        @app.shell_context_processor
        def extra():
            return {"answer": 42}
        """,
    )
    startup = write(tmp_path / "startup.py", "from_startup = 'yes'\n")
    os.environ["PYTHONSTARTUP"] = str(startup)
    result = run("shell", input="print(app.name, answer, from_startup, g)\n")
    assert result.exit_code == 0
    assert "App: app" in result.output
    assert ">>> app 42 yes <erlen.g of 'app'>\n" in result.output


# -- dotenv --------------------------------------------------------------------------------------


def test_dotenv_files_set_app_and_variables(tmp_path: Path) -> None:
    write(tmp_path / "dot_app.py", APP_WITH_NAME_COMMAND + "\napp = _make('dot')\n")
    write(tmp_path / ".erlenenv", "ERLEN_APP=dot_app\nFROM_ERLENENV=1\nSHARED=erlenenv\n")
    write(tmp_path / ".env", "SHARED=env\nFROM_ENV=1\n")
    os.environ["SHARED_PRESET"] = "kept"
    write(tmp_path / ".env2", "SHARED_PRESET=overwritten\n")
    assert routes_app_name() == "dot:-"
    assert os.environ["FROM_ERLENENV"] == "1"
    assert os.environ["FROM_ENV"] == "1"
    assert os.environ["SHARED"] == "env"
    load_dotenv(".env2")
    assert os.environ["SHARED_PRESET"] == "kept"


def test_env_file_option_wins_over_default_files(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_WITH_NAME_COMMAND + "\napp = _make('x')\n")
    write(tmp_path / ".env", "WHICH=default\n")
    write(tmp_path / "custom.env", "WHICH=custom\n")
    run("-e", "custom.env", "appname")
    assert os.environ["WHICH"] == "custom"


def test_dotenv_found_in_parent_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / ".env", "FROM_PARENT=1\n")
    (tmp_path / "child").mkdir()
    monkeypatch.chdir(tmp_path / "child")
    assert load_dotenv()
    assert os.environ["FROM_PARENT"] == "1"


def test_skip_dotenv(tmp_path: Path) -> None:
    write(tmp_path / "app.py", APP_WITH_NAME_COMMAND + "\napp = _make('x')\n")
    write(tmp_path / ".env", "SKIPPED=1\n")
    os.environ["ERLEN_SKIP_DOTENV"] = "1"
    run("appname")
    assert "SKIPPED" not in os.environ


def test_dotenv_sets_run_port_and_debug(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    write(tmp_path / ".env", "ERLEN_RUN_PORT=5123\nERLEN_RUN_HOST=127.0.0.2\nERLEN_DEBUG=1\n")
    result = run("run", "--no-reload")
    assert result.exit_code == 0, result.output
    (call,) = served
    assert call["port"] == 5123
    assert call["host"] == "127.0.0.2"
    assert isinstance(call["app"], DebugMiddleware)


# -- run (uvicorn.run replaced by a recorder) ----------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what would be handed to uvicorn.run instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_run_defaults(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    result = run("run")
    assert result.exit_code == 0, result.output
    (call,) = served
    assert isinstance(call["app"], Erlen)
    assert call["host"] == "127.0.0.1"
    assert call["port"] == 5000
    assert call["interface"] == "asgi3"
    assert "reload" not in call
    assert " * Debug mode: off" in result.output


def test_run_debug_wraps_in_debug_middleware_and_reloads(
    tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    result = run("run", "--debug", "--port", "5050", "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    (call,) = served
    # Reloading serves from fresh processes: an import string and a factory.
    assert call["app"] == "erlen.cli:_load_app_for_server"
    assert call["factory"] is True
    assert call["reload"] is True
    assert str(tmp_path) in call["reload_dirs"]
    assert "*.html" in call["reload_includes"]
    assert call["port"] == 5050
    assert os.environ["ERLEN_APP"] == "app"
    assert os.environ["ERLEN_DEBUG"] == "1"
    # What a reloaded worker process then builds:
    served_app = _load_app_for_server()
    assert isinstance(served_app, DebugMiddleware)
    assert served_app.app.debug is True


def test_run_debug_without_reload(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    run("run", "--debug", "--no-reload")
    (call,) = served
    assert isinstance(call["app"], DebugMiddleware)
    assert call["app"].app.debug is True
    assert call["interface"] == "asgi3"


def test_run_reload_with_a_discovered_factory(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(
        tmp_path / "app.py",
        "from erlen import Erlen\n\ndef create_app():\n    return Erlen('made_by_factory')\n",
    )
    assert run("run", "--reload").exit_code == 0
    assert os.environ["ERLEN_APP"] == "app"
    assert _load_app_for_server().import_name == "made_by_factory"


def test_run_workers(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "hello_mod.py", HELLO.format(name="application"))
    result = run("--app", "hello_mod", "run", "--workers", "3", "--debug")
    assert result.exit_code == 0, result.output
    (call,) = served
    assert call["workers"] == 3
    assert call["reload"] is False
    assert os.environ["ERLEN_APP"] == "hello_mod"
    assert " * Workers: 3" in result.output


def test_run_reload_and_workers_conflict(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    result = CliRunner().invoke(cli, ["run", "--reload", "--workers", "2"])
    assert result.exit_code == 2
    assert "cannot be used together" in result.output
    assert not served


def test_run_reports_a_missing_app_at_once(served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(cli, ["run", "--reload"])
    assert result.exit_code == 2
    assert "Could not locate an Erlen application" in result.output
    assert not served


def test_run_reload_with_custom_group_factory(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "manage_mod.py", HELLO.format(name="app") + "\ndef build():\n    return app\n")
    manage_mod = importlib.import_module(prepare_import("manage_mod"))

    group = ErlenGroup(name="manage", create_app=manage_mod.build)
    result = CliRunner().invoke(group, ["run", "--reload"])
    assert result.exit_code == 0, result.output
    assert os.environ["ERLEN_APP"] == "manage_mod:build"

    lambda_group = ErlenGroup(name="manage", create_app=lambda: manage_mod.app)
    result = CliRunner().invoke(lambda_group, ["run", "--reload"])
    assert result.exit_code == 2
    assert "Define it at module level" in result.output


def test_app_run_calls_uvicorn(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    app = Erlen("direct")
    app.run(port=6001, log_level="warning")
    (call,) = served
    assert call["app"] is app
    assert call["port"] == 6001
    assert call["host"] == "127.0.0.1"
    assert call["log_level"] == "warning"


def test_app_run_debug_allow(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    app = Erlen("direct_debug")
    app.run(debug=True, reload=False, debug_allow=["10.0.0.0/8"])
    (call,) = served
    assert isinstance(call["app"], DebugMiddleware)
    assert call["app"].is_allowed("10.1.2.3")
    assert not call["app"].is_allowed("11.1.2.3")


def test_app_run_reload_uses_the_module_attribute(
    tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    write(tmp_path / "runme.py", HELLO.format(name="web"))
    runme = importlib.import_module(prepare_import("runme"))

    runme.web.run(debug=True)
    (call,) = served
    assert call["reload"] is True
    assert os.environ["ERLEN_APP"] == "runme:web"


def test_app_run_understands_flask_options(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "flaskish.py", HELLO.format(name="app"))
    flaskish = importlib.import_module(prepare_import("flaskish"))
    flaskish.app.run(debug=True, use_reloader=False, threaded=True)
    assert isinstance(served[-1]["app"], DebugMiddleware)
    assert "threaded" not in served[-1]
    flaskish.app.run(processes=2)
    assert served[-1]["workers"] == 2
    assert served[-1]["app"] == "erlen.cli:_load_app_for_server"


def test_app_run_reload_needs_an_importable_app(served: list[dict[str, Any]]) -> None:
    app = Erlen("nowhere_module")
    with pytest.raises(RuntimeError, match="no module-level name"):
        app.run(reload=True)


def test_app_run_env_host_port_and_server_name(served: list[dict[str, Any]]) -> None:
    app = Erlen("env_run")
    app.config["SERVER_NAME"] = "example.test:7001"
    app.run()
    # Flask's app.run takes both from SERVER_NAME.
    assert (served[-1]["host"], served[-1]["port"]) == ("example.test", 7001)
    os.environ["ERLEN_RUN_PORT"] = "7002"
    os.environ["ERLEN_RUN_HOST"] = "127.0.0.3"
    app.run()
    assert (served[-1]["host"], served[-1]["port"]) == ("127.0.0.3", 7002)


def test_app_run_is_a_no_op_inside_the_cli(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    # An app module that calls app.run() unguarded must not start a server from a command.
    write(tmp_path / "app.py", HELLO.format(name="app") + "\napp.run()\n")
    result = run("routes")
    assert result.exit_code == 0
    assert not served


# -- the console script and python -m erlen ------------------------------------------------------


def test_console_script_and_module(tmp_path: Path) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERLEN_")}
    for argv in ([str(BIN / "erlen")], [sys.executable, "-m", "erlen"]):
        out = subprocess.run(
            [*argv, "routes"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert "index" in out.stdout
        assert "/static/<path:filename>" in out.stdout


def test_console_script_reports_import_errors(tmp_path: Path) -> None:
    write(tmp_path / "app.py", "import not_installed_anywhere\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERLEN_")}
    out = subprocess.run(
        [str(BIN / "erlen"), "routes"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "While importing 'app'" in out.stderr
    assert "ModuleNotFoundError: No module named 'not_installed_anywhere'" in out.stderr


def test_blueprint_cli_is_an_app_group() -> None:
    bp = Blueprint("things", __name__)
    assert isinstance(bp.cli, AppGroup)
    assert isinstance(Erlen("grp").cli, AppGroup)


def test_routes_example_in_the_docs_is_real(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    block = doc.split("```text\n$ erlen routes\n", 1)[1].split("```", 1)[0]
    write(tmp_path / "app.py", ROUTES_APP)
    assert run("routes").output == block


def test_run_options_from_environment(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    os.environ["ERLEN_RUN_WORKERS"] = "2"
    os.environ["ERLEN_RUN_RELOAD"] = "false"
    assert run("run").exit_code == 0
    assert served[-1]["workers"] == 2
    del os.environ["ERLEN_RUN_WORKERS"]
    os.environ["ERLEN_RUN_RELOAD"] = "true"
    assert run("run").exit_code == 0
    assert served[-1]["reload"] is True


def test_group_debug_option_applies_to_run(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    assert run("--debug", "run", "--no-reload").exit_code == 0
    assert isinstance(served[-1]["app"], DebugMiddleware)


def test_plugin_commands_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("plugged")
    def plugged() -> None:
        click.echo("from a plugin")

    class EntryPoint:
        name = "plugged"

        def load(self) -> click.Command:
            return plugged

    def entry_points(group: str) -> list[EntryPoint]:
        return [EntryPoint()] if group == "erlen.commands" else []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    group = ErlenGroup(name="with-plugins")
    # Plugin commands work even without an app.
    assert run("plugged", group=group).output == "from a plugin\n"


def test_load_dotenv_without_python_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)  # makes `import dotenv` fail
    write(tmp_path / ".env", "NOT_LOADED=1\n")
    assert load_dotenv() is False
    assert "NOT_LOADED" not in os.environ
    assert "Install python-dotenv" in capsys.readouterr().err
    result = CliRunner().invoke(cli, ["-e", ".env", "routes"])
    assert result.exit_code == 2
    assert "python-dotenv must be installed" in result.output


def test_run_without_uvicorn_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "app.py", HELLO.format(name="app"))
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 1
    assert "pip install 'erlen[server]'" in result.output
    del os.environ["ERLEN_RUN_FROM_CLI"]  # set by the command above
    with pytest.raises(RuntimeError, match="needs uvicorn"):
        Erlen("no_uvicorn").run()
