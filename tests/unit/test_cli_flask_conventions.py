"""The command line with Flask's conventions: FLASK_* variables, .flaskenv, flask.cli's names."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import erlen
import erlen.cli
from erlen import Erlen
from erlen.cli import (
    CertParamType,
    ErlenGroup,
    FlaskGroup,
    ScriptInfo,
    SeparatedPathType,
    cli,
    get_version,
    load_dotenv,
    run_app,
    run_command,
    show_server_banner,
    version_option,
)
from erlen.middleware.debug import DebugMiddleware
from support import isolated_cli_run

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run in an empty folder; restore the environment, sys.path and sys.modules after."""
    yield from isolated_cli_run(monkeypatch, tmp_path)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what would be handed to uvicorn.run instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


NAMED_APP = """
import click
from erlen import Erlen

app = Erlen({name!r})

@app.route("/")
def index():
    return "hi"

@app.cli.command("appname")
def appname():
    click.echo(app.name + " debug=" + str(app.debug))
"""


def invoke(*args: str, prog: str = "erlen", group: click.Group = cli) -> Any:
    return CliRunner().invoke(group, list(args), prog_name=prog, catch_exceptions=False)


def app_name(*args: str, prog: str = "erlen") -> str:
    result = invoke(*args, "appname", prog=prog)
    assert result.exit_code == 0, result.output
    return str(result.output.strip())


# -- FLASK_* variables: read when the ERLEN_* one is not set -------------------------------------


def test_flask_app_names_the_app(tmp_path: Path) -> None:
    write(tmp_path / "flask_named.py", NAMED_APP.format(name="from_flask_app"))
    write(tmp_path / "erlen_named.py", NAMED_APP.format(name="from_erlen_app"))
    os.environ["FLASK_APP"] = "flask_named"
    assert app_name() == "from_flask_app debug=False"
    os.environ["ERLEN_APP"] = "erlen_named"
    assert app_name() == "from_erlen_app debug=False"
    # An explicit --app wins over both.
    assert app_name("--app", "flask_named") == "from_flask_app debug=False"


@pytest.mark.parametrize(
    ("env", "debug"),
    [
        ({"FLASK_DEBUG": "1"}, True),
        ({"FLASK_DEBUG": "0"}, False),
        ({"ERLEN_DEBUG": "0", "FLASK_DEBUG": "1"}, False),
        ({"ERLEN_DEBUG": "1", "FLASK_DEBUG": "0"}, True),
    ],
)
def test_flask_debug_and_its_precedence(tmp_path: Path, env: dict[str, str], debug: bool) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="dbg"))
    os.environ.update(env)
    assert app_name() == f"dbg debug={debug}"


def test_run_reads_flask_run_variables(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="runner"))
    os.environ.update(
        {"FLASK_RUN_PORT": "5111", "FLASK_RUN_HOST": "127.0.0.3", "ERLEN_RUN_HOST": "127.0.0.4"}
    )
    result = invoke("run", "--no-reload", prog="flask")
    assert result.exit_code == 0, result.output
    (call,) = served
    assert call["port"] == 5111  # only Flask's name is set
    assert call["host"] == "127.0.0.4"  # Erlen's name wins


def test_app_run_reads_flask_run_variables(served: list[dict[str, Any]]) -> None:
    os.environ.update({"FLASK_RUN_PORT": "5222", "FLASK_RUN_HOST": "127.0.0.5"})
    run_app(Erlen("direct"), load_dotenv=False)
    assert (served[-1]["host"], served[-1]["port"]) == ("127.0.0.5", 5222)
    os.environ["ERLEN_RUN_PORT"] = "5333"
    run_app(Erlen("direct"), load_dotenv=False)
    assert served[-1]["port"] == 5333


def test_app_run_is_a_no_op_under_flask_run_from_cli(served: list[dict[str, Any]]) -> None:
    os.environ["FLASK_RUN_FROM_CLI"] = "true"
    run_app(Erlen("quiet"))
    assert served == []


