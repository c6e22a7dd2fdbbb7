"""Application configuration: a dict with loaders, and the attributes that forward to it."""

from __future__ import annotations

import errno
import json
import os
import types
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import IO, Any, Generic, Protocol, TypeVar, overload

from werkzeug.datastructures import ImmutableDict
from werkzeug.utils import import_string

from .globals import flask_compat_active

T = TypeVar("T")

#: Configuration every app starts from: Flask 3.1's defaults plus Erlen's own keys.
DEFAULT_CONFIG: ImmutableDict[str, Any] = ImmutableDict(
    {
        "DEBUG": None,
        "TESTING": False,
        "PROPAGATE_EXCEPTIONS": None,
        "SECRET_KEY": None,
        "SECRET_KEY_FALLBACKS": None,
        "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
        "USE_X_SENDFILE": False,
        "TRUSTED_HOSTS": None,
        "SERVER_NAME": None,
        "APPLICATION_ROOT": "/",
        "SESSION_COOKIE_NAME": "session",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_PATH": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": False,
        "SESSION_COOKIE_PARTITIONED": False,
        "SESSION_COOKIE_SAMESITE": None,
        "SESSION_REFRESH_EACH_REQUEST": True,
        "MAX_CONTENT_LENGTH": None,
        "MAX_FORM_MEMORY_SIZE": 500_000,
        "MAX_FORM_PARTS": 1_000,
        "SEND_FILE_MAX_AGE_DEFAULT": None,
        "TRAP_BAD_REQUEST_ERRORS": None,
        "TRAP_HTTP_EXCEPTIONS": False,
        "EXPLAIN_TEMPLATE_LOADING": False,
        "PREFERRED_URL_SCHEME": "http",
        "TEMPLATES_AUTO_RELOAD": None,
        "MAX_COOKIE_SIZE": 4093,
        "PROVIDE_AUTOMATIC_OPTIONS": True,
        # Under ASGI a request body is kept in memory up to this many bytes,
        # then spooled to a temporary file.
        "ASGI_BODY_SPOOL_SIZE": 1024 * 1024,
        # Worker threads for sync views under ASGI; None lets the pool decide.
        "ASGI_THREADPOOL_SIZE": None,
    }
)

# Errors that mean "there is no such file", which ``silent=True`` ignores.
_MISSING_FILE = (errno.ENOENT, errno.EISDIR, errno.ENOTDIR)


class _HasConfig(Protocol):
    # Any rather than Config: type checkers see a TypedErlen's config as a TypedDict.
    @property
    def config(self) -> Any: ...


class ConfigAttribute(Generic[T]):
    """Forward an attribute to a config key: ``secret_key = ConfigAttribute("SECRET_KEY")``.

    ``get_converter``, if given, converts the stored value on each read.
    """

    def __init__(self, name: str, get_converter: Callable[[Any], T] | None = None) -> None:
        """Forward to the config key ``name``."""
        self.__name__ = name
        self.get_converter = get_converter

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> ConfigAttribute[T]: ...

    @overload
    def __get__(self, obj: _HasConfig, owner: type[Any] | None = None) -> T: ...

    def __get__(
        self, obj: _HasConfig | None, owner: type[Any] | None = None
    ) -> T | ConfigAttribute[T]:
        if obj is None:
            return self
        value = obj.config[self.__name__]
        if self.get_converter is not None:
            return self.get_converter(value)
        return value  # type: ignore[no-any-return]

    def __set__(self, obj: _HasConfig, value: Any) -> None:
        obj.config[self.__name__] = value


