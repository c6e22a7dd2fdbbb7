"""Sphinx configuration for Erlen's documentation site (``make docs``).

The pages are Markdown (MyST), so they still read well on a code host; the API reference
in ``api/`` is generated from the docstrings with autodoc. The build runs with ``-W -n``:
a warning, a broken cross-reference or a missing target fails it.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from pathlib import Path
from typing import Any, TypeVar

import erlen

project = "Erlen"
author = "The Erlen authors"
copyright = "the Erlen authors"
release = erlen.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinx.ext.graphviz",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_data",
    "screenshots",
    "diagrams/*.dot",
    "Thumbs.db",
    ".DS_Store",
]

# -- MyST ------------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
# Pages link to each other's sections as `page.md#section`, as they do on a code host.
myst_heading_anchors = 3
# Local links must resolve: a link to a missing page or section is a warning, hence an error.
myst_all_links_external = False

# -- autodoc ---------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Types go with each parameter's description, so signatures stay readable.
autodoc_typehints = "description"
autodoc_typehints_description_target = "all"
autodoc_preserve_defaults = True

# -- graphviz --------------------------------------------------------------------------------------
graphviz_output_format = "svg"

# -- cross-references ------------------------------------------------------------------------------
nitpicky = True
# Intersphinx is off (CI has no internet), so names from Python's own documentation and from
# other projects cannot resolve: they are shown as plain text. Each pattern is one such source.
_stdlib = "|".join(sorted(sys.stdlib_module_names))
_builtins = "|".join(name for name in dir(builtins) if not name.startswith("_"))
nitpick_ignore_regex = [
    # The standard library and builtins (``typing.Any``, ``str``, ``dict.update``, ``...``).
    (r"py:.*", rf"({_stdlib})(\..+)?"),
    (r"py:.*", rf"({_builtins})(\..+)?"),
    # Erlen's dependencies and optional dependencies, as they appear in signatures.
    (r"py:.*", r"(werkzeug|jinja2|markupsafe|click|itsdangerous|blinker)(\..+)?"),
    (r"py:.*", r"(sqlalchemy|redis|celery|kombu|pydantic|msgspec|argon2|orjson)(\..+)?"),
    # Names that exist only for type checkers: typeshed's WSGI types, and Werkzeug's
    # ``SansIOResponse`` (its sans-IO response base, imported under TYPE_CHECKING).
    (r"py:class", r"WSGIApp|WSGIEnvironment|StartResponse|SansIOResponse"),
    # Private helpers (a leading underscore) are not documented, by design.
    (r"py:.*", r"erlen(\.\w+)*\._\w+"),
]

# Docstrings name other objects briefly (``:class:`Response```, ``:meth:`Erlen.respond```), as
# they read best in the code. A reference that does not resolve as written is resolved here:
#
# - a name that matches exactly one documented object (an object and its canonical alias count
#   as one) links to it;
# - a type variable, or a name that one of the third-party packages above defines (a type hint
#   such as ``Headers`` that a module imports only for type checkers), is shown as plain text,
#   as the ignore list would show it;
# - the modules ``erlen.request`` and ``erlen.websocket`` link to their sections: the package
#   attributes of the same names are the ``request`` and ``websocket`` proxies, documented as
#   ``erlen.request`` and ``erlen.websocket``, so these modules are not declared as such.
#
# Anything else stays a warning, hence an error.

_THIRD_PARTY = ("werkzeug", "jinja2", "click", "itsdangerous", "sqlalchemy", "redis", "celery")
_SHADOWED_MODULES = {
    "erlen.request": ("api/requests", "erlen-request"),
    "erlen.websocket": ("api/realtime", "erlen-websocket"),
}
_third_party_names: set[str] = set()


def _is_third_party_name(name: str) -> bool:
    if not _third_party_names:
        for module_name, module in list(sys.modules.items()):
            if module is not None and module_name.split(".")[0] in _THIRD_PARTY:
                _third_party_names.update(vars(module))
    return name in _third_party_names


def _imports_of(module_name: str) -> dict[str, str]:
    """Map each name a module imports (type-checking imports included) to its origin."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return {}
    names = {}
    for node in ast.walk(ast.parse(Path(spec.origin).read_text("utf8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
    return names


def _resolve_short_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    from sphinx.util.nodes import make_refnode

    domain = env.get_domain("py")
    target = node["reftarget"].lstrip("~.")
    if node["reftype"] == "mod" and target in _SHADOWED_MODULES:
        docname, section = _SHADOWED_MODULES[target]
        return make_refnode(app.builder, node["refdoc"], docname, section, contnode, target)
    objtypes = domain.objtypes_for_role(node["reftype"]) or []
    found = {
        (entry.docname, entry.node_id): name
        for name, entry in domain.objects.items()
        if (name == target or name.endswith("." + target)) and entry.objtype in objtypes
    }
    if len(found) == 1:
        (docname, node_id), name = found.popitem()
        return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)
    if found:
        return None
    module_name, _, attr = target.rpartition(".")
    obj = None
    if module_name.startswith("erlen"):
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            pass
    if isinstance(obj, TypeVar) or (
        obj is None and node["reftype"] == "class" and len(attr) == 1 and attr.isupper()
    ):
        return contnode
    real = getattr(obj, "__module__", None)
    if isinstance(real, str) and real.split(".")[0] in _THIRD_PARTY:
        return contnode
    if obj is None and _is_third_party_name(attr):
        return contnode
    context = node.get("py:module")
    if context and node.get("py:class"):
        # A method's docstring: the class's own module holds its imports.
        owner = getattr(sys.modules.get(context), node["py:class"].split(".")[0], None)
        context = getattr(owner, "__module__", context)
    if context and not module_name.startswith("erlen"):
        origin = _imports_of(context).get(target.split(".")[0], "erlen")
        if origin.split(".")[0] != "erlen":
            return contnode
    return None


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_short_name)


# -- HTML ------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"Erlen {release}"
html_static_path: list[str] = []