def test_flask_skip_dotenv(tmp_path: Path) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="skip"))
    write(tmp_path / ".flaskenv", "FROM_FLASKENV=1\n")
    os.environ["FLASK_SKIP_DOTENV"] = "1"
    app_name()
    assert "FROM_FLASKENV" not in os.environ


# -- .flaskenv --------------------------------------------------------------------------------


def test_flaskenv_is_loaded_below_erlenenv_and_env(tmp_path: Path) -> None:
    write(tmp_path / "dot_app.py", NAMED_APP.format(name="dotted"))
    write(tmp_path / ".flaskenv", "FLASK_APP=dot_app\nA=flaskenv\nB=flaskenv\nC=flaskenv\n")
    write(tmp_path / ".erlenenv", "B=erlenenv\nC=erlenenv\n")
    write(tmp_path / ".env", "C=env\n")
    assert app_name(prog="flask") == "dotted debug=False"
    assert (os.environ["A"], os.environ["B"], os.environ["C"]) == ("flaskenv", "erlenenv", "env")


def test_load_dotenv_reads_flaskenv(tmp_path: Path) -> None:
    write(tmp_path / ".flaskenv", "ONLY_IN_FLASKENV=yes\n")
    assert load_dotenv() is True
    assert os.environ["ONLY_IN_FLASKENV"] == "yes"
    assert load_dotenv("missing-file", load_defaults=False) is False


# -- the program's name ----------------------------------------------------------------------------


def test_errors_name_the_program_and_its_variable() -> None:
    result = invoke("routes", prog="flask")
    assert result.exit_code == 2
    assert "Usage: flask routes" in result.output
    assert "Use the 'flask --app' option, the 'FLASK_APP' environment variable" in result.output
    result = invoke("routes", prog="erlen")
    assert "Usage: erlen routes" in result.output
    assert "Use the 'erlen --app' option, the 'ERLEN_APP'" in result.output


def test_version_has_flasks_shape_when_run_as_flask() -> None:
    as_flask = invoke("--version", prog="flask").output.splitlines()
    assert as_flask[0].startswith("Python ")
    assert as_flask[1].startswith("Flask ")
    assert as_flask[1].endswith(f"(Erlen {erlen.__version__})")
    assert as_flask[2].startswith("Werkzeug ")
    as_erlen = invoke("--version").output.splitlines()
    assert f"Erlen {erlen.__version__}" in as_erlen
    assert not any(line.startswith("Flask") for line in as_erlen)


def test_get_version_is_flasks_callback(capsys: pytest.CaptureFixture[str]) -> None:
    class Ctx:
        resilient_parsing = False
        color = None
        exited = False

        def exit(self) -> None:
            self.exited = True

    ctx = Ctx()
    get_version(ctx, None, False)
    assert capsys.readouterr().out == "" and not ctx.exited
    get_version(ctx, None, True)
    assert f"Erlen {erlen.__version__}" in capsys.readouterr().out and ctx.exited
    assert version_option.callback is get_version


def test_debug_option_sets_flask_debug_when_run_as_flask(tmp_path: Path) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="dbgopt"))
    assert app_name("--debug", prog="flask") == "dbgopt debug=True"
    assert os.environ["FLASK_DEBUG"] == os.environ["ERLEN_DEBUG"] == "1"
    assert os.environ["FLASK_RUN_FROM_CLI"] == "true"


def test_erlen_program_leaves_flask_variables_alone(tmp_path: Path) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="plain"))
    assert app_name("--debug") == "plain debug=True"
    assert "FLASK_DEBUG" not in os.environ
    assert "FLASK_RUN_FROM_CLI" not in os.environ


# -- flask.cli's names -----------------------------------------------------------------------------

