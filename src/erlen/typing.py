"""Type aliases for views, hooks and handlers (the names of ``flask.typing``), and typed ``g`` and config."""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar, Union, cast

from .config import Config
from .ctx import _AppCtxGlobals
from .globals import current_app as _current_app
from .globals import g as _g

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

    from .app import Erlen
    from .response import Response

#: What a view may return as the body.
ResponseValue = Union[
    "Response",
    str,
    bytes,
    list[Any],
    Mapping[str, Any],
    Iterator[str],
    Iterator[bytes],
    Iterable[str],
    Iterable[bytes],
    AsyncIterable[str],
    AsyncIterable[bytes],
]
#: A single header value.
HeaderValue = Union[str, list[str], tuple[str, ...]]
#: Headers as a view may return them.
HeadersValue = Union[
    "Headers",
    Mapping[str, HeaderValue],
    Sequence[tuple[str, HeaderValue]],
]
#: Everything a view may return, including ``(body, status, headers)`` tuples.
ResponseReturnValue = Union[
    ResponseValue,
    tuple[ResponseValue, HeadersValue],
    tuple[ResponseValue, int],
    tuple[ResponseValue, int, HeadersValue],
    Callable[..., Any],
]
#: The type of ``app.response_class``.
ResponseClass = type["Response"]
#: The key of a registration dict: a blueprint name, or None for the app.
AppOrBlueprintKey = Union[str, None]

#: An ``after_request`` function: takes the response and returns one.
AfterRequestCallable = Union[
    Callable[[Any], Any],
    Callable[[Any], Awaitable[Any]],
]
#: A function run once before the first request (Flask's old hook's type).
BeforeFirstRequestCallable = Union[Callable[[], None], Callable[[], Awaitable[None]]]
#: A ``before_request`` function: returns ``None`` to go on, or a response to stop.
BeforeRequestCallable = Union[
    Callable[[], ResponseReturnValue | None],
    Callable[[], Awaitable[ResponseReturnValue | None]],
]
#: A ``shell_context_processor``: returns names for ``erlen shell``.
ShellContextProcessorCallable = Callable[[], dict[str, Any]]
#: A ``teardown_request``/``teardown_appcontext`` function: takes the error or ``None``.
TeardownCallable = Union[
    Callable[[BaseException | None], None],
    Callable[[BaseException | None], Awaitable[None]],
]
#: A ``context_processor``: returns names to add to every template's context.
TemplateContextProcessorCallable = Union[
    Callable[[], dict[str, Any]],
    Callable[[], Awaitable[dict[str, Any]]],
]
#: A Jinja filter registered with ``template_filter``.
TemplateFilterCallable = Callable[..., Any]
#: A Jinja global function registered with ``template_global``.
TemplateGlobalCallable = Callable[..., Any]
#: A Jinja test registered with ``template_test``; returns a bool.
TemplateTestCallable = Callable[..., bool]
#: A ``url_defaults`` function: fills in values for ``url_for(endpoint, **values)``.
URLDefaultCallable = Callable[[str, dict[str, Any]], None]
#: A ``url_value_preprocessor``: takes the endpoint and the matched values.
URLValuePreprocessorCallable = Callable[[str | None, dict[str, Any] | None], None]
#: An ``errorhandler`` function: takes the error, returns a response value.
ErrorHandlerCallable = Union[
    Callable[[Any], ResponseReturnValue],
    Callable[[Any], Awaitable[ResponseReturnValue]],
]
#: A view function: returns anything :data:`ResponseReturnValue` allows.
RouteCallable = Union[
    Callable[..., ResponseReturnValue],
    Callable[..., Awaitable[ResponseReturnValue]],
]


# Typed ``g`` and config: declarations for type checkers (docs/type-checking.md). Nothing
# here runs on the request path: the helpers return the objects Erlen already has.

#: Base class for a declaration of the attributes an app keeps on ``g``::
#:
#:     class AppGlobals(Globals):
#:         user: User | None = None
#:
#:     g = typed_g(AppGlobals)
#:
#: It is the class of ``g`` itself, so a declaration may also serve as
#: ``app.app_ctx_globals_class`` (class attributes then give ``g`` its defaults).
Globals = _AppCtxGlobals

_G = TypeVar("_G", bound=_AppCtxGlobals)
_App = TypeVar("_App", bound="Erlen")


