"""The request object: built from plain values by a door (:meth:`Request.from_values`).

The door (``erlen.wsgi`` or ``erlen.asgi``) gives method, scheme, path, query string,
headers (parsed, raw ASGI pairs, or none yet), client address and the body: a readable
stream, or (ASGI) a receiver that :meth:`Request.receive_body` drains before dispatch.
Everything else (args, form, files, JSON, cookies) is parsed lazily, once, on first access.
The door also leaves its own record, the WSGI environ or the ASGI scope: a few fields are
read from it lazily (headers under WSGI, ``environ``, ``remote_user``), so a request that
never asks for them costs nothing for them.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import AsyncIterator, Callable
from io import BytesIO
from typing import IO, TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import unquote_plus

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from werkzeug.datastructures import (
    CombinedMultiDict,
    EnvironHeaders,
    FileStorage,
    Headers,
    MultiDict,
)
from werkzeug.datastructures import ImmutableMultiDict as _WerkzeugImmutableMultiDict
from werkzeug.exceptions import (
    BadRequest,
    BadRequestKeyError,
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from werkzeug.sansio.utils import get_current_url, get_host
from werkzeug.wrappers import Request as _WerkzeugRequest
from werkzeug.wsgi import LimitedStream

from .globals import _cv_app

if TYPE_CHECKING:
    from werkzeug.datastructures import (
        Accept,
        Authorization,
        CharsetAccept,
        ETags,
        IfRange,
        LanguageAccept,
        MIMEAccept,
        Range,
        RequestCacheControl,
    )
    from werkzeug.user_agent import UserAgent

    from .routing import Rule


_missing: Any = object()
_R = TypeVar("_R", bound="Request")
_FORM_MIMETYPES = frozenset(("multipart/form-data", "application/x-www-form-urlencoded"))


_K = TypeVar("_K")
_V = TypeVar("_V")


class ImmutableMultiDict(_WerkzeugImmutableMultiDict[_K, _V]):
    """Werkzeug's ``ImmutableMultiDict`` with quicker single-value reads (args, form).

    PERF: ``request.args.get("page", 1, type=int)`` is on many requests' path;
    Werkzeug's ``get`` goes through ``__getitem__`` and a caught ``KeyError``.
    Same results, same errors (a missing key is a 400 ``BadRequestKeyError``).
    """

    def __getitem__(self, key: _K) -> _V:
        values: list[_V] | None = dict.get(self, key)  # type: ignore[assignment]
        if values:
            return values[0]
        raise BadRequestKeyError(key)

    def get(self, key: _K, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        """Return the first value for ``key`` (converted by ``type``), or ``default``."""
        values: list[_V] | None = dict.get(self, key)  # type: ignore[assignment]
        if not values:
            return default
        if type is None:
            return values[0]
        try:
            return type(values[0])
        except (ValueError, TypeError):
            return default


_EMPTY_ARGS: ImmutableMultiDict[str, str] = ImmutableMultiDict()


def _empty(storage_class: type[MultiDict[str, Any]]) -> Any:
    """An empty ``storage_class``: for the usual (immutable) one, a shared instance.

    PERF: as ``args`` for an empty query string, a form request's empty ``files`` (and a
    non-form request's ``form``) need not build a MultiDict each.
    """
    return _EMPTY_ARGS if storage_class is ImmutableMultiDict else storage_class()


#: The body limits of a request outside an app context: Werkzeug's request's defaults.
_LIMIT_DEFAULTS: dict[str, int | None] = {
    name: getattr(_WerkzeugRequest, name)
    for name in ("max_content_length", "max_form_memory_size", "max_form_parts")
}
#: A Cookie header of plain ``name=value`` pairs joined by "; ", which Werkzeug's parser
#: reads as a plain split (no quoted values, escapes or stray whitespace).
_PLAIN_COOKIES = re.compile(r'[^ \t=";\\]+=[^ \t";\\]*(?:; [^ \t=";\\]+=[^ \t";\\]*)*')


# Registered by werkzeug.urls (imported above): percent-encode what does not decode.
_URL_QUOTE_ERRORS = "werkzeug.url_quote"


class _EnvironHeaders(EnvironHeaders):
    """Werkzeug's environ headers; a missing key is a 400 (as with ASGI's), not a 500."""

    def __getitem__(self, key: Any) -> str:  # type: ignore[override]
        try:
            return super().__getitem__(key)
        except KeyError as e:
            if isinstance(key, str):
                raise BadRequestKeyError(key) from e
            raise


def _parse_query(query_string: bytes) -> ImmutableMultiDict[str, str]:
    """Parse a raw query string the way browsers send it (UTF-8, lenient).

    Bytes that are not UTF-8 (raw or percent-encoded) are kept percent-encoded, as
    Werkzeug does (``?c=%FF`` gives ``"%FF"``), never dropped or an error.
    """
    if not query_string:
        return _EMPTY_ARGS
    try:
        text = query_string.decode("ascii")
    except UnicodeDecodeError:
        # Raw (unescaped) non-ASCII bytes: decode them as UTF-8 first.
        text = query_string.decode("utf-8", _URL_QUOTE_ERRORS)
    # PERF: parse_qsl unquotes every key and value; plain ones (the usual case)
    # need no unquoting. Same result as parse_qsl(keep_blank_values=True).
    return _params(text, "&", "%" in text or "+" in text)


def _params(text: str, separator: str, unquote: bool) -> ImmutableMultiDict[str, str]:
    """An ImmutableMultiDict of the ``key=value`` parts of ``text``, in order.

    Empty parts are skipped; with ``unquote``, a key or value with ``%`` or ``+`` is
    percent-decoded as a form value (UTF-8, undecodable bytes kept percent-encoded).
    PERF: a MultiDict is a dict of value lists; filled here in one pass over the parts,
    without its per-pair __init__.
    """
    grouped: dict[str, list[str]] = {}
    for part in text.split(separator):
        if not part:
            continue
        key, _, value = part.partition("=")
        if unquote:
            if "%" in key or "+" in key:
                key = unquote_plus(key, "utf-8", _URL_QUOTE_ERRORS)
            if "%" in value or "+" in value:
                value = unquote_plus(value, "utf-8", _URL_QUOTE_ERRORS)
        values = grouped.get(key)
        if values is None:
            grouped[key] = [value]
        else:
            values.append(value)
    params: ImmutableMultiDict[str, str] = ImmutableMultiDict.__new__(ImmutableMultiDict)
    dict.update(params, grouped)
    return params


#: Request headers a WSGI server does not join when repeated: the last one is kept.
_LAST_WINS = frozenset(("Content-Type", "Content-Length"))


#: Raw header names (as the ASGI server gives them) and their title-cased text.
_header_titles: dict[bytes, str] = {}


def _merge_raw_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The ASGI door's raw header pairs as a WSGI server hands them to Flask.

    So that the same bytes read the same through both doors: names title-cased (as
    Werkzeug's environ headers show them), a repeated header joined into one value
    with "," (gunicorn, uvicorn's and Werkzeug's WSGI servers), except ``Cookie``,
    joined with "; " (RFC 9113 8.2.3: HTTP/2 may split it), and ``Content-Type`` and
    ``Content-Length``, where the last one counts. Values are latin-1 text (PEP 3333).
    """
    merged: dict[str, str] = {}
    titles = _header_titles
    for key, value in raw:
        # PERF: a name is title-cased once per process (decode and title(): about 3,000
        # instructions for a name such as b"upgrade-insecure-requests"; a lookup: 100).
        name = titles.get(key)
        if name is None:
            name = key.decode("latin-1").title()
            if len(titles) < 512:  # bounded: a client may send any names
                titles[key] = name
        text = value.decode("latin-1")
        seen = merged.get(name)
        if seen is None or name in _LAST_WINS:
            merged[name] = text
        else:
            merged[name] = f"{seen}; {text}" if name == "Cookie" else f"{seen},{text}"
    return list(merged.items())


