"""erlen.flask_compat: ``import flask`` answers with Erlen, switched on three ways, never by default.

Compat mode changes :data:`sys.modules` for the whole process, so every check runs in a
fresh interpreter (the real Flask distribution is installed beside Erlen in the test
environment, as it is when extensions pull it in).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

# Importing erlen.flask_compat switches compat mode on, so this module never imports it:
# each check runs in a fresh interpreter.
PTH = Path(sysconfig.get_paths()["purelib"]) / "erlen-flask-compat.pth"


def run_python(
    code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run ``code`` in a fresh interpreter; return its stdout (fail with its stderr)."""
    base = {k: v for k, v in os.environ.items() if k != "ERLEN_FLASK_COMPAT"}
    proc = subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_makes_every_documented_flask_module_erlens() -> None:
    out = run_python(
        """
        import importlib, sys
        import erlen.flask_compat
        from erlen.flask_compat import MODULES
        import flask, erlen
        for flask_name, erlen_name in MODULES.items():
            module = importlib.import_module(flask_name)
            assert sys.modules[flask_name] is module
            if flask_name == "flask":
                continue  # a package of its own with erlen's names (the test below)
            assert module is importlib.import_module(erlen_name), flask_name
            # The Erlen module keeps its own spec (relative imports, reload, pickling).
            assert module.__spec__.name == erlen_name, (flask_name, module.__spec__.name)
        real = [m for m in sys.modules.values() if "site-packages/flask/" in (getattr(m, "__file__", "") or "")]
        assert real == [], real
        from flask import Flask, request, jsonify
        from flask.testing import FlaskClient, FlaskCliRunner
        from flask.sansio.app import App
        from flask.sansio.scaffold import Scaffold
        assert Flask is erlen.Erlen and App is erlen.Erlen
        assert FlaskClient is erlen.testing.ErlenClient
        app = Flask(__name__)
        assert isinstance(app, App) and isinstance(app, Scaffold)

        @app.route("/")
        def index():
            return jsonify(x=request.args["x"])

        print(app.test_client().get("/?x=1").json["x"])
        """
    )
    assert out.strip() == "1"


