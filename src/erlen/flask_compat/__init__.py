"""Opt-in: make ``import flask`` (and every ``flask.*`` module) answer with Erlen's objects.

Three ways to turn it on, for a whole process:

- ``import erlen.flask_compat`` before anything imports ``flask``;
- ``ERLEN_FLASK_COMPAT=1`` in the environment (a start-up hook installed with Erlen
  imports this module when the variable is set, and does nothing otherwise);
- ``python -m pytest -p erlen.flask_compat`` for a test suite.

After that, ``flask.Flask is erlen.Erlen``, ``flask.globals is erlen.globals`` and so on,
also inside extensions, and also when the real Flask distribution is installed: Flask's
modules are never imported. Every ``flask.*`` module is the Erlen module itself; ``flask``
is a package of its own holding Erlen's top-level names (so that ``flask.__version__`` is
Flask's, as extensions that check it expect, while ``erlen.__version__`` stays Erlen's).
Nothing changes on Erlen's request path; the aliases are module objects in
:data:`sys.modules`.

PYTEST_DONT_REWRITE: this marker tells pytest not to rewrite (nor warn about) this module
when ``-p erlen.flask_compat`` names it after the start-up hook already imported it, so
suites that turn warnings into errors run with both switches on.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import types
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

#: The Flask version whose public API Erlen follows; reported as ``flask``'s version when
#: the real Flask distribution is not installed.
FLASK_API_VERSION = "3.1.3"

#: ``flask`` module name -> the Erlen module that answers for it.
MODULES: dict[str, str] = {
    "flask": "erlen",
    "flask.app": "erlen.app",
    "flask.blueprints": "erlen.blueprints",
    "flask.cli": "erlen.cli",
    "flask.config": "erlen.config",
    "flask.ctx": "erlen.ctx",
    "flask.debughelpers": "erlen.debughelpers",
    "flask.globals": "erlen.globals",
    "flask.helpers": "erlen.helpers",
    "flask.json": "erlen.json",
    "flask.json.provider": "erlen.json.provider",
    "flask.json.tag": "erlen.json.tag",
    "flask.logging": "erlen.logging",
    "flask.sansio": "erlen.flask_compat.sansio",
    "flask.sansio.app": "erlen.app",
    "flask.sansio.blueprints": "erlen.blueprints",
    "flask.sansio.scaffold": "erlen.scaffold",
    "flask.sessions": "erlen.sessions",
    "flask.signals": "erlen.signals",
    "flask.templating": "erlen.templating",
    "flask.testing": "erlen.testing",
    "flask.typing": "erlen.typing",
    "flask.views": "erlen.views",
    "flask.wrappers": "erlen.wrappers",
}

#: Names Flask's modules have under another name (or from another module) in Erlen, as
#: ``"module:attribute"``. They are set on the Erlen module when its alias is first imported,
#: and only where the Erlen module has no attribute of that name.
FLASK_NAMES: dict[str, dict[str, str]] = {
    "flask": {"Flask": "erlen:Erlen"},
    "flask.app": {
        "Flask": "erlen:Erlen",
        "App": "erlen:Erlen",
        "current_app": "erlen.globals:current_app",
        "g": "erlen.globals:g",
        "request": "erlen.globals:request",
        "session": "erlen.globals:session",
        "request_ctx": "erlen.globals:request_ctx",
    },
    "flask.sansio.app": {"App": "erlen:Erlen", "Flask": "erlen:Erlen"},
    "flask.blueprints": {
        "SansioBlueprint": "erlen:Blueprint",
        "current_app": "erlen.globals:current_app",
    },
    "flask.sansio.blueprints": {"Blueprint": "erlen:Blueprint"},
    "flask.ctx": {
        "appcontext_popped": "erlen.signals:appcontext_popped",
        "appcontext_pushed": "erlen.signals:appcontext_pushed",
    },
    "flask.globals": {"LocalProxy": "werkzeug.local:LocalProxy"},
    "flask.helpers": {
        "request": "erlen.globals:request",
        "request_ctx": "erlen.globals:request_ctx",
        "message_flashed": "erlen.signals:message_flashed",
    },
    "flask.json": {"current_app": "erlen.globals:current_app"},
    "flask.logging": {"request": "erlen.globals:request"},
    "flask.sessions": {
        "BadSignature": "itsdangerous:BadSignature",
        "URLSafeTimedSerializer": "itsdangerous:URLSafeTimedSerializer",
        "CallbackDict": "werkzeug.datastructures:CallbackDict",
    },
    "flask.templating": {
        "request": "erlen.globals:request",
        "TemplateNotFound": "jinja2:TemplateNotFound",
        "Template": "jinja2:Template",
        "BaseLoader": "jinja2:BaseLoader",
        "BaseEnvironment": "jinja2:Environment",
        "stream_with_context": "erlen:stream_with_context",
    },
    "flask.testing": {
        "FlaskClient": "erlen.testing:ErlenClient",
        "FlaskCliRunner": "erlen.testing:ErlenCliRunner",
        "ScriptInfo": "erlen.cli:ScriptInfo",
        "Client": "werkzeug.test:Client",
    },
    "flask.wrappers": {
        "BadRequest": "werkzeug.exceptions:BadRequest",
        "HTTPException": "werkzeug.exceptions:HTTPException",
        "current_app": "erlen.globals:current_app",
    },
}

#: The aliases that have submodules.
_PACKAGES = frozenset({"flask", "flask.json", "flask.sansio"})

#: Submodules that ``import flask`` loads, so that ``flask.cli.AppGroup`` and the like work
#: without importing them by name (the rest are loaded by ``import erlen`` already).
_LOADED_WITH_FLASK = (
    "flask.cli",
    "flask.logging",
    "flask.sansio",
    "flask.sansio.app",
    "flask.sansio.blueprints",
    "flask.sansio.scaffold",
    "flask.sessions",
    "flask.typing",
    "flask.wrappers",
)

#: Set in the environment to turn compat mode on for a process tree.
ENV_VAR = "ERLEN_FLASK_COMPAT"


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _add_flask_names(flask_name: str, module: types.ModuleType) -> None:
    for name, ref in FLASK_NAMES.get(flask_name, {}).items():
        if name not in module.__dict__:
            setattr(module, name, _resolve(ref))


def _flask_package(erlen: types.ModuleType) -> types.ModuleType:
    """The ``flask`` package in compat mode: Erlen's top-level names, and Flask's version.

    Its namespace starts as a copy of ``erlen``'s (reading ``flask.request`` costs what
    reading ``erlen.request`` does); a name ``erlen`` gains later is read through. Setting
    a name on ``flask`` (``monkeypatch.setattr(flask, ...)``) changes what readers of
    ``flask.name`` see, as it does with the real Flask.
    """
    package = types.ModuleType("flask", erlen.__doc__)
    package.__dict__.update(
        (name, value)
        for name, value in vars(erlen).items()
        if not (name.startswith("__") and name.endswith("__"))
    )
    package.__path__ = []  # a package: the alias finder answers for its submodules
    package.__erlen_compat__ = True  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:
        if name == "__version__":
            warnings.warn(
                "flask.__version__ is deprecated since Flask 3.1 (and answered by Erlen in"
                " compat mode): use importlib.metadata.version('flask')",
                DeprecationWarning,
                stacklevel=2,
            )
            return importlib.metadata.version("flask")
        return getattr(erlen, name)

    def __dir__() -> list[str]:
        return sorted(set(vars(package)) | set(dir(erlen)))

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    package.__dir__ = __dir__  # type: ignore[method-assign]
    return package


class _AliasLoader(importlib.abc.Loader):
    """Loads ``flask.x`` by importing the Erlen module that answers for it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._own_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self.target)
        if spec.name == "flask":
            module = _flask_package(module)
        else:
            self._own_spec = module.__spec__
        _add_flask_names(spec.name, module)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the Erlen module is already imported.

        The import system has just set ``module.__spec__`` to the alias's spec; an Erlen
        module keeps its own (its relative imports, ``importlib.reload`` and pickling use
        it), while the ``flask`` package keeps the alias's.
        """
        if module.__name__ != "flask":
            module.__spec__ = self._own_spec
            return
        # ``flask`` is now in sys.modules, so its submodules' aliases can load; importing
        # each sets it on the package, as ``import flask`` does with Flask's own.
        for name in _LOADED_WITH_FLASK:
            importlib.import_module(name)


class FlaskAliasFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that answers ``flask`` and ``flask.*`` with Erlen's modules."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "flask" and not fullname.startswith("flask."):
            return None
        if fullname == "flask.__main__":
            main = os.path.join(os.path.dirname(__file__), "_main.py")
            spec: importlib.machinery.ModuleSpec | None
            spec = importlib.util.spec_from_file_location(fullname, main)
            return spec
        erlen_name = MODULES.get(fullname)
        if erlen_name is None:
            # A module Flask does not document (or does not have): say so by name
            # instead of falling through to the real Flask package.
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: Erlen answers for Flask's documented modules"
                f" ({', '.join(sorted(MODULES))}) in compat mode",
                name=fullname,
            )
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(erlen_name), is_package=fullname in _PACKAGES
        )

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> Iterable[importlib.metadata.Distribution]:
        """Report a ``flask`` distribution when the real one is not installed."""
        if context is None:
            context = importlib.metadata.DistributionFinder.Context()
        if context.name is None or context.name.lower().replace("-", "_") != "flask":
            return []
        real = importlib.metadata.MetadataPathFinder.find_distributions(context)
        if next(iter(real), None) is not None:
            return []
        return [_FlaskDistribution()]


class _FlaskDistribution(importlib.metadata.Distribution):
    """Metadata for ``flask`` when only Erlen is installed (Erlen answers for it)."""

    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            return (
                "Metadata-Version: 2.1\nName: Flask\n"
                f"Version: {FLASK_API_VERSION}\n"
                "Summary: Provided by Erlen (erlen.flask_compat)\n"
            )
        return None

    def locate_file(self, path: Any) -> Any:
        return os.path.join(os.path.dirname(__file__), str(path))


_finder = FlaskAliasFinder()


def is_active() -> bool:
    """Whether compat mode is on in this process."""
    return _finder in sys.meta_path


def flask_module_name(name: str) -> str:
    """The ``flask`` module that the Erlen module *name* answers for, or *name* if none does."""
    for flask_name, erlen_name in MODULES.items():
        if erlen_name == name:
            return flask_name
    return name


def activate() -> None:
    """Turn compat mode on for this process (importing this module already does).

    Raises :class:`RuntimeError` when the real Flask is already imported: objects made
    from it would mix with Erlen's, so compat mode must start before the first
    ``import flask``.
    """
    if is_active():
        return
    real = sys.modules.get("flask")
    if real is not None and not getattr(real, "__erlen_compat__", False):
        raise RuntimeError(
            "erlen.flask_compat must be imported before flask: the real Flask is already"
            f" imported (from {getattr(real, '__file__', '?')}). Import erlen.flask_compat"
            " first, set ERLEN_FLASK_COMPAT=1, or run pytest with -p erlen.flask_compat."
        )
    sys.meta_path.insert(0, _finder)


def env_requests_compat(environ: Any = os.environ) -> bool:
    """Whether ``ERLEN_FLASK_COMPAT`` asks for compat mode (``1``, ``true``, ``yes``, ``on``)."""
    return str(environ.get(ENV_VAR, "")).strip().lower() in {"1", "true", "yes", "on"}


def pytest_report_header(config: Any) -> str:
    """Say in pytest's header that the suite runs on Erlen (``-p erlen.flask_compat``)."""
    door = os.environ.get("ERLEN_TEST_DOOR", "wsgi")
    return f"erlen.flask_compat: flask is erlen (test client door: {door})"


activate()

__all__ = [
    "ENV_VAR",
    "FLASK_API_VERSION",
    "FLASK_NAMES",
    "MODULES",
    "FlaskAliasFinder",
    "activate",
    "env_requests_compat",
    "flask_module_name",
    "is_active",
]