class ConfigKeys(TypedDict):
    """The keys every app's config has, with their types; extend it with your own.

    ``class Settings(ConfigKeys): DATABASE_URL: str``, then ``TypedErlen[Settings]``.
    """

    DEBUG: bool
    TESTING: bool
    PROPAGATE_EXCEPTIONS: bool | None
    SECRET_KEY: str | bytes | None
    SECRET_KEY_FALLBACKS: list[str | bytes] | None
    PERMANENT_SESSION_LIFETIME: timedelta | int
    USE_X_SENDFILE: bool
    TRUSTED_HOSTS: list[str] | None
    SERVER_NAME: str | None
    APPLICATION_ROOT: str
    SESSION_COOKIE_NAME: str
    SESSION_COOKIE_DOMAIN: str | None
    SESSION_COOKIE_PATH: str | None
    SESSION_COOKIE_HTTPONLY: bool
    SESSION_COOKIE_SECURE: bool
    SESSION_COOKIE_PARTITIONED: bool
    SESSION_COOKIE_SAMESITE: Literal["Strict", "Lax", "None"] | None
    SESSION_REFRESH_EACH_REQUEST: bool
    MAX_CONTENT_LENGTH: int | None
    MAX_FORM_MEMORY_SIZE: int | None
    MAX_FORM_PARTS: int | None
    SEND_FILE_MAX_AGE_DEFAULT: timedelta | int | None
    TRAP_BAD_REQUEST_ERRORS: bool | None
    TRAP_HTTP_EXCEPTIONS: bool
    EXPLAIN_TEMPLATE_LOADING: bool
    PREFERRED_URL_SCHEME: str
    TEMPLATES_AUTO_RELOAD: bool | None
    MAX_COOKIE_SIZE: int
    PROVIDE_AUTOMATIC_OPTIONS: bool
    ASGI_BODY_SPOOL_SIZE: int
    ASGI_THREADPOOL_SIZE: int | None


if TYPE_CHECKING:
    # Only type checkers read this branch: typing_extensions' TypeVar takes a default on
    # every Python version they check, and Erlen does not depend on it at runtime.
    from typing_extensions import TypeVar as _TypeVarWithDefault

    _ConfigT = _TypeVarWithDefault("_ConfigT", bound=Mapping[str, Any], default=Config)

    class TypedErlen(Erlen, Generic[_ConfigT]):
        """``Erlen`` whose ``config`` type checkers see as ``_ConfigT`` (a ``TypedDict``).

        At runtime ``TypedErlen[...]`` is ``Erlen`` itself.
        """

        # Replaces Erlen's type rather than narrowing it (hence the ignore): a TypedDict
        # cannot be a Config, nor declare its loader methods; config_of() reaches those.
        config: _ConfigT  # type: ignore[assignment]

else:

    class _TypedErlenAlias:
        """``TypedErlen`` at runtime: ``Erlen`` itself, whatever its parameters."""

        __slots__ = ()

        def __getitem__(self, params: object) -> type[Erlen]:
            from .app import Erlen

            return Erlen

        def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type[Erlen]]:
            return (self[()],)

        def __call__(self, *args: Any, **kwargs: Any) -> Erlen:
            return self[()](*args, **kwargs)

        def __instancecheck__(self, obj: object) -> bool:
            return isinstance(obj, self[()])

        def __subclasscheck__(self, cls: type) -> bool:
            return issubclass(cls, self[()])

        def __repr__(self) -> str:
            return "erlen.typing.TypedErlen"

    TypedErlen = _TypedErlenAlias()


def typed_g(declaration: type[_G]) -> _G:
    """Return ``erlen.g`` typed as ``declaration``, a :data:`Globals` subclass.

    The same proxy object, so it costs nothing: ``g = typed_g(AppGlobals)`` in one of
    your modules, then import ``g`` from there.
    """
    return cast(_G, _g)


def typed_current_app(app_class: type[_App]) -> _App:
    """Return ``erlen.current_app`` typed as ``app_class`` (e.g. ``TypedErlen[Settings]``).

    The same proxy object, so ``current_app.config["KEY"]`` is checked at no cost.
    """
    return cast(_App, _current_app)


def config_of(app: Erlen) -> Config:
    """Return ``app.config`` typed as :class:`~erlen.config.Config`, for its loader methods.

    On a ``TypedErlen[Settings]`` the checker sees ``app.config`` as the ``TypedDict``,
    which cannot declare ``from_object``, ``from_prefixed_env`` and the rest.
    """
    return app.config
