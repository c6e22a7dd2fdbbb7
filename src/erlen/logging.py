"""The app's logger: named after the app, with a default handler to ``wsgi.errors``."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .globals import _cv_request

if TYPE_CHECKING:
    from .app import Erlen


class _ErrorsStream:
    """Write to the request's ``wsgi.errors`` stream, or to stderr outside a request."""

    def _get_current_object(self) -> TextIO:
        """The stream written to now (the name of Flask's proxy method)."""
        return self._target()

    def _target(self) -> TextIO:
        ctx = _cv_request.get(None)
        if ctx is not None:
            request = ctx.request
            # The WSGI environ; under ASGI, what the test client's door passed from its
            # environ (``errors_stream=``), without synthesising a whole environ.
            environ = request._environ
            if environ is None:
                environ = request._environ_extras()
            if environ is not None:
                stream: Any = environ.get("wsgi.errors")
                if stream is not None:
                    return stream  # type: ignore[no-any-return]
        return sys.stderr

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()


#: A stream that is the current request's ``wsgi.errors`` or ``sys.stderr``.
wsgi_errors_stream: Any = _ErrorsStream()


def has_level_handler(logger: logging.Logger) -> bool:
    """Tell whether a handler in the logger's hierarchy handles its effective level."""
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger
    while current:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False


#: The handler Erlen adds when nothing else would show the app's log records.
default_handler = logging.StreamHandler(wsgi_errors_stream)
default_handler.setFormatter(
    logging.Formatter("[%(asctime)s] %(levelname)s in %(module)s: %(message)s")
)


def create_logger(app: Erlen) -> logging.Logger:
    """Return the app's logger, at DEBUG level in debug mode, with a handler if needed."""
    logger = logging.getLogger(app.name)
    if app.debug and not logger.level:
        logger.setLevel(logging.DEBUG)
    if not has_level_handler(logger):
        logger.addHandler(default_handler)
    return logger


__all__ = ["create_logger", "default_handler", "has_level_handler", "wsgi_errors_stream"]