FLASK_CLI_NAMES = [
    "FlaskGroup",
    "ScriptInfo",
    "AppGroup",
    "with_appcontext",
    "pass_script_info",
    "find_best_app",
    "locate_app",
    "prepare_import",
    "get_version",
    "load_dotenv",
    "NoAppException",
    "run_command",
    "shell_command",
    "routes_command",
    "main",
    "cli",
    "CertParamType",
    "SeparatedPathType",
    "show_server_banner",
    "version_option",
]


@pytest.mark.parametrize("name", FLASK_CLI_NAMES)
def test_flask_cli_names_are_here(name: str) -> None:
    assert name in erlen.cli.__all__
    assert getattr(erlen.cli, name) is not None


def test_flask_group_with_create_app() -> None:
    assert FlaskGroup is ErlenGroup
    app = Erlen("made")

    @app.cli.command("who")
    def who() -> None:
        click.echo(erlen.current_app.name)

    group = FlaskGroup(create_app=lambda: app)
    assert invoke("who", group=group).output == "made\n"

    @click.group(cls=FlaskGroup, create_app=lambda: app)
    def manage() -> None:
        pass

    assert invoke("who", group=manage).output == "made\n"


def test_show_server_banner(capsys: pytest.CaptureFixture[str]) -> None:
    show_server_banner(True, "hello:app")
    assert capsys.readouterr().out == " * Serving Erlen app 'hello:app'\n * Debug mode: on\n"
    show_server_banner(None, None)
    assert capsys.readouterr().out == ""


def test_flask_commands_entry_points_only_in_compat_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    def command(name: str) -> click.Command:
        return click.Command(name, callback=lambda: click.echo(f"{name} ran"))

    class EntryPoint:
        def __init__(self, name: str, group: str) -> None:
            self.name, self.group = name, group

        def load(self) -> click.Command:
            return command(f"{self.group}:{self.name}")

    def entry_points(group: str) -> list[EntryPoint]:
        names = {"flask.commands": ["db", "both"], "erlen.commands": ["both"]}
        return [EntryPoint(name, group) for name in names.get(group, [])]

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    plain = ErlenGroup(name="plain")
    assert invoke("both", group=plain).output == "erlen.commands:both ran\n"
    assert invoke("db", group=plain).exit_code == 2  # Flask's group is not read

    monkeypatch.setattr(erlen.cli, "_compat_active", lambda: True)
    group = ErlenGroup(name="compat")
    assert invoke("db", group=group).output == "flask.commands:db ran\n"
    # Erlen's group wins a name both use.
    assert invoke("both", group=group).output == "erlen.commands:both ran\n"


# -- run's Flask options -----------------------------------------------------------------------


def test_cert_and_key_must_go_together(tmp_path: Path) -> None:
    pem = str(write(tmp_path / "c.pem", "x"))
    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--cert", pem])
    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--key", pem])
    for args in (["--cert", pem, "--key", pem], ["--key", pem, "--cert", pem]):
        ctx = run_command.make_context("run", args)
        assert ctx.params["cert"] == (pem, pem)


def test_cert_adhoc_and_ssl_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pem = str(write(tmp_path / "k.pem", "x"))
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(click.BadParameter, match="cryptography"):
        run_command.make_context("run", ["--cert", "adhoc"])
    monkeypatch.setitem(sys.modules, "cryptography", types.ModuleType("cryptography"))
    assert run_command.make_context("run", ["--cert", "adhoc"]).params["cert"] == "adhoc"
    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--cert", "adhoc", "--key", pem])

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    monkeypatch.setitem(sys.modules, "made_context", context)
    assert run_command.make_context("run", ["--cert", "made_context"]).params["cert"] is context
    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--cert", "made_context", "--key", pem])
    with pytest.raises(click.BadParameter):
        run_command.make_context("run", ["--cert", "erlen"])  # importable, not a context
    assert isinstance(CertParamType().path_type, click.Path)


