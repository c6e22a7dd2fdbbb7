"""The documentation pages run as written and stay true to the code.

* Every ```python block of every ``docs/*.md`` page is executed and every ```pycon session is
  doctested, in page order (``support.run_markdown``). A block whose first line is
  ``# name.py`` is also written to a temporary folder first, so that the page's later blocks can
  import it (``from chat_app import app``). Blocks that cannot run on their own (a fragment of a
  larger app, a script that needs a server) say so with the info string ```python no-run.
  Pages whose examples another test already runs are listed in ``RUN_ELSEWHERE`` and not run
  twice.
* ``docs/configuration.md`` names every config key the package reads: the test collects them from
  the source and from the defaults dicts of the core and the batteries.
* Every Graphviz source in ``docs/diagrams`` is used by a page, every page's ``graphviz``
  directive names a source that exists, and each source renders with ``dot``.
"""

from __future__ import annotations

import doctest
import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import run_markdown

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "erlen"

#: Pages whose examples other tests run; the value is the test module that runs them.
RUN_ELSEWHERE = {
    "auth.md": "tests/unit/contrib/test_auth.py",
    "blueprints.md": "tests/unit/test_blueprints.py",
    "security.md": "tests/unit/contrib/test_passwords.py",
    "sessions.md": "tests/unit/test_sessions.py",
    "templates.md": "tests/unit/test_templating.py",
    "typed-apis.md": "tests/unit/test_typed_docs.py",
    # Its blocks define Celery tasks, which Celery registers for the whole process: a real
    # worker runs them there, and running them here too would register the names twice.
    "tasks.md": "tests/integration/test_celery_worker.py",
    # Its one Python block (ProxyFix) is added to examples/hello and served by real servers.
    "deployment.md": "tests/integration/test_deploy.py",
}

#: The guides, the front page and the API reference; the tutorial's pages have their own test
#: (tests/docs/test_tutorial.py), which runs each step's code from examples/tutorial/.
PAGES = sorted(str(p.relative_to(DOCS)) for p in [*DOCS.glob("*.md"), *DOCS.glob("api/*.md")])

#: A fenced block's opening line: its info string decides whether the block runs.
FENCE = re.compile(r"^```(\S*)(.*)$", re.M)
RUNNABLE = {"python", "pycon"}
NOT_RUN = {"python no-run", "pycon no-run"}
MODULE_BLOCK = re.compile(r"^```python\n# ([\w/]+\.py)\n(.*?)^```$", re.S | re.M)


@pytest.fixture
def page_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder on ``sys.path``; modules the page imported are forgotten after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if str(tmp_path) in str(getattr(module, "__file__", "") or ""):
            del sys.modules[name]


@pytest.mark.parametrize("page", [p for p in PAGES if p not in RUN_ELSEWHERE])
def test_page_runs_as_written(page: str, page_folder: Path) -> None:
    path = DOCS / page
    for name, body in MODULE_BLOCK.findall(path.read_text("utf-8")):
        target = page_folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    run_markdown(path, doctest.ELLIPSIS)


@pytest.mark.parametrize("page", sorted(RUN_ELSEWHERE))
def test_pages_run_elsewhere_are_run_there(page: str) -> None:
    assert (DOCS / page).exists(), f"{page} is gone: remove it from RUN_ELSEWHERE"
    runner = (ROOT / RUN_ELSEWHERE[page]).read_text("utf-8")
    assert page in runner, f"{RUN_ELSEWHERE[page]} no longer runs docs/{page}"


def test_every_python_block_is_run_or_says_why_not() -> None:
    """A typo in an info string (```py, ```python3) must not take a block out of the tests."""
    wrong = []
    for path in sorted(DOCS.rglob("*.md")):
        if "_build" in path.parts:
            continue
        text = path.read_text("utf-8")
        opened = False
        for match in FENCE.finditer(text):
            opened = not opened
            if not opened:
                continue  # a closing fence
            info = (match.group(1) + match.group(2)).strip()
            if info.startswith("py") and info not in RUNNABLE | NOT_RUN:
                wrong.append(f"{path.relative_to(DOCS)}: ```{info}")
    assert not wrong, "use ```python, ```pycon or ```python no-run:\n" + "\n".join(wrong)


def test_my_pages_have_examples() -> None:
    """The guides keep their executed examples (a page of prose only would pass silently)."""
    counted = {}
    for page in ("testing.md", "configuration.md", "porting.md", "wsgi-or-asgi.md"):
        text = (DOCS / page).read_text("utf-8")
        counted[page] = len(re.findall(r"^```(?:python|pycon)\n", text, re.M))
    assert all(n >= 2 for n in counted.values()), counted


# -- configuration.md names every config key ---------------------------------------------------