class _ScopeHeaders(Headers):
    """The headers of a request that came through the ASGI door: a Werkzeug ``Headers``.

    It is one to its users: mutable, ``copy()`` gives a ``Headers``, equal to a ``Headers``
    with the same items. PERF: the merged list (see :func:`_merge_raw_headers`: about
    2,500 instructions a header) is built only when something needs it. ``get``,
    ``[name]`` and ``in`` read the door's ``dict(raw_headers)`` instead while that map
    says exactly what the list would (each name came once, in ASCII lower case, as
    servers send them): about 4,000 instructions a ``request.headers.get(...)``, found or
    not, where a miss in the list scans it all (19,000 for a browser's 12 headers).
    """

    _raw: list[tuple[bytes, bytes]] | None = None
    #: The raw pairs by name while they answer reads exactly; None once the list is built.
    _by_name: dict[bytes, bytes] | None = None

    @classmethod
    def of_raw(
        cls, raw: list[tuple[bytes, bytes]], by_name: dict[bytes, bytes] | None
    ) -> _ScopeHeaders:
        """The headers of ``raw`` (ASGI pairs), given ``dict(raw)`` if the door made it."""
        headers = cls.__new__(cls)
        headers._raw = raw
        if by_name is None:
            by_name = dict(raw)
        if len(by_name) == len(raw):
            names = b"".join(by_name)
            if names.isascii() and names == names.lower():
                headers._by_name = by_name
        return headers

    def __getattr__(self, name: str) -> Any:
        # Only reached for an attribute not set: the list, built on first use.
        if name == "_list":
            raw = self._raw
            merged = _merge_raw_headers(raw) if raw else []
            self._list = merged
            self._by_name = None
            return merged
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _raw_value(self, by_name: dict[bytes, bytes], key: str) -> str | None:
        try:
            value = by_name.get(key.lower().encode("latin-1"))
        except UnicodeEncodeError:  # no such name came: names are ASCII
            return None
        return None if value is None else value.decode("latin-1")

    def __getitem__(self, key: Any) -> Any:
        by_name = self._by_name
        if by_name is not None and key.__class__ is str:
            value = self._raw_value(by_name, key)
            if value is None:
                raise BadRequestKeyError(key)
            return value
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        """Return the header's value (converted by ``type``), or ``default``."""
        by_name = self._by_name
        if by_name is None or key.__class__ is not str:
            return super().get(key, default, type)
        # PERF: _raw_value written out: the call cost 1,100 instructions a read (measured),
        # and get() is how headers are read.
        try:
            value = by_name.get(key.lower().encode("latin-1"))
        except UnicodeEncodeError:
            return default
        if value is None:
            return default
        text = value.decode("latin-1")
        if type is None:
            return text
        try:
            return type(text)
        except ValueError:
            return default

    def __contains__(self, key: object) -> bool:
        by_name = self._by_name
        if by_name is not None and key.__class__ is str:
            return self._raw_value(by_name, key) is not None
        return super().__contains__(key)  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _ScopeHeaders) or other.__class__ is Headers:
            mine = {(k.lower(), v) for k, v in self._list}
            return mine == {(k.lower(), v) for k, v in other._list}
        return NotImplemented

    __hash__ = None

    def copy(self) -> Headers:  # type: ignore[override]
        """A mutable copy, a plain ``Headers``."""
        return Headers(self._list)