class Config(dict[str, Any]):
    """A dict of settings that can also be filled from files, objects and the environment.

    Only upper-case keys are loaded from files and objects, so a config module
    may use lower-case names for its own helpers. Relative file names are
    resolved against ``root_path``, the app's root path for ``app.config``.
    """

    #: Counts the changes made to this config (see :attr:`version`).
    _version = 0

    def __init__(
        self, root_path: str | os.PathLike[str], defaults: Mapping[str, Any] | None = None
    ) -> None:
        """Create the config, copying ``defaults`` into it."""
        super().__init__(defaults or {})
        self.root_path = root_path
        self._version = 0

    @property
    def version(self) -> int:
        """A number that changes whenever a key is set, replaced or removed.

        What the app works out from its settings once (which URLs it may match by
        path alone) is kept only while the version is the one it was worked out at.
        Writes made with ``dict``'s own methods called on the config
        (``dict.__setitem__(config, ...)``) are not counted.
        """
        return self._version

    # Every way of changing a dict counts a change; reads are dict's own.
    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._version += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._version += 1

    def __ior__(self, other: Any) -> Config:  # type: ignore[override,misc]
        super().__ior__(other)
        self._version += 1
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Update from a mapping or pairs and keyword arguments, as :meth:`dict.update`."""
        super().update(*args, **kwargs)
        self._version += 1

    # The count goes up after the change: whatever was worked out from the settings
    # while a change was under way carries the old count, and is dropped.
    def setdefault(self, key: str, default: Any = None) -> Any:
        """Return ``self[key]``, setting it to ``default`` first when missing."""
        missing = key not in self
        value = super().setdefault(key, default)
        if missing:
            self._version += 1
        return value

    def pop(self, key: str, *default: Any) -> Any:
        """Remove ``key`` and return its value (or ``default``), as :meth:`dict.pop`."""
        value = super().pop(key, *default)
        self._version += 1
        return value

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last item, as :meth:`dict.popitem`."""
        item = super().popitem()
        self._version += 1
        return item

    def clear(self) -> None:
        """Remove every key."""
        super().clear()
        self._version += 1

    def from_envvar(self, variable_name: str, silent: bool = False) -> bool:
        """Load the Python file named by the environment variable ``variable_name``.

        Raise ``RuntimeError`` if it is unset or empty, unless ``silent``; return
        whether a file was loaded.
        """
        path = os.environ.get(variable_name)
        if not path:
            if silent:
                return False
            raise RuntimeError(
                f"The environment variable {variable_name!r} is not set, so no configuration"
                " could be loaded from it. Set it to the path of a configuration file."
            )
        return self.from_pyfile(path, silent=silent)

    def from_prefixed_env(
        self, prefix: str | None = None, *, loads: Callable[[str], Any] = json.loads
    ) -> bool:
        """Load environment variables named ``{prefix}_KEY`` into ``KEY``.

        The default prefix is ``ERLEN``; in Flask compat mode (:mod:`erlen.flask_compat`,
        where the app's code is Flask code run unchanged) it is ``FLASK``, as Flask's is,
        so a ported app keeps reading the ``FLASK_*`` variables its deployment sets. Only
        one prefix is read: pass ``prefix`` to choose another.

        Each value is passed through ``loads`` (JSON by default) and kept as a
        string if that fails. ``__`` in a name sets a key in a nested dict,
        creating missing dicts: ``ERLEN_DB__HOST`` sets ``config["DB"]["HOST"]``.
        Variables are applied in sorted order. Always return True.
        """
        if prefix is None:
            prefix = "FLASK" if flask_compat_active() else "ERLEN"
        start = f"{prefix}_"
        for name in sorted(os.environ):
            if not name.startswith(start):
                continue
            raw = os.environ[name]
            try:
                value = loads(raw)
            except Exception:
                value = raw
            *parents, leaf = name[len(start) :].split("__")
            target: Any = self
            for part in parents:
                if part not in target:
                    target[part] = {}
                target = target[part]
            target[leaf] = value
        return True

    def from_pyfile(self, filename: str | os.PathLike[str], silent: bool = False) -> bool:
        """Run a Python file as a module and load its upper-case names.

        ``filename`` may be absolute or relative to ``root_path``. With
        ``silent`` a missing file returns False; other errors name the file.
        """
        path = os.path.join(self.root_path, filename)
        module = types.ModuleType("config")
        module.__file__ = path
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError as e:
            if silent and e.errno in _MISSING_FILE:
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        exec(compile(source, path, "exec"), module.__dict__)
        self.from_object(module)
        return True

    def from_object(self, obj: object | str) -> None:
        """Load the upper-case attributes of a module, class or object.

        A string is imported first (``"app.settings.Production"``). Mappings
        are not read by key; use :meth:`from_mapping` for them.
        """
        if isinstance(obj, str):
            obj = import_string(obj)
        for key in dir(obj):
            if key.isupper():
                self[key] = getattr(obj, key)

    def from_file(
        self,
        filename: str | os.PathLike[str],
        load: Callable[[IO[Any]], Mapping[str, Any]],
        silent: bool = False,
        text: bool = True,
    ) -> bool:
        """Load a data file with ``load`` and pass the mapping to :meth:`from_mapping`.

        ``app.config.from_file("config.json", load=json.load)``, or for TOML
        ``app.config.from_file("config.toml", load=tomllib.load, text=False)``.
        With ``silent`` a missing file returns False.
        """
        path = os.path.join(self.root_path, filename)
        try:
            with open(path, "r" if text else "rb") as f:
                data = load(f)
        except OSError as e:
            if silent and e.errno in _MISSING_FILE:
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        return self.from_mapping(data)

    def from_mapping(self, mapping: Mapping[str, Any] | None = None, **kwargs: Any) -> bool:
        """Update the config like :meth:`dict.update`, skipping keys that are not upper-case.

        Always return True.
        """
        items: dict[str, Any] = {}
        if mapping is not None:
            items.update(mapping)
        items.update(kwargs)
        for key, value in items.items():
            if key.isupper():
                self[key] = value
        return True

    def get_namespace(
        self, namespace: str, lowercase: bool = True, trim_namespace: bool = True
    ) -> dict[str, Any]:
        """Return the settings whose keys start with ``namespace``.

        ``get_namespace("IMAGE_STORE_")`` turns ``IMAGE_STORE_PATH`` into
        ``path``; keep the prefix with ``trim_namespace=False`` and the case
        with ``lowercase=False``.
        """
        cut = len(namespace) if trim_namespace else 0
        rv: dict[str, Any] = {}
        for key, value in self.items():
            if key.startswith(namespace):
                name = key[cut:]
                rv[name.lower() if lowercase else name] = value
        return rv

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict.__repr__(self)}>"


__all__ = ["DEFAULT_CONFIG", "Config", "ConfigAttribute"]