#: ``config["X"]``, ``config.get("X"``, ``config.setdefault("X"``, ``"X" in config``,
#: ``ConfigAttribute("X")``, across line breaks and with either quote.
_KEY = r"""["']([A-Z][A-Z0-9_]*)["']"""
READ_PATTERNS = [
    re.compile(r"config\[\s*" + _KEY + r"\s*\]"),
    re.compile(r"config\.(?:get|setdefault|pop)\(\s*" + _KEY),
    re.compile(_KEY + r"\s+(?:not\s+)?in\s+(?:[\w.]+\.)?config\b"),
    re.compile(r"ConfigAttribute(?:\[[^\n]*?\])?\(\s*" + _KEY),
]
#: Upper-case names the patterns find that are not keys Erlen reads.
NOT_KEYS = {
    "DB",  # config.py: the docstring of from_prefixed_env (ERLEN_DB__HOST sets config["DB"]["HOST"])
    "KEY",  # typing.py: the docstring of typed_current_app (current_app.config["KEY"])
}
#: Defaults dicts: (module, name, prefix for keys named by option). Their keys are config keys.
DEFAULTS_DICTS = [
    ("erlen.config", "DEFAULT_CONFIG", None),
    ("erlen.contrib.csrf", "CSRF_CONFIG_DEFAULTS", None),
    ("erlen.contrib.auth", "LOGIN_CONFIG_DEFAULTS", None),
    ("erlen.contrib.ratelimit", "RATELIMIT_CONFIG_DEFAULTS", None),
    ("erlen.contrib.caching", "_DEFAULTS", None),
    ("erlen.middleware.cors", "CORS_DEFAULTS", "CORS_"),
    ("erlen.middleware.security_headers", "SECURITY_HEADER_DEFAULTS", "SECURITY_"),
]


def defaults_dicts() -> dict[str, Any]:
    """Every key of the defaults dicts, with its default."""
    keys: dict[str, Any] = {}
    for module, name, prefix in DEFAULTS_DICTS:
        table = getattr(importlib.import_module(module), name)
        for key, value in table.items():
            keys[key if prefix is None else prefix + key.upper()] = value
    return keys


def keys_read_by_the_code() -> dict[str, list[str]]:
    """Config keys named in the package's source, with the files that name them."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text("utf-8")
        for pattern in READ_PATTERNS:
            for key in pattern.findall(text):
                if key.endswith("_") or key in NOT_KEYS:  # a prefix ("CORS_" + name)
                    continue
                found.setdefault(key, []).append(str(path.relative_to(SRC)))
    for key in defaults_dicts():
        found.setdefault(key, []).append("a defaults dict")
    return found


def documented_keys() -> tuple[set[str], set[str]]:
    """The keys configuration.md's tables describe, and the environment variables it lists."""
    text = (DOCS / "configuration.md").read_text("utf-8")
    config_part, _, env_part = text.partition("\n## Environment variables")
    row = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.M)
    return set(row.findall(config_part)), set(row.findall(env_part))


def test_configuration_page_names_every_key() -> None:
    read = keys_read_by_the_code()
    documented, _ = documented_keys()
    missing = {key: files for key, files in read.items() if key not in documented}
    assert not missing, f"docs/configuration.md lacks a row for: {missing}"


def test_configuration_page_names_no_unknown_key() -> None:
    documented, _ = documented_keys()
    unknown = documented - set(keys_read_by_the_code())
    assert not unknown, f"docs/configuration.md describes keys nothing reads: {sorted(unknown)}"


def test_configuration_page_defaults_match_the_code() -> None:
    """A row's default is the code's, for the keys whose default is a plain value."""
    text = (DOCS / "configuration.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|", text, re.M))
    wrong = {}
    for key, value in defaults_dicts().items():
        if value is None or isinstance(value, (bool, int, str)):
            expected = f"`{value!r}`"
            if not rows[key].strip().startswith(expected):
                wrong[key] = (rows[key], expected)
    assert not wrong, f"defaults in docs/configuration.md differ from the code: {wrong}"


def test_the_key_patterns_find_what_they_should() -> None:
    sample = """
    app.config["A_KEY"]; config.get('B_KEY', 1); app.config.setdefault(
        "C_KEY", 2)
    if "D_KEY" in app.config: pass
    x = ConfigAttribute[timedelta](
        "E_KEY", get_converter=f)
    """
    found = {key for pattern in READ_PATTERNS for key in pattern.findall(sample)}
    assert found == {"A_KEY", "B_KEY", "C_KEY", "D_KEY", "E_KEY"}


# -- diagrams ----------------------------------------------------------------------------------

GRAPHVIZ = re.compile(r"^```\{graphviz\}\s+(\S+)", re.M)
DIAGRAMS = sorted((DOCS / "diagrams").glob("*.dot"))


def graphviz_uses() -> dict[Path, list[str]]:
    uses: dict[Path, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts:
            continue
        for name in GRAPHVIZ.findall(page.read_text("utf-8")):
            source = DOCS / name.lstrip("/") if name.startswith("/") else page.parent / name
            uses.setdefault(source.resolve(), []).append(str(page.relative_to(DOCS)))
    return uses


def test_graphviz_directives_name_existing_sources() -> None:
    missing = {str(p): pages for p, pages in graphviz_uses().items() if not p.exists()}
    assert not missing, missing


def test_every_diagram_is_shown_on_a_page() -> None:
    assert DIAGRAMS, "docs/diagrams has no .dot sources"
    used = graphviz_uses()
    unused = [p.name for p in DIAGRAMS if p.resolve() not in used]
    assert not unused, f"diagrams no page includes: {unused}"


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="needs Graphviz's dot (apt-get install graphviz)"
)
@pytest.mark.parametrize("source", DIAGRAMS, ids=[p.name for p in DIAGRAMS])
def test_diagram_renders(source: Path) -> None:
    done = subprocess.run(
        ["dot", "-Tsvg", str(source)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout
    assert not done.stderr.strip(), done.stderr  # warnings too: a misspelt attribute, say