# The WSGI door's reader of SERVER_NAME and SERVER_PORT, loaded on first use (the door
# imports this module). PERF: an import statement runs the import machinery each time.
_wsgi_server_of: Callable[[dict[str, Any]], tuple[str, int | None] | None] | None = None


def _load_wsgi_server_of() -> Callable[[dict[str, Any]], tuple[str, int | None] | None]:
    global _wsgi_server_of
    from .wsgi import _server_of

    _wsgi_server_of = _server_of
    return _server_of


# The ASGI door's environ builder for ``request.environ``, loaded on first use, likewise.
_asgi_environ_from_request: Callable[[Request, IO[bytes] | None], dict[str, Any]] | None = None


def _load_asgi_environ_from_request() -> Callable[[Request, IO[bytes] | None], dict[str, Any]]:
    global _asgi_environ_from_request
    from .asgi import environ_from_request

    _asgi_environ_from_request = environ_from_request
    return environ_from_request


class _MaxLengthStream(LimitedStream):
    """A body of unknown length (chunked) read up to ``max_length``: 413 past it.

    Werkzeug's ``LimitedStream(is_max=True)`` stops silently at the maximum, which
    truncates an oversized chunked body; this one reads one byte further to tell.
    Errors from the server's input become a 400.
    """

    def __init__(self, stream: IO[bytes], max_length: int) -> None:
        super().__init__(stream, max_length + 1, is_max=True)
        self._max_length = max_length

    def readinto(self, b: Any) -> int | None:
        try:
            n = super().readinto(b)
        except HTTPException:
            raise
        except Exception as e:
            # Servers report a malformed chunked body from read() with their own errors
            # (gunicorn's InvalidChunkSize is not an OSError): the client's fault, a 400.
            raise BadRequest("The request body is malformed and could not be read.") from e
        if self._pos > self._max_length:
            raise RequestEntityTooLarge(
                f"The request body is over the limit of {self._max_length} bytes."
            )
        return n


