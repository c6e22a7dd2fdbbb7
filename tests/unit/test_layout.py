"""The batteries (``erlen.contrib``, ``erlen.middleware``) use only Erlen's public API.

They are written as a third-party extension would be, so that what they need is what an
extension can have. Ruff's banned-api rule (TID251, configured in ``pyproject.toml``)
rejects imports of the core's private names; this test checks the same for imports and
adds what a linter cannot see, attribute access:

* **Imports.** Importing a name that starts with ``_`` (dunders aside) from an ``erlen``
  module outside the battery's own package, or importing a private core module
  (``erlen._jinja``), fails. Relative imports are resolved first.
* **Attributes.** ``x._name`` fails unless ``_name`` is defined somewhere in the battery's
  own package: assigned (``self._x = ...``, ``cls._x``, ``obj._x = ...``, a module-level
  or class-level ``_x = ...``) or defined (``def _x``, ``class _X``). That allows a
  battery's own private attributes, on ``self`` or on instances of its classes, and
  rejects ``ctx._session`` or ``app._drive_sync``. Dunder names are allowed, and so are
  underscore names that are documented public API: the proxies' ``_get_current_object()``
  (Flask's way to reach the object behind ``current_app``) and named tuples' ``_replace``.

The rule is by name, not by type, so a battery could in theory shadow a core name it
defines itself; it is kept simple on purpose and catches what matters: reaching into the
core's internals.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "erlen"
PACKAGES = ("contrib", "middleware")

#: Underscore names that are documented public API: Flask's (and Erlen's) proxy method,
#: and the standard library's named tuples.
PUBLIC_UNDERSCORE = {
    "_get_current_object",
    "_replace",
    "_asdict",
    "_fields",
    "_field_defaults",
    "_make",
}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _defined_names(package: str) -> set[str]:
    """Every private name a battery package defines (see the module docstring)."""
    names: set[str] = set()
    for path in _modules(package):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {name for name in names if _is_private(name)}


def violations(path: Path, source: str, own_names: set[str]) -> list[str]:
    """The private core names ``source`` (the module at ``path``) uses."""
    package = _module_name(path).split(".")[:2]
    found: list[str] = []
    for node in ast.walk(ast.parse(source, str(path))):
        where = f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom):
            module = _resolve(path, node)
            if module.split(".")[:2] == package or module.split(".")[0] != "erlen":
                continue
            if any(_is_private(part) for part in module.split(".")):
                found.append(f"{where}: import from private module {module}")
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{where}: import of {module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                outside = parts[0] == "erlen" and parts[:2] != package
                if outside and any(_is_private(part) for part in parts):
                    found.append(f"{where}: import of private module {alias.name}")
        elif isinstance(node, ast.Attribute):
            name = node.attr
            if _is_private(name) and name not in own_names and name not in PUBLIC_UNDERSCORE:
                found.append(f"{where}: attribute {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_batteries_use_only_the_public_api(package: str) -> None:
    own = _defined_names(package)
    found = [v for path in _modules(package) for v in violations(path, path.read_text(), own)]
    assert not found, "private core names used by a battery:\n" + "\n".join(found)


def test_the_check_sees_violations() -> None:
    """The checker itself finds each kind of violation (and allows a battery's own names)."""
    path = SRC / "contrib" / "example.py"
    source = (
        "from ..globals import _cv_request\n"
        "from erlen.ctx import _AppCtxGlobals\n"
        "from erlen import _jinja\n"
        "import erlen._jinja\n"
        "from . import _own\n"
        "from ._own import _helper\n"
        "ctx._session\n"
        "self._mine\n"
        "obj.__class__\n"
        "parts._replace(query='')\n"
    )
    found = violations(path, source, {"_mine"})
    assert [v.split(": ", 1)[1] for v in found] == [
        "import of erlen.globals._cv_request",
        "import of erlen.ctx._AppCtxGlobals",
        "import of erlen._jinja",
        "import of private module erlen._jinja",
        "attribute ctx._session",
    ]


@pytest.mark.parametrize(
    ("filename", "module", "banned"),
    [
        ("src/erlen/contrib/example.py", "..globals", True),
        ("src/erlen/middleware/example.py", "erlen.globals", True),
        ("src/erlen/example.py", ".globals", False),  # the core itself
        ("tests/unit/example.py", "erlen.globals", False),
    ],
)
def test_ruff_bans_private_core_imports_in_batteries(
    filename: str, module: str, banned: bool
) -> None:
    """The TID251 setup in pyproject.toml applies to the batteries alone (relative imports too)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    source = f"from {module} import _cv_request\n\nprint(_cv_request)\n"
    result = subprocess.run(
        [ruff, "check", "--output-format", "concise", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=SRC.parents[1],
        check=False,
    )
    assert ("TID251" in result.stdout) is banned, result.stdout + result.stderr


def core_private_names() -> list[str]:
    """Every private name the core's modules hold, and its private modules, for ruff.

    ``pyproject.toml`` bans them in the batteries (TID251); print the table to paste
    there with ``python tests/unit/test_layout.py``. This test's import check does not
    depend on that list, so a name missing from it is still caught here.
    """
    import importlib
    import pkgutil

    import erlen

    names: list[str] = []
    modules = ["erlen"] + [m.name for m in pkgutil.walk_packages(erlen.__path__, "erlen.")]
    for module in modules:
        parts = module.split(".")
        if parts[:2] in (["erlen", p] for p in PACKAGES) or module == "erlen.__main__":
            continue
        if any(_is_private(part) for part in parts):
            names.append(module)
            continue
        names.extend(
            f"{module}.{name}"
            for name in vars(importlib.import_module(module))
            if _is_private(name)
        )
    return sorted(set(names))


if __name__ == "__main__":
    print("[tool.ruff.lint.flake8-tidy-imports.banned-api]")
    for name in core_private_names():
        print(f'"{name}".msg = "private to the core: batteries use its public API"')


# -- the doors and the core ------------------------------------------------------------------------

#: The doors: they reach the core through its documented door API only (``Request.from_values``,
#: ``Erlen.begin_request``, ``respond``/``respond_async``/``respond_in_thread``,
#: ``Response.outgoing`` ...), never through its private names.
DOORS = ("wsgi.py", "asgi.py", "websocket.py", "lifespan.py")


def _names_defined_in(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if _is_private(name)}


@pytest.mark.parametrize("door", DOORS)
def test_doors_use_only_the_core_api(door: str) -> None:
    path = SRC / door
    found = violations(path, path.read_text(), _names_defined_in(path))
    assert not found, "\n".join(found)


def _runtime_imports(path: Path) -> set[str]:
    """The erlen modules ``path`` imports when it is imported (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    modules = {_module_name(p) for p in SRC.rglob("*.py")}
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom):
            target = _resolve(path, node)
            if not target.startswith("erlen"):
                continue
            submodules = {f"{target}.{a.name}" for a in node.names} & modules
            found |= submodules or ({target} & modules)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & modules
    return found - {_module_name(path)}


def test_no_import_cycle_at_run_time() -> None:
    """Module-level imports among erlen's modules form no cycle (type-only ones may)."""
    graph = {_module_name(p): _runtime_imports(p) for p in SRC.rglob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for dep in sorted(graph.get(module, ())):
            assert dep not in path, "import cycle: " + " -> ".join([*path, dep])
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(module)

    for module in sorted(graph):
        visit(module, [module])
