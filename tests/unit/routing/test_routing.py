"""Tests for the erlen.routing package itself: its public names and its modules' layering."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import werkzeug.exceptions

import erlen.routing

PACKAGE = Path(erlen.routing.__file__).resolve().parent
SRC = PACKAGE.parent

#: The public names of erlen.routing when it was one module; each must stay importable.
PUBLIC = [
    "DEFAULT_CONVERTERS",
    "AnyConverter",
    "BaseConverter",
    "BuildError",
    "FloatConverter",
    "IntegerConverter",
    "Map",
    "MethodNotAllowed",
    "NotFound",
    "PathConverter",
    "RequestRedirect",
    "RoutingException",
    "Rule",
    "UUIDConverter",
    "UnicodeConverter",
    "ValidationError",
]

#: Public names added since: Werkzeug's MapAdapter API.
ADDED = ["MapAdapter"]

#: The package's modules in import order: each imports at run time only modules before it.
LAYERS = ["exceptions", "converters", "rules", "matcher", "compiled", "adapter", "map"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    """The module an ``import from`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _names_imported_from_routing() -> set[str]:
    """Every name a module of erlen outside erlen.routing imports from erlen.routing."""
    names: set[str] = set()
    for path in sorted(SRC.rglob("*.py")):
        if path.is_relative_to(PACKAGE):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and _absolute(path, node) == "erlen.routing":
                names.update(alias.name for alias in node.names)
    return names


def _runtime_imports(path: Path) -> set[str]:
    """The sibling modules ``path`` imports at module level (so not under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module)
    return found


def test_public_names_are_kept() -> None:
    assert sorted(erlen.routing.__all__) == sorted(PUBLIC + ADDED)
    assert len(set(erlen.routing.__all__)) == len(erlen.routing.__all__)


@pytest.mark.parametrize("name", PUBLIC + ADDED)
def test_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from erlen.routing import {name}", namespace)
    assert namespace[name] is getattr(erlen.routing, name)


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from erlen.routing import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC + ADDED)


def test_werkzeug_http_errors_are_werkzeugs_own() -> None:
    assert erlen.routing.NotFound is werkzeug.exceptions.NotFound
    assert erlen.routing.MethodNotAllowed is werkzeug.exceptions.MethodNotAllowed


def test_names_erlen_imports_from_routing_resolve() -> None:
    names = _names_imported_from_routing()
    # The scan must see the imports app.py and request.py are known to make.
    assert {"BuildError", "Map", "RequestRedirect", "Rule"} <= names
    missing = sorted(name for name in names if not hasattr(erlen.routing, name))
    assert not missing, f"erlen.routing no longer provides {missing}"


def test_modules_import_only_earlier_modules() -> None:
    assert sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__") == sorted(LAYERS)
    for index, module in enumerate(LAYERS):
        later = _runtime_imports(PACKAGE / f"{module}.py") - set(LAYERS[:index])
        assert not later, f"erlen.routing.{module} imports {sorted(later)} at run time"