class Request:
    """The current HTTP request, as seen by views (``erlen.request``).

    The doors create it through :meth:`from_values`; ``Request(environ)`` also
    works, for code written against Werkzeug's request.
    """

    # PERF: the parse caches below are class-level defaults, not slots, so a
    # request that never parses its query, cookies or body never assigns them
    # (they land in the instance __dict__ when first filled).
    _args: ImmutableMultiDict[str, str] | None = None
    _cookies: ImmutableMultiDict[str, str] | None = None
    _form: ImmutableMultiDict[str, str] | None = None
    _files: ImmutableMultiDict[str, FileStorage] | None = None
    _data: bytes | None = None
    _stream: IO[bytes] | None = None
    _json: Any = _missing
    _json_silent: Any = _missing
    _content_type_parsed: tuple[str, dict[str, str]] | None = None
    #: The body not yet received from the server (ASGI: an erlen.asgi.ASGIBody), if any.
    _asgi_body: Any = None
    #: The whole body as received before dispatch, when it came in memory and of exactly
    #: its declared length (ASGI): read without a stream, its length already known.
    _received_body: bytes | None = None
    #: True while the body is still with the server (ASGI, until :meth:`receive_body`
    #: or :meth:`iter_body` takes it). Read it; the request sets it.
    body_pending: bool = False

    # The fields (slots), set by from_values().
    method: str
    path: str
    query_string: bytes
    scheme: str
    root_path: str
    remote_addr: str | None
    url_rule: Rule | None
    view_args: dict[str, Any] | None
    routing_exception: Exception | None
    _headers: Headers | None
    _raw_headers: list[tuple[bytes, bytes]] | None
    #: The raw headers by name, the last value of each (when the door built it), so that a
    #: content header is one lookup rather than a scan of the pairs.
    _raw_header_map: dict[bytes, bytes] | None
    _host: str | None
    _server: tuple[str, int | None] | None
    _input: IO[bytes] | None
    _input_terminated: bool
    _environ: dict[str, Any] | None
    _scope: dict[str, Any] | None
    #: Whether a Cookie header came, when the door noted it (None: look at the headers).
    _has_cookie_header: bool | None

    __slots__ = (
        "__dict__",
        "_environ",
        "_has_cookie_header",
        "_headers",
        "_host",
        "_input",
        "_input_terminated",
        "_raw_header_map",
        "_raw_headers",
        "_scope",
        "_server",
        "method",
        "path",
        "query_string",
        "remote_addr",
        "root_path",
        "routing_exception",
        "scheme",
        "url_rule",
        "view_args",
    )

    #: Storage classes, as in Werkzeug; subclasses may override them.
    parameter_storage_class: ClassVar[type[MultiDict[str, Any]]] = ImmutableMultiDict
    dict_storage_class: ClassVar[type[MultiDict[str, Any]]] = ImmutableMultiDict

    def __init__(
        self, environ: dict[str, Any], populate_request: bool = True, shallow: bool = False
    ):
        """Build a request from a WSGI environ, as Werkzeug's ``Request(environ)`` does."""
        from .wsgi import request_from_environ

        built = request_from_environ(type(self), environ)
        for name in _FIELDS:
            setattr(self, name, getattr(built, name))
        self.__dict__.update(built.__dict__)

    @classmethod
    def from_values(
        cls: type[_R],
        method: str,
        path: str,
        query_string: bytes = b"",
        scheme: str = "http",
        root_path: str = "",
        headers: Headers | None = None,
        raw_headers: list[tuple[bytes, bytes]] | None = None,
        host: str | None = None,
        server: tuple[str, int | None] | None = None,
        remote_addr: str | None = None,
        body: IO[bytes] | None = None,
        body_terminated: bool = False,
        body_receiver: Any = None,
        has_cookie_header: bool | None = None,
        environ: dict[str, Any] | None = None,
        scope: dict[str, Any] | None = None,
        raw_header_map: dict[bytes, bytes] | None = None,
    ) -> _R:
        """Build a request from plain values: what the doors (``erlen.wsgi``, ``erlen.asgi``) call.

        ``path`` is the decoded path below ``root_path``. Give either parsed ``headers``
        or ASGI-style ``raw_headers`` (or neither, with a WSGI ``environ`` to read them
        from on first use). ``host`` is the ``Host`` header when the door has it at hand,
        ``server`` the server socket's address. The body is either ``body``, a readable
        stream (read to EOF when ``body_terminated``, else up to ``Content-Length``), or
        ``body_receiver``, an object with ``async read_all(max_length, spool_size)`` and
        ``__aiter__`` that receives it later (see :meth:`receive_body`); ``read_all`` returns
        ``bytes`` for a body in memory of exactly its declared length, else a readable file.
        ``has_cookie_header`` tells whether a ``Cookie`` header came, when the door
        noticed (None: look at the headers when asked). ``environ`` and ``scope`` keep
        the door's own record for the rarely used fields read from it lazily
        (``request.environ``, ``remote_user``, ``request.scope``). ``raw_header_map`` is
        ``dict(raw_headers)`` when the door made it (the last value of each name), for reading
        the content headers without a scan.

        The doors pass every argument by position, in this order: on CPython 3.11 a call
        with keywords is not specialised and costs about 1,300 instructions more per
        request. Other callers should name the arguments after ``query_string``.
        """
        # PERF: fields assigned here, once; the parse caches are class-level defaults.
        self = cls.__new__(cls)
        self.method = method
        self.path = path
        self.query_string = query_string
        self.scheme = scheme
        self.root_path = root_path
        self._headers = headers
        self._raw_headers = raw_headers
        self._raw_header_map = raw_header_map
        self._host = host
        self._server = server
        self.remote_addr = remote_addr
        self._input = body
        self._input_terminated = body_terminated
        self._environ = environ
        self._scope = scope
        self._has_cookie_header = has_cookie_header
        self.url_rule = None
        self.view_args = None
        self.routing_exception = None
        if body_receiver is not None:
            self._asgi_body = body_receiver
            self.body_pending = True
        return self

    # -- headers and URL ---------------------------------------------------

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive, ``get(name, type=int)``)."""
        headers = self._headers
        if headers is None:
            raw = self._raw_headers
            if raw is None and self._environ is not None:
                # A live view of the WSGI environ, built on first use.
                headers = _EnvironHeaders(self._environ)
            else:
                # The server parsed these (no newlines can be in them): they are read
                # as they came, unvalidated (see _ScopeHeaders).
                if raw:
                    headers = _ScopeHeaders.of_raw(raw, self._raw_header_map)
                else:
                    headers = Headers.__new__(Headers)
                    headers._list = []
            self._headers = headers
        return headers

    @property
    def environ(self) -> dict[str, Any]:
        """A WSGI environ for this request (synthesised when it came through ASGI).

        As with Werkzeug's request, ``environ["werkzeug.request"]`` is this request.
        """
        environ = self._environ
        if environ is None:
            make = _asgi_environ_from_request or _load_asgi_environ_from_request()
            environ = self._environ = make(self, self._input)
            extras = self._environ_extras()
            if extras:
                # What the test client's ASGI door passed from its environ (wsgi.errors...).
                environ.update(extras)
        # PERF: set here, when asked for, not on every request. The cycle it makes
        # (request -> environ -> request) is left to the GC: clearing it in close() costs
        # every request ~300 instructions (measured), for the few that read the environ.
        environ["werkzeug.request"] = self
        return environ

    @property
    def scope(self) -> dict[str, Any] | None:
        """The ASGI scope, when the request came through the ASGI door."""
        return self._scope

    @property
    def host(self) -> str:
        """The host the client asked for, with the port when it is not the default.

        Validated as Werkzeug does: a ``Host`` with invalid characters gives ``""``,
        so it can never reach a ``Location`` or an external URL.
        """
        host: str | None = self.__dict__.get("_checked_host")
        if host is None:
            raw = self._host
            if raw is None:
                raw = self.headers.get("Host") or None
            host = self.__dict__["_checked_host"] = get_host(self.scheme, raw, self.server)
        return host

    @property
    def server(self) -> tuple[str, int | None] | None:
        """The address of the server socket (host, port), when known."""
        server = self._server
        if server is None and self._environ is not None:
            read = _wsgi_server_of or _load_wsgi_server_of()
            server = self._server = read(self._environ)
        return server

    # The URL properties return IRIs (percent-encoded UTF-8 shown decoded), exactly as
    # Flask's (Werkzeug's) request does, so code comparing or storing them behaves the same.
    # Worked out once per request, as there (``request.url`` costs about 77,000 instructions
    # the first time: Werkzeug quotes and unquotes it).

    @functools.cached_property
    def full_path(self) -> str:
        """The path and the query string, with a ``?`` even when the query is empty."""
        return f"{self.path}?{self.query_string.decode('utf-8', 'replace')}"

    @property
    def script_root(self) -> str:
        """Alias of ``root_path``: the prefix the app is mounted under."""
        return self.root_path

    @functools.cached_property
    def host_url(self) -> str:
        """Scheme and host, with a trailing slash."""
        return get_current_url(self.scheme, self.host)

    @functools.cached_property
    def root_url(self) -> str:
        """Scheme, host and root path, with a trailing slash."""
        return get_current_url(self.scheme, self.host, self.root_path)

    @property
    def url_root(self) -> str:
        """Alias of :attr:`root_url`."""
        return self.root_url

    @functools.cached_property
    def base_url(self) -> str:
        """The URL without the query string."""
        return get_current_url(self.scheme, self.host, self.root_path, self.path)

    @functools.cached_property
    def url(self) -> str:
        """The full URL of the request."""
        return get_current_url(self.scheme, self.host, self.root_path, self.path, self.query_string)

    @property
    def is_secure(self) -> bool:
        """True when the request came over HTTPS (or WSS)."""
        return self.scheme in ("https", "wss")

    @functools.cached_property
    def access_route(self) -> list[str]:
        """The client addresses, from ``X-Forwarded-For`` when present."""
        forwarded = self.headers.get("X-Forwarded-For")
        if forwarded:
            return [x.strip() for x in forwarded.split(",")]
        return [self.remote_addr] if self.remote_addr else []

    # -- query string and cookies -------------------------------------------

    @property
    def args(self) -> ImmutableMultiDict[str, str]:
        """The parsed query string (``args.get("page", type=int)``, ``getlist``)."""
        args = self._args
        if args is None:
            args = _parse_query(self.query_string)
            if self.parameter_storage_class is not ImmutableMultiDict:
                args = self.parameter_storage_class(args.items(multi=True))  # type: ignore[assignment]
            self._args = args
        return args

    @property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        """The cookies the client sent."""
        cookies = self._cookies
        if cookies is None:
            header = self._content_header("HTTP_COOKIE", b"cookie", "Cookie")
            if not header:
                cookies = _EMPTY_ARGS
            elif self.dict_storage_class is ImmutableMultiDict and _PLAIN_COOKIES.fullmatch(header):
                # PERF: "a=1; b=2" (no quoting, no stray spaces): split it as Werkzeug would.
                cookies = _params(header, "; ", False)
            else:
                # The parser Flask's request uses: the header as received (latin-1
                # text under WSGI), never re-decoded, so no byte can make it fail.
                from werkzeug.sansio.http import parse_cookie

                cookies = parse_cookie(header, cls=self.dict_storage_class)  # type: ignore[assignment]
            self._cookies = cookies
        return cookies  # type: ignore[return-value]

    def _sent_cookies(self) -> bool:
        """Tell cheaply whether the client may have sent cookies (a Cookie header came)."""
        # PERF: asked after every request that did not use its session; most send none.
        known = self._has_cookie_header
        if known is not None:
            return known
        if self._cookies is None and self._headers is None and self._environ is not None:
            return "HTTP_COOKIE" in self._environ
        return bool(self.cookies)

    # -- content headers ------------------------------------------------------

    @property
    def content_type(self) -> str | None:
        """The raw ``Content-Type`` header."""
        return self._content_header("CONTENT_TYPE", b"content-type", "Content-Type")

    def _content_header(self, environ_key: str, raw_key: bytes, name: str) -> str | None:
        # PERF: until the headers object is built, read the header where the door
        # left it: one environ lookup (WSGI), or a scan of the raw pairs (ASGI
        # names are lower-case).
        if self._headers is None:
            environ = self._environ
            if environ is not None:
                return environ.get(environ_key)
            raw = self._raw_headers
            if raw is not None:
                # A repeated header reads as under WSGI (see _merge_raw_headers): Cookie
                # headers joined, the last Content-Type or Content-Length.
                by_name = self._raw_header_map
                # (The map keeps the last of a repeated name: Cookie headers, joined, need a
                # scan unless no name came twice.)
                if by_name is not None and (raw_key != b"cookie" or len(by_name) == len(raw)):
                    value = by_name.get(raw_key)
                    return None if value is None else value.decode("latin-1")
                found: str | None = None
                for key, value in raw:
                    if key == raw_key:
                        text = value.decode("latin-1")
                        if found is None or raw_key != b"cookie":
                            found = text
                        else:
                            found = f"{found}; {text}"
                return found
        return self.headers.get(name)

    def _parse_content_type(self) -> tuple[str, dict[str, str]]:
        # The mimetype (lower-cased) and its parameters, parsed once per request.
        value = self._content_header("CONTENT_TYPE", b"content-type", "Content-Type") or ""
        parsed: tuple[str, dict[str, str]]
        if ";" not in value and '"' not in value and "," not in value:
            # PERF: a bare mimetype (the usual case) has no parameters to parse.
            parsed = (value.strip().lower(), {})
        else:
            from werkzeug.http import parse_options_header

            mimetype, params = parse_options_header(value)
            parsed = (mimetype.lower(), params)
        self._content_type_parsed = parsed
        return parsed

    @property
    def mimetype(self) -> str:
        """The content type without parameters, lower-cased (``application/json``)."""
        return (self._content_type_parsed or self._parse_content_type())[0]

    @property
    def mimetype_params(self) -> dict[str, str]:
        """The parameters of the content type (``{"charset": "utf-8"}``)."""
        return (self._content_type_parsed or self._parse_content_type())[1]

    @property
    def content_length(self) -> int | None:
        """The declared body length, or None (absent, chunked or invalid)."""
        value = self._content_header("CONTENT_LENGTH", b"content-length", "Content-Length")
        if value is None:
            return None
        try:
            length = int(value)
        except ValueError:
            return None
        return length if length >= 0 else None

    @property
    def content_encoding(self) -> str | None:
        """The ``Content-Encoding`` header."""
        return self.headers.get("Content-Encoding")

    @property
    def is_json(self) -> bool:
        """True when the mimetype is ``application/json`` or ``application/*+json``."""
        mt = (self._content_type_parsed or self._parse_content_type())[0]
        return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))

    # -- limits ----------------------------------------------------------------

    def _config_limit(self, name: str, key: str) -> int | None:
        # ``name`` is the attribute a request may set, ``key`` the config key (its upper case).
        override = self.__dict__.get(name, _missing)
        if override is not _missing:
            return override  # type: ignore[no-any-return]
        ctx = _cv_app.get(None)
        if ctx is None:
            # No app to configure it: Werkzeug's defaults, as Flask's request has.
            return _LIMIT_DEFAULTS[name]
        return ctx.app.config[key]  # type: ignore[no-any-return]

    @property
    def max_content_length(self) -> int | None:
        """The largest body accepted (``MAX_CONTENT_LENGTH``), settable per request."""
        return self._config_limit("max_content_length", "MAX_CONTENT_LENGTH")

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self.__dict__["max_content_length"] = value

    @property
    def max_form_memory_size(self) -> int | None:
        """The largest non-file form field accepted (``MAX_FORM_MEMORY_SIZE``)."""
        return self._config_limit("max_form_memory_size", "MAX_FORM_MEMORY_SIZE")

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self.__dict__["max_form_memory_size"] = value

    @property
    def max_form_parts(self) -> int | None:
        """The largest number of multipart parts accepted (``MAX_FORM_PARTS``)."""
        return self._config_limit("max_form_parts", "MAX_FORM_PARTS")

    @max_form_parts.setter
    def max_form_parts(self, value: int | None) -> None:
        self.__dict__["max_form_parts"] = value

    # -- body ------------------------------------------------------------------

    @property
    def stream(self) -> IO[bytes]:
        """The body as a stream limited to its declared length (413 over the limit)."""
        stream = self._stream
        if stream is None:
            stream = self._stream = self._open_stream()
        return stream

    input_stream = stream

    def _open_stream(self) -> IO[bytes]:
        raw = self._input
        if raw is None:
            error = self.__dict__.get("_body_error")
            if error is not None:
                raise error  # the ASGI door refused the body (413): reading it fails alike
            return BytesIO()
        length = self.content_length
        limit = self.max_content_length
        if length is not None:
            if limit is not None and length > limit:
                raise RequestEntityTooLarge(
                    f"The request body is {length} bytes; the limit is {limit} bytes."
                )
            return LimitedStream(raw, length)  # type: ignore[return-value]
        if self._input_terminated:
            if limit is None:
                if self._scope is not None:
                    return raw  # the ASGI door's own buffer: reading it cannot fail
                # A server's chunked input can fail mid-body (a malformed chunk): a 400.
                limit = sys.maxsize - 1
            return _MaxLengthStream(raw, limit)  # type: ignore[return-value]
        # No length and not terminated: reading could block forever, as PEP 3333 warns.
        return BytesIO()

    def _read_declared_body(self) -> bytes | None:
        """Read a body of declared length in one call (None: use ``stream``).

        PERF: the urlencoded form's path; the same checks as the limited stream
        (413 over ``MAX_CONTENT_LENGTH``, 400 when the client sends less than it
        declared), without the stream object.
        """
        raw = self._input
        if raw is None or self._stream is not None:
            return None
        received = self._received_body
        if received is not None:
            # Received whole before dispatch (ASGI): only a limit lowered since can refuse it.
            limit = self.max_content_length
            if limit is not None and len(received) > limit:
                raise RequestEntityTooLarge(
                    f"The request body is {len(received)} bytes; the limit is {limit} bytes."
                )
            self._stream = BytesIO()  # consumed, as the limited stream would be
            return received
        length = self.content_length
        if length is None:
            return None
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge(
                f"The request body is {length} bytes; the limit is {limit} bytes."
            )
        self._stream = BytesIO()  # consumed, as the limited stream would be
        try:
            data = raw.read(length) if length else b""
        except (OSError, ValueError) as e:  # a server's input failing mid-body
            raise ClientDisconnected() from e
        if len(data) != length:
            raise ClientDisconnected()
        return data

    async def receive_body(self, spool_size: int) -> None:
        """Receive a pending body: in memory up to ``spool_size`` bytes, then a temporary file.

        The ASGI door calls this before dispatch, so Flask's synchronous body API works in
        every view. A body over ``MAX_CONTENT_LENGTH`` is refused: reading the body later
        raises the 413, and it becomes the request's routing error, so hooks that read the
        body (a CSRF check) get it too. A client that disconnects raises
        ``ClientDisconnected``.
        """
        source = self._asgi_body
        if source is None:
            return
        self._asgi_body = None
        self.body_pending = False
        try:
            body = await source.read_all(self.max_content_length, spool_size)
        except ClientDisconnected:
            raise
        except HTTPException as e:
            self.__dict__["_body_error"] = e
            if self.routing_exception is None:
                self.routing_exception = e
            return
        if type(body) is bytes:
            self._received_body = body
            body = BytesIO(body)
        self._input = body

    async def iter_body(self, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """Yield the body in chunks as it arrives (for ``@stream_request_body`` views).

        Under ASGI this reads from the server directly; otherwise (WSGI, or a
        body already received) it reads ``stream``. ``MAX_CONTENT_LENGTH`` applies.
        """
        source = self._asgi_body
        self._asgi_body = None
        self.body_pending = False
        if source is None:
            stream = self.stream
            while True:
                chunk = stream.read(chunk_size)
                if not chunk:
                    return
                yield chunk
        limit = self.max_content_length
        declared = self.content_length
        if limit is not None and declared is not None and declared > limit:
            raise RequestEntityTooLarge(
                f"The request body is {declared} bytes; the limit is {limit} bytes."
            )
        size = 0
        async for chunk in source:
            size += len(chunk)
            if limit is not None and size > limit:
                raise RequestEntityTooLarge(f"The request body is over the limit of {limit} bytes.")
            yield chunk

    def get_data(
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> Any:
        """Read the whole body (bytes, or text with ``as_text``); cached by default."""
        data = self._data
        if data is None:
            if parse_form_data:
                self._load_form_data()
            data = self._read_declared_body()
            if data is None:
                data = self.stream.read()
            if cache:
                self._data = data
        return data.decode("utf-8", "replace") if as_text else data

    @property
    def data(self) -> bytes:
        """The raw body, unless it was a form (then the form consumed it)."""
        return self.get_data(parse_form_data=True)  # type: ignore[no-any-return]

    @property
    def want_form_data_parsed(self) -> bool:
        """True when the content type is a form that ``form``/``files`` parse."""
        return self.mimetype in _FORM_MIMETYPES

    def _load_form_data(self) -> None:
        if self._form is None:
            self._parse_form_data()
            if not self._files:
                # Debug mode: explain a missing enctype. PERF: an import statement costs a
                # few Python calls each time it runs; only debug mode needs the module.
                ctx = _cv_app.get(None)
                if ctx is not None and ctx.app.debug:
                    from .debughelpers import _check_files

                    _check_files(self)

    def _parse_form_data(self) -> None:
        if self._form is not None:
            return
        if not self.want_form_data_parsed:
            self._form = _empty(self.parameter_storage_class)
            self._files = _empty(self.dict_storage_class)
            return
        if (
            self.mimetype == "application/x-www-form-urlencoded"
            and self.parameter_storage_class is ImmutableMultiDict
        ):
            # PERF: an urlencoded body is a query string; parse it as one (the
            # stream is already limited to MAX_CONTENT_LENGTH, as Werkzeug expects).
            data = self._data
            if data is None:
                data = self._read_declared_body()
                if data is None:
                    data = self.stream.read()
            self._form = _parse_query(data)
            self._files = _empty(self.dict_storage_class)
            return
        from werkzeug.formparser import FormDataParser

        parser = FormDataParser(
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            cls=self.parameter_storage_class,
            max_form_parts=self.max_form_parts,
        )
        if self._data is not None:
            stream: IO[bytes] = BytesIO(self._data)
        else:
            stream = self.stream
        _, form, files = parser.parse(
            stream, self.mimetype, self.content_length, self.mimetype_params
        )
        self._form = form  # type: ignore[assignment]
        self._files = files  # type: ignore[assignment]

    @property
    def form(self) -> ImmutableMultiDict[str, str]:
        """Form fields of an urlencoded or multipart body."""
        if self._form is None:
            self._load_form_data()
        return self._form  # type: ignore[return-value]

    @property
    def files(self) -> ImmutableMultiDict[str, FileStorage]:
        """Uploaded files of a multipart body (spooled to temporary files)."""
        if self._files is None:
            self._load_form_data()
        return self._files  # type: ignore[return-value]

    @functools.cached_property
    def values(self) -> CombinedMultiDict[str, str]:
        """``args`` and ``form`` combined (``form`` only for non-GET requests); made once,
        as Werkzeug's."""
        if self.method == "GET":
            return CombinedMultiDict([self.args])
        return CombinedMultiDict([self.args, self.form])

    # -- JSON ------------------------------------------------------------------

    @property
    def json(self) -> Any:
        """The parsed JSON body: 415 when the content type is not JSON, 400 when invalid."""
        return self.get_json()

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """Parse the body as JSON.

        Without ``force`` the content type must be JSON (else 415). Invalid JSON
        is a 400, or ``None`` with ``silent``.
        """
        cached = self._json_silent if silent else self._json
        if cache and cached is not _missing:
            return cached
        if not (force or self.is_json):
            if silent:
                return None
            return self.on_json_loading_failed(None)
        data = self.get_data(cache=cache)
        try:
            ctx = _cv_app.get(None)
            if ctx is not None:
                rv = ctx.app.json.loads(data)
            else:
                import json

                rv = json.loads(data)
        except (ValueError, RecursionError) as e:
            if silent:
                rv = None
                if cache:
                    self._json_silent = rv
                return rv
            if isinstance(e, RecursionError):
                e = ValueError("the JSON document is nested too deeply")
            return self.on_json_loading_failed(e)
        if cache:
            self._json = self._json_silent = rv
        return rv

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """Raise the error for a failed JSON parse (415 for no JSON, 400 for bad JSON)."""
        if e is None:
            raise UnsupportedMediaType(
                "Did not attempt to load JSON data because the request"
                " Content-Type was not 'application/json'."
            )
        error = BadRequest(f"Failed to decode JSON object: {e}")
        ctx = _cv_app.get(None)
        if ctx is not None and ctx.app.debug:
            raise error
        # As Flask: the parser's message (which quotes the body) is shown only in debug mode.
        raise BadRequest() from error

    # -- routing ---------------------------------------------------------------

    @property
    def endpoint(self) -> str | None:
        """The endpoint of the matched rule."""
        rule = self.url_rule
        return rule.endpoint if rule is not None else None

    @property
    def blueprint(self) -> str | None:
        """The (dotted) name of the blueprint the matched endpoint belongs to."""
        endpoint = self.endpoint
        if endpoint is not None and "." in endpoint:
            return endpoint.rpartition(".")[0]
        return None

    @property
    def blueprints(self) -> list[str]:
        """The current blueprint and its parents, innermost first."""
        name = self.blueprint
        if name is None:
            return []
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]

    # -- parsed headers --------------------------------------------------------

    @functools.cached_property
    def accept_mimetypes(self) -> MIMEAccept:
        """The parsed ``Accept`` header."""
        from werkzeug.datastructures import MIMEAccept
        from werkzeug.http import parse_accept_header

        return parse_accept_header(self.headers.get("Accept"), MIMEAccept)

    @functools.cached_property
    def accept_charsets(self) -> CharsetAccept:
        """The parsed ``Accept-Charset`` header."""
        from werkzeug.datastructures import CharsetAccept
        from werkzeug.http import parse_accept_header

        return parse_accept_header(self.headers.get("Accept-Charset"), CharsetAccept)

    @functools.cached_property
    def accept_encodings(self) -> Accept:
        """The parsed ``Accept-Encoding`` header."""
        from werkzeug.http import parse_accept_header

        return parse_accept_header(self.headers.get("Accept-Encoding"))

    @functools.cached_property
    def accept_languages(self) -> LanguageAccept:
        """The parsed ``Accept-Language`` header."""
        from werkzeug.datastructures import LanguageAccept
        from werkzeug.http import parse_accept_header

        return parse_accept_header(self.headers.get("Accept-Language"), LanguageAccept)

    @functools.cached_property
    def authorization(self) -> Authorization | None:
        """The parsed ``Authorization`` header (Basic, Bearer, Digest ...)."""
        from werkzeug.datastructures import Authorization

        return Authorization.from_header(self.headers.get("Authorization"))

    @functools.cached_property
    def user_agent(self) -> UserAgent:
        """The ``User-Agent`` header as an object with a ``string`` attribute."""
        from werkzeug.user_agent import UserAgent

        return UserAgent(self.headers.get("User-Agent", ""))

    @functools.cached_property
    def cache_control(self) -> RequestCacheControl:
        """The parsed ``Cache-Control`` header."""
        from werkzeug.datastructures import RequestCacheControl
        from werkzeug.http import parse_cache_control_header

        return parse_cache_control_header(
            self.headers.get("Cache-Control"), None, RequestCacheControl
        )

    @functools.cached_property
    def if_match(self) -> ETags:
        """The parsed ``If-Match`` header."""
        from werkzeug.http import parse_etags

        return parse_etags(self.headers.get("If-Match"))

    @functools.cached_property
    def if_none_match(self) -> ETags:
        """The parsed ``If-None-Match`` header."""
        from werkzeug.http import parse_etags

        return parse_etags(self.headers.get("If-None-Match"))

    @functools.cached_property
    def if_modified_since(self) -> Any:
        """The ``If-Modified-Since`` header as a datetime, or None."""
        from werkzeug.http import parse_date

        return parse_date(self.headers.get("If-Modified-Since"))

    @functools.cached_property
    def if_unmodified_since(self) -> Any:
        """The ``If-Unmodified-Since`` header as a datetime, or None."""
        from werkzeug.http import parse_date

        return parse_date(self.headers.get("If-Unmodified-Since"))

    @functools.cached_property
    def if_range(self) -> IfRange:
        """The parsed ``If-Range`` header."""
        from werkzeug.http import parse_if_range_header

        return parse_if_range_header(self.headers.get("If-Range"))

    @functools.cached_property
    def range(self) -> Range | None:
        """The parsed ``Range`` header, or None."""
        from werkzeug.http import parse_range_header

        return parse_range_header(self.headers.get("Range"))

    @property
    def referrer(self) -> str | None:
        """The ``Referer`` header."""
        return self.headers.get("Referer")

    @property
    def origin(self) -> str | None:
        """The ``Origin`` header."""
        return self.headers.get("Origin")

    @property
    def date(self) -> Any:
        """The ``Date`` header as a datetime, or None."""
        from werkzeug.http import parse_date

        return parse_date(self.headers.get("Date"))

    @property
    def remote_user(self) -> str | None:
        """The user the server authenticated (WSGI ``REMOTE_USER``), if any."""
        environ = self._environ
        if environ is None:
            environ = self._environ_extras()
        return environ.get("REMOTE_USER") if environ is not None else None

    def _environ_extras(self) -> dict[str, Any] | None:
        """Environ keys the test client's ASGI door passed in its scope (``wsgi.errors``...)."""
        scope = self._scope
        if scope is None:
            return None
        return (scope.get("extensions") or {}).get("erlen.environ")

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        """Close uploaded files and the body (removing any temporary files)."""
        files = self._files
        if files:
            for _key, value in files.items(multi=True):
                value.close()
        body = self._input
        if body is not None and self._scope is not None:
            # Under ASGI the body buffer is ours; under WSGI the server owns it.
            body.close()
            self._received_body = None

    def __enter__(self) -> Request:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            url = self.url
        except Exception:
            url = "(invalid URL)"
        return f"<{type(self).__name__} {url!r} [{self.method}]>"


#: The slots a request's fields live in (``Request(environ)`` copies them from a built request).
_FIELDS = tuple(name for name in Request.__slots__ if name != "__dict__")

__all__ = ["FileStorage", "Request"]
