"""JSON helpers that follow the current app's provider (``erlen.json`` mirrors ``flask.json``).

Inside an app context each function delegates to ``current_app.json``;
outside one they use :mod:`json` with the default provider's ``default``.
"""

from __future__ import annotations

import json as _json
from typing import IO, TYPE_CHECKING, Any, AnyStr

from .provider import _COMPACT, DefaultJSONProvider, _Codec, _default, _loads

if TYPE_CHECKING:
    from contextvars import ContextVar

    from ..app import Erlen
    from ..ctx import AppContext
    from ..response import Response

# Without an app the functions behave like json.dumps(obj, default=_default, ...).
_codec = _Codec(_default, True, False)


_app_ctx_var: ContextVar[AppContext] | None = None


def _load_app_ctx_var() -> ContextVar[AppContext]:
    from ..globals import _cv_app

    return _cv_app


def _app() -> Erlen | None:
    # PERF: erlen.globals is imported on first use (it is not needed to load
    # this module) and kept; an import statement per call costs more than the
    # lookup itself.
    global _app_ctx_var
    var = _app_ctx_var
    if var is None:
        var = _app_ctx_var = _load_app_ctx_var()
    ctx = var.get(None)
    return None if ctx is None else ctx.app


_default_loads = DefaultJSONProvider.loads


def dumps(obj: Any, **kwargs: Any) -> str:
    """Serialize ``obj`` as a JSON string, with the current app's provider if any."""
    app = _app()
    if app is not None:
        return app.json.dumps(obj, **kwargs)
    return _codec.dumps(obj, kwargs)


def _dumps_flat(obj: dict[str, Any]) -> str:
    """``dumps(obj, separators=(",", ":"))`` for a dict of strings, ints, bools and None.

    What the session serializer writes for the usual session. PERF: with the default
    provider (its ``dumps`` not overridden) this goes straight to its encoder with
    no scan of the values; same output.
    """
    app = _app()
    if app is None:
        codec = _codec
    else:
        provider = app.json
        if getattr(provider, "_subclass_dumps", True) or "dumps" in provider.__dict__:
            # Not the default provider's dumps (another class's, or one set on the instance).
            return provider.dumps(obj, separators=_COMPACT)
        codec = provider._get_codec()  # type: ignore[attr-defined]
    return codec.encode_flat(obj)


def _loads_plain(s: str | bytes) -> Any:
    """``loads(s)``, straight to the parser when the app's provider parses as the default one."""
    app = _app()
    if app is not None:
        provider = app.json
        if type(provider).loads is not _default_loads or "loads" in provider.__dict__:
            return provider.loads(s)
    return _loads(s)


def dump(obj: Any, fp: IO[str], **kwargs: Any) -> None:
    """Serialize ``obj`` as JSON into the text file ``fp``."""
    app = _app()
    if app is not None:
        app.json.dump(obj, fp, **kwargs)
    else:
        kwargs.setdefault("default", _default)
        _json.dump(obj, fp, **kwargs)


def loads(s: str | bytes, **kwargs: Any) -> Any:
    """Deserialize JSON from text or UTF-8 bytes, with the current app's provider if any."""
    app = _app()
    if app is not None:
        return app.json.loads(s, **kwargs)
    return _loads(s, **kwargs)


def load(fp: IO[AnyStr], **kwargs: Any) -> Any:
    """Deserialize JSON read from the file ``fp``."""
    app = _app()
    if app is not None:
        return app.json.load(fp, **kwargs)
    return _loads(fp.read(), **kwargs)


def jsonify(*args: Any, **kwargs: Any) -> Response:
    """Return an ``application/json`` response for the arguments; needs an app context.

    Pass one value, several values (sent as a list) or keyword arguments (sent
    as an object), not both; with none, ``null`` is sent.
    """
    app = _app()
    if app is None:
        raise RuntimeError(
            "Working outside of application context: jsonify() needs the current app."
            " Call it inside a view, or push a context with app.app_context()."
        )
    return app.json.response(*args, **kwargs)


__all__ = ["dump", "dumps", "jsonify", "load", "loads"]
