"""The API reference documents every public name, and every public name has a docstring.

A module's public names are its ``__all__``, or else the names it defines at the top level
(functions, classes, assignments, ``import x as x`` re-exports) that do not start with ``_``.
Each must appear in the built site's inventory (``objects.inv``), under its own dotted name
or under another documented name of the same object (``erlen.Request`` covers
``erlen.request.Request``), and must carry documentation: a docstring, or for a value a
``#:`` comment where it is assigned (what autodoc shows).

The test reads ``docs/_build/html`` (``make docs``, which CI runs first); where that is
missing it builds the site into a temporary folder, bounded in time.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys
import types
import zlib
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 600  # seconds: a full build takes about a minute on a 2-core machine

#: The modules the reference documents (docs/api/*.md), each with its public names.
MODULES = [
    "erlen",
    "erlen.app",
    "erlen.asgi",
    "erlen.background",
    "erlen.blueprints",
    "erlen.cli",
    "erlen.concurrency",
    "erlen.config",
    "erlen.contrib",
    "erlen.contrib.auth",
    "erlen.contrib.caching",
    "erlen.contrib.celery",
    "erlen.contrib.csrf",
    "erlen.contrib.passwords",
    "erlen.contrib.ratelimit",
    "erlen.contrib.redis_hub",
    "erlen.contrib.redis_session",
    "erlen.contrib.sqlalchemy",
    "erlen.ctx",
    "erlen.debughelpers",
    "erlen.files",
    "erlen.flask_compat",
    "erlen.globals",
    "erlen.helpers",
    "erlen.hub",
    "erlen.json",
    "erlen.json.provider",
    "erlen.json.tag",
    "erlen.lifespan",
    "erlen.logging",
    "erlen.middleware",
    "erlen.middleware.cors",
    "erlen.middleware.debug",
    "erlen.middleware.proxy_fix",
    "erlen.middleware.security_headers",
    "erlen.request",
    "erlen.response",
    "erlen.routing",
    "erlen.scaffold",
    "erlen.sessions",
    "erlen.signals",
    "erlen.sse",
    "erlen.templating",
    "erlen.testing",
    "erlen.typed",
    "erlen.typing",
    "erlen.views",
    "erlen.websocket",
    "erlen.wrappers",
    "erlen.wsgi",
    "erlen.wsgi_bridge",
]

#: Modules whose public names their package re-exports and documents ("import the public
#: names from here"), or that hold no public names of their own.
IMPLEMENTATION_MODULES = {
    "erlen.flask_compat.sansio": "the alias package flask.sansio; no names of its own",
    "erlen.routing.adapter": "re-exported by erlen.routing",
    "erlen.routing.converters": "re-exported by erlen.routing",
    "erlen.routing.exceptions": "re-exported by erlen.routing",
    "erlen.routing.map": "re-exported by erlen.routing",
    "erlen.routing.matcher": "the trie behind erlen.routing.Map; no public names",
    "erlen.routing.compiled": "the trie walk generated as code for erlen.routing.Map; no public API",
    "erlen.routing.rules": "re-exported by erlen.routing",
    "erlen.typed.docs": "re-exported by erlen.typed",
    "erlen.typed.errors": "re-exported by erlen.typed",
    "erlen.typed.models": "the model adapters behind erlen.typed",
    "erlen.typed.openapi": "re-exported by erlen.typed",
    "erlen.typed.params": "re-exported by erlen.typed",
    "erlen.typed.view": "re-exported by erlen.typed",
}

#: Modules read from their source instead of imported: importing erlen.flask_compat turns
#: compat mode on for the whole process (``import flask`` would answer with Erlen).
NOT_IMPORTED = {"erlen.flask_compat"}

#: Modules shadowed by a package attribute of the same name (``erlen.request`` is the request
#: proxy), so the reference gives them a section rather than a module entry.
SHADOWED = {"erlen.request", "erlen.websocket"}


def source_path(name: str) -> Path:
    """The source file of a module of the erlen package, found without importing it."""
    base = ROOT / "src" / Path(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def module(name: str) -> types.ModuleType:
    """Import a module by name (``erlen.request`` the module, not the proxy)."""
    importlib.import_module(name)
    return sys.modules[name]


def public_names(name: str) -> list[str]:
    """``__all__``, else the names the module defines or re-exports with ``as``."""
    tree = ast.parse(source_path(name).read_text("utf8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [a.asname for a in node.names if a.asname == a.name.split(".")[-1]]
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def build_site(out: Path) -> None:
    """Build the site as ``make docs`` does (warnings are errors) into ``out``."""
    cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html"]
    proc = subprocess.run(
        [*cmd, str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"the docs build failed:\n{proc.stderr[-6000:]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site: docs/_build/html, or a fresh build when there is none."""
    built = ROOT / "docs" / "_build" / "html"
    if (built / "objects.inv").exists() and not os.environ.get("ERLEN_DOCS_REBUILD"):
        return built
    out = tmp_path_factory.mktemp("docs-html")
    build_site(out)
    return out