def test_the_flask_package_has_erlens_names_and_flasks_version() -> None:
    """``flask`` holds Erlen's top-level names; ``flask.__version__`` is Flask's, as on Flask
    (deprecated there, with a warning), and ``erlen.__version__`` stays Erlen's."""
    out = run_python(
        """
        import importlib.metadata, warnings
        import erlen.flask_compat
        import flask, erlen
        from flask import *
        public = [name for name in vars(erlen) if not name.startswith("_")]
        assert all(getattr(flask, name) is getattr(erlen, name) for name in public)
        assert flask.Flask is erlen.Erlen and Flask is erlen.Erlen and request is erlen.request
        assert jsonify is erlen.jsonify and Blueprint is erlen.Blueprint
        assert flask.json is erlen.json and flask.globals is erlen.globals
        assert flask.ServerSentEvent is erlen.ServerSentEvent  # erlen's lazy names too
        assert set(public) <= set(dir(flask))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            version = flask.__version__
        assert version == importlib.metadata.version("flask") != erlen.__version__
        assert [w.category for w in caught] == [DeprecationWarning]
        assert "Flask" not in vars(erlen)  # Flask's names go on flask, not on erlen
        # A name set on flask is what readers of flask.name see, and erlen is untouched.
        flask.render_template = "patched"
        assert flask.render_template == "patched" and erlen.render_template != "patched"
        # A name erlen gains later is read through.
        erlen.added_later = 42
        assert flask.added_later == 42
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_flask_names_point_at_existing_erlen_objects() -> None:
    run_python(
        """
        import importlib
        import erlen.flask_compat
        from erlen.flask_compat import FLASK_NAMES, MODULES
        for flask_name, names in FLASK_NAMES.items():
            module = importlib.import_module(flask_name)
            for name, ref in names.items():
                owner, _, attr = ref.partition(":")
                assert getattr(module, name) is getattr(importlib.import_module(owner), attr), (flask_name, name)
        assert set(FLASK_NAMES) <= set(MODULES)
        """
    )


def test_import_flask_loads_the_submodules_flasks_does() -> None:
    """``import flask`` alone makes ``flask.cli`` and the like reachable, as Flask's does
    (Flask-Smorest calls ``flask.cli.AppGroup`` at import time)."""
    out = run_python(
        """
        import erlen.flask_compat
        import flask
        import erlen.cli, erlen.sessions, erlen.wrappers, erlen.logging, erlen.typing, erlen.app
        assert flask.cli.AppGroup is erlen.cli.AppGroup
        assert flask.sessions is erlen.sessions and flask.wrappers is erlen.wrappers
        assert flask.logging is erlen.logging and flask.typing is erlen.typing
        assert flask.sansio.app.App is erlen.Erlen
        assert flask.sansio.scaffold.Scaffold is not None and flask.sansio.blueprints is not None
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_an_undocumented_flask_module_is_a_clear_import_error() -> None:
    out = run_python(
        """
        import erlen.flask_compat
        try:
            import flask.not_a_module
        except ModuleNotFoundError as exc:
            print(exc.name, "|", exc)
        """
    )
    name, message = out.split("|")
    assert name.strip() == "flask.not_a_module"
    assert "Erlen answers for Flask's documented modules" in message


def test_real_flask_imported_first_is_refused_with_the_way_out() -> None:
    out = run_python(
        """
        import flask
        try:
            import erlen.flask_compat
        except RuntimeError as exc:
            print(exc)
        """
    )
    assert "must be imported before flask" in out
    assert "ERLEN_FLASK_COMPAT=1" in out


def test_never_active_unless_asked() -> None:
    out = run_python(
        """
        import sys
        print("erlen" in sys.modules)
        import flask
        print(flask.Flask.__module__, "erlen" in sys.modules)
        """
    )
    loaded, flask_module, loaded_after = out.split()
    assert loaded == "False"  # the start-up hook imports nothing when the variable is unset
    assert (flask_module, loaded_after) == ("flask.app", "False")  # the real Flask, alone


def test_the_start_up_hook_is_installed() -> None:
    assert PTH.is_file(), f"{PTH} is missing: reinstall Erlen (pip install -e .)"
    assert "ERLEN_FLASK_COMPAT" in PTH.read_text()


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_the_environment_variable_turns_it_on(value: str) -> None:
    out = run_python(
        "import flask, erlen; print(flask.Flask is erlen.Erlen)",
        env={"ERLEN_FLASK_COMPAT": value},
    )
    assert out.strip() == "True"


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_other_values_leave_it_off(value: str) -> None:
    out = run_python(
        "import flask; print(flask.__name__, hasattr(flask, 'Erlen'))",
        env={"ERLEN_FLASK_COMPAT": value},
    )
    assert out.split() == ["flask", "False"]


def test_flask_version_is_the_installed_distributions() -> None:
    out = run_python(
        """
        import importlib.metadata as md
        real = md.version("flask")
        import erlen.flask_compat
        print(real == md.version("flask"))
        """
    )
    assert out.strip() == "True"


def test_flask_version_answers_when_only_erlen_is_installed() -> None:
    out = run_python(
        """
        import importlib.metadata as md
        original = md.MetadataPathFinder.find_distributions

        def hide_flask(context=md.DistributionFinder.Context()):
            found = original(context)
            if (context.name or "").lower() == "flask":
                return iter(())
            return found

        md.MetadataPathFinder.find_distributions = staticmethod(hide_flask)
        import erlen.flask_compat
        print(md.version("flask"), md.metadata("flask")["Name"], erlen.flask_compat.FLASK_API_VERSION)
        """
    )
    version, name, api_version = out.split()
    assert (version, name) == (api_version, "Flask")


@pytest.mark.parametrize("with_env", [False, True])
def test_pytest_plugin_with_warnings_as_errors(tmp_path: Path, with_env: bool) -> None:
    (tmp_path / "test_on_erlen.py").write_text(
        textwrap.dedent(
            """
            import flask, erlen

            def test_flask_is_erlen():
                assert flask.Flask is erlen.Erlen
                client = flask.Flask(__name__).test_client()
                assert client.get("/missing").status_code == 404
            """
        )
    )
    env = {"ERLEN_FLASK_COMPAT": "1"} if with_env else {}
    out = run_python(
        "import sys, pytest; sys.exit(pytest.main(['-p', 'erlen.flask_compat', '-W', 'error',"
        " '-p', 'no:cacheprovider', '-q', '-o', 'addopts=', '--rootdir', '.']))",
        "-W",
        "error",
        env=env,
        cwd=tmp_path,
    )
    assert "1 passed" in out


def test_pytest_header_names_the_door(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    out = run_python(
        "import sys, pytest; sys.exit(pytest.main(['-p', 'erlen.flask_compat', '-p', 'no:cacheprovider',"
        " '-o', 'addopts=', '--rootdir', '.']))",
        env={"ERLEN_TEST_DOOR": "asgi"},
        cwd=tmp_path,
    )
    assert "erlen.flask_compat: flask is erlen (test client door: asgi)" in out
