"""Typed ``g`` and config (erlen.typing): what type checkers accept and flag, and that
the declarations change nothing at runtime.

The checker tests write the Python blocks of docs/type-checking.md to ``tmp_path`` and
run mypy on them once: every line marked ``# error: <text>`` must be reported with that
text, and no other line (so the correct examples must pass).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_type_hints

import pytest
import typing_extensions
from pydantic import TypeAdapter, ValidationError

import erlen
from erlen import Erlen
from erlen.config import DEFAULT_CONFIG
from erlen.typing import (
    ConfigKeys,
    Globals,
    TypedErlen,
    config_of,
    typed_current_app,
    typed_g,
)

DOCS = Path(__file__).parents[2] / "docs" / "type-checking.md"

# A block of the page to check: ```python, then a first line naming its module.
_BLOCK = re.compile(r"```python\n# (\w+\.py)\n(.*?)```", re.DOTALL)
_MARK = re.compile(r"#\s*error:\s*(.+)$")


def _write_sample(root: Path) -> list[str]:
    """Write the page's Python blocks to ``root``, each as the module its first line names."""
    blocks = _BLOCK.findall(DOCS.read_text())
    assert len(blocks) >= 4, "docs/type-checking.md lost its checked examples"
    for name, text in blocks:
        (root / name).write_text(text)
    return [str(root / name) for name, _ in blocks]


def _expected_errors(root: Path) -> dict[tuple[str, int], str]:
    """(module, line) -> the text its ``# error:`` mark says the checker reports."""
    marks = {}
    for path in sorted(root.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found = _MARK.search(line)
            if found:
                marks[path.name, number] = found.group(1).strip()
    # The page must keep showing each kind of mistake.
    texts = " ".join(marks.values())
    for kind in ('has no attribute "usr"', 'variable has type "User | None"', "has no key"):
        assert kind in texts
    assert "incompatible type" in texts
    return marks


def test_mypy_accepts_declared_code_and_reports_each_mistake(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api")
    files = _write_sample(tmp_path)
    expected = _expected_errors(tmp_path)
    # An empty config file: the project's [tool.mypy] (files, python_version) stays out.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    stdout, stderr, status = mypy_api.run(
        [
            "--config-file",
            str(config),
            "--strict",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--hide-error-context",
            "--no-error-summary",
            "--no-pretty",
            *files,
        ]
    )
    assert stderr == ""
    errors: dict[tuple[str, int], list[str]] = {}
    for line in stdout.splitlines():
        path, number, message = line.split(":", 2)
        if not message.startswith(" note: "):
            errors.setdefault((Path(path).name, int(number)), []).append(message)
    assert sorted(errors) == sorted(expected), stdout
    for where, text in expected.items():
        assert any(text in message for message in errors[where]), (where, text, stdout)
    assert status == 1


@functools.cache
def _pyright() -> str | None:
    """The pyright command, if it runs here (it needs Node.js, which it cannot fetch offline)."""
    # The dev extra installs it beside the interpreter, which need not be on PATH (make test).
    found = shutil.which("pyright") or shutil.which(
        "pyright", path=str(Path(sys.executable).parent)
    )
    if found is None:
        return None
    try:
        subprocess.run([found, "--version"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return found


@pytest.mark.skipif(
    _pyright() is None, reason="pyright is not installed or cannot run (no Node.js)"
)
def test_pyright_accepts_declared_code_and_reports_each_mistake(tmp_path: Path) -> None:
    files = _write_sample(tmp_path)
    expected = _expected_errors(tmp_path)
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    done = subprocess.run(
        [str(_pyright()), "--outputjson", "--pythonpath", sys.executable, *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout)
    # pyright counts lines from 0.
    errors = {
        (Path(d["file"]).name, d["range"]["start"]["line"] + 1)
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }
    assert sorted(errors) == sorted(expected), report["generalDiagnostics"]


# -- runtime: the declarations are the objects Erlen already has ------------------------


class _Settings(ConfigKeys):
    DATABASE_URL: str


class _AppGlobals(Globals):
    user: str | None = None
    hits: int = 0


def test_helpers_return_the_existing_proxies() -> None:
    assert typed_g(_AppGlobals) is erlen.g
    assert typed_current_app(TypedErlen[_Settings]) is erlen.current_app
    assert Globals is type(Erlen(__name__).app_ctx_globals_class())


def test_typed_erlen_is_erlen_at_runtime() -> None:
    assert TypedErlen[_Settings] is Erlen
    app = TypedErlen(__name__)
    assert type(app) is Erlen
    assert isinstance(app, TypedErlen)
    assert not isinstance(object(), TypedErlen)

    class Shop(TypedErlen[_Settings]):
        pass

    class Bare(TypedErlen):
        pass

    assert Shop.__mro__[1] is Erlen
    assert Bare.__mro__[1] is Erlen
    assert issubclass(Shop, TypedErlen)
    assert config_of(Shop(__name__)).__class__.__name__ == "Config"


def test_undeclared_g_still_raises_attribute_error_with_the_name() -> None:
    app = Erlen(__name__)
    with app.app_context(), pytest.raises(AttributeError, match=r"^missing$"):
        erlen.g.missing  # noqa: B018


def test_config_keys_name_every_default_key() -> None:
    assert set(ConfigKeys.__annotations__) == set(DEFAULT_CONFIG)


def test_a_new_apps_config_matches_config_keys() -> None:
    # Pydantic reads TypedDicts from typing_extensions only before Python 3.12: a copy.
    keys = TypeAdapter(typing_extensions.TypedDict("Keys", get_type_hints(ConfigKeys)))  # type: ignore[operator]
    app = Erlen(__name__)
    keys.validate_python(dict(app.config), strict=True)
    app.config["SECRET_KEY_FALLBACKS"] = [b"old"]
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    keys.validate_python(dict(app.config), strict=True)
    app.config["MAX_COOKIE_SIZE"] = "4093"
    with pytest.raises(ValidationError, match="MAX_COOKIE_SIZE"):
        keys.validate_python(dict(app.config), strict=True)


def test_declared_globals_give_g_its_defaults(
    client: Callable[..., Any],
) -> None:
    app = Erlen(__name__)
    app.app_ctx_globals_class = _AppGlobals
    g = typed_g(_AppGlobals)

    @app.get("/")
    def index() -> str:
        g.hits += 1
        return f"{g.user}:{g.hits}"

    response = client(app).get("/")
    assert response.text == "None:1"