def read_inventory(path: Path) -> dict[str, str]:
    """``objects.inv`` as {name: "domain:role"} (format: 4 header lines, then zlib)."""
    data = path.read_bytes()
    for _ in range(4):
        data = data[data.index(b"\n") + 1 :]
    entries: dict[str, str] = {}
    for line in zlib.decompress(data).decode().splitlines():
        name, role, _rest = line.split(" ", 2)
        entries.setdefault(name, role)
    return entries


_MISSING: Any = object()


def resolve(dotted: str) -> Any:
    """The object a documented dotted name stands for, or _MISSING.

    Attributes win over submodules of the same name, as for ``erlen.request`` (the proxy);
    a name below a proxy (``erlen.request.Request``) is looked up in the module instead.
    """
    parts = dotted.split(".")
    obj: Any = sys.modules.get(parts[0], _MISSING)
    for i, part in enumerate(parts[1:], 2):
        try:
            obj = getattr(obj, part)
        except Exception:  # a proxy outside its context, or a module not imported yet
            obj = sys.modules.get(".".join(parts[:i]), _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


@cache
def attribute_docs(name: str) -> dict[str, str]:
    """The ``#:`` comments (or strings) under top-level assignments of a module."""
    from sphinx.pycode import ModuleAnalyzer

    docs = ModuleAnalyzer.for_file(str(source_path(name)), name).find_attr_docs()
    return {attr: "".join(lines).strip() for (scope, attr), lines in docs.items() if not scope}


def documentation(mod_name: str, name: str, obj: Any) -> str:
    """What autodoc would show for ``mod_name.name``."""
    if isinstance(obj, click.Command):
        return obj.help or ""
    if inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj):
        doc = (obj.__doc__ or "").strip()
        if doc or not inspect.isroutine(obj):
            return doc
    # A value (or a function made by a factory): its #: comment, where it is assigned.
    for candidate in [mod_name, *MODULES, *IMPLEMENTATION_MODULES]:
        if (
            candidate.startswith(tuple(NOT_IMPORTED))
            or getattr(module(candidate), name, _MISSING) is not obj
        ):
            continue
        if attribute_docs(candidate).get(name):
            return attribute_docs(candidate)[name]
    return ""


def source_documentation(mod_name: str, name: str) -> str:
    """What autodoc would show for a name of a module that is read, not imported."""
    for node in ast.parse(source_path(mod_name).read_text("utf8")).body:
        defines = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if defines and node.name == name:
            return ast.get_docstring(node) or ""
    return attribute_docs(mod_name).get(name, "")


def test_every_module_is_in_the_reference_or_explained() -> None:
    src = ROOT / "src"
    found = {
        ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for path in (src / "erlen").rglob("*.py")
    }
    found = {m for m in found if not any(part.startswith("_") for part in m.split("."))}
    unlisted = sorted(found - set(MODULES) - set(IMPLEMENTATION_MODULES))
    assert not unlisted, f"add these modules to docs/api/ and to MODULES: {unlisted}"
    gone = sorted((set(MODULES) | set(IMPLEMENTATION_MODULES)) - found)
    assert not gone, f"modules listed here that no longer exist: {gone}"


def test_every_public_name_is_documented(site: Path) -> None:
    inventory = read_inventory(site / "objects.inv")
    by_last: dict[str, list[str]] = {}
    for name in inventory:
        by_last.setdefault(name.rpartition(".")[2], []).append(name)

    missing_modules = [m for m in MODULES if m not in SHADOWED and inventory.get(m) != "py:module"]
    undocumented: list[str] = []
    no_docstring: list[str] = []
    for mod_name in MODULES:
        if mod_name in NOT_IMPORTED:
            for name in public_names(mod_name):
                if f"{mod_name}.{name}" not in inventory:
                    undocumented.append(f"{mod_name}.{name}")
                if not source_documentation(mod_name, name):
                    no_docstring.append(f"{mod_name}.{name}")
            continue
        mod = module(mod_name)
        for name in public_names(mod_name):
            obj = getattr(mod, name)
            if isinstance(obj, TypeVar):
                continue  # type variables are notation in signatures, not API
            dotted = f"{mod_name}.{name}"
            if dotted not in inventory and not any(
                resolve(other) is obj for other in by_last.get(name, [])
            ):
                undocumented.append(dotted)
            if not documentation(mod_name, name, obj):
                no_docstring.append(dotted)
    assert not missing_modules, f"modules without a reference entry: {missing_modules}"
    assert not undocumented, f"public names missing from the reference: {undocumented}"
    assert not no_docstring, f"public names without a docstring: {no_docstring}"


def test_the_reference_has_signatures_and_types(site: Path) -> None:
    """A newcomer looks up url_for: the page shows its signature and its parameters' types."""
    page = (site / "api" / "erlen.html").read_text("utf8")
    assert 'id="erlen.url_for"' in page
    entry = page[page.index('id="erlen.url_for"') :][:6000]
    assert "endpoint" in entry and "str" in entry