def test_run_serves_tls_with_cert_and_key(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="tls"))
    cert = str(write(tmp_path / "cert.pem", "c"))
    key = str(write(tmp_path / "key.pem", "k"))
    result = invoke("run", "--cert", cert, "--key", key)
    assert result.exit_code == 0, result.output
    assert (served[0]["ssl_certfile"], served[0]["ssl_keyfile"]) == (cert, key)


def test_run_refuses_an_ssl_context_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="ctx"))
    monkeypatch.setitem(sys.modules, "made_context", ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    result = invoke("run", "--cert", "made_context")
    assert result.exit_code == 2
    assert "cannot use an SSLContext" in result.output
    assert served == []


def test_separated_paths_and_reload_options(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    ctx = run_command.make_context("run", ["--exclude-patterns", f"*.tmp{os.pathsep}*.bak"])
    assert ctx.params["exclude_patterns"] == ["*.tmp", "*.bak"]
    assert SeparatedPathType().convert(f"a{os.pathsep}b", None, None) == ["a", "b"]

    write(tmp_path / "app.py", NAMED_APP.format(name="reloading"))
    extra = write(tmp_path / "conf" / "settings.toml", "")
    result = invoke("run", "--reload", "--extra-files", str(extra), "--exclude-patterns", "*.tmp")
    assert result.exit_code == 0, result.output
    (call,) = served
    assert str(extra.parent) in call["reload_dirs"]
    assert call["reload_excludes"] == ["*.tmp"]
    if "reload_includes" in call:  # only with watchfiles installed
        assert "settings.toml" in call["reload_includes"]


def test_run_no_debugger_serves_the_bare_app(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    write(tmp_path / "app.py", NAMED_APP.format(name="nodbg"))
    assert invoke("run", "--debug", "--no-reload", "--no-debugger").exit_code == 0
    assert isinstance(served[-1]["app"], Erlen)
    assert invoke("run", "--debug", "--no-reload").exit_code == 0
    assert isinstance(served[-1]["app"], DebugMiddleware)
    assert invoke("run", "--no-reload", "--without-threads").exit_code == 0


def test_script_info_signature_matches_flask() -> None:
    info = ScriptInfo(None, lambda: Erlen("sig"), False, False)
    assert info.load_app().name == "sig"
    assert info.set_debug_flag is False and info.load_dotenv_defaults is False


# -- the `flask` console script and `python -m flask` in compat mode -------------------------------


def _compat_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "FLASK_"))}
    env["ERLEN_FLASK_COMPAT"] = "1"
    return env


@pytest.mark.skipif(not (BIN / "flask").exists(), reason="Flask's console script is not installed")
def test_flask_console_script_in_compat_mode(tmp_path: Path) -> None:
    write(tmp_path / "site_app.py", NAMED_APP.format(name="via_flaskenv"))
    write(tmp_path / ".flaskenv", "FLASK_APP=site_app\n")
    out = subprocess.run(
        [str(BIN / "flask"), "routes"],
        cwd=tmp_path,
        env=_compat_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split() == ["Endpoint", "Methods", "Rule"]
    assert "/static/<path:filename>" in out.stdout
    out = subprocess.run(
        [str(BIN / "flask"), "appname"],
        cwd=tmp_path,
        env=_compat_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The app is Erlen's: Flask's own `flask` would not find this Erlen app.
    assert out.stdout == "via_flaskenv debug=False\n", out.stderr


def test_python_m_flask_version_in_compat_mode(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--version"],
        cwd=tmp_path,
        env=_compat_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("Flask ") and lines[1].endswith(f"(Erlen {erlen.__version__})")
    out = subprocess.run(
        [sys.executable, "-m", "flask", "nothing-here"],
        cwd=tmp_path,
        env=_compat_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "Usage: python -m flask [OPTIONS]" in out.stderr
    assert "'python -m flask --app'" in out.stderr and "'FLASK_APP'" in out.stderr
