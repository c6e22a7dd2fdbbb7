"""The request object: built from plain values by a protocol adapter.

Nothing here knows whether the request came through WSGI or ASGI. The adapter
gives method, scheme, path, query string, headers, client address and a
readable body; everything else (args, form, files, JSON, cookies) is parsed
lazily, once, on first access.
"""

from __future__ import annotations

import functools
from io import BytesIO
from typing import IO, TYPE_CHECKING, Any, ClassVar, NoReturn
from urllib.parse import parse_qsl, quote

from werkzeug.datastructures import (
    CombinedMultiDict,
    EnvironHeaders,
    FileStorage,
    Headers,
    ImmutableMultiDict,
    MultiDict,
)
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

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
_FORM_MIMETYPES = frozenset(("multipart/form-data", "application/x-www-form-urlencoded"))
_EMPTY_ARGS: ImmutableMultiDict[str, str] = ImmutableMultiDict()
# Characters left as they are when a path is put back into a URL.
_PATH_SAFE = "/:@&$!'()*+,;=~%"


def _parse_query(query_string: bytes) -> ImmutableMultiDict[str, str]:
    """Parse a raw query string the way browsers send it (UTF-8, lenient)."""
    if not query_string:
        return _EMPTY_ARGS
    try:
        text = query_string.decode("ascii")
    except UnicodeDecodeError:
        # Raw (unescaped) non-ASCII bytes: decode them as UTF-8 first.
        text = query_string.decode("utf-8", "replace")
    return ImmutableMultiDict(
        parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    )


class Request:
    """The current HTTP request, as seen by views (``erlen.request``).

    Adapters create it through :meth:`from_values`; ``Request(environ)`` also
    works, for code written against Werkzeug's request.
    """

    __slots__ = (
        "__dict__",
        "_args",
        "_cookies",
        "_data",
        "_environ",
        "_files",
        "_form",
        "_headers",
        "_host",
        "_input",
        "_input_terminated",
        "_json",
        "_json_silent",
        "_raw_headers",
        "_scope",
        "_server",
        "_stream",
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

    def __init__(self, environ: dict[str, Any], populate_request: bool = True, shallow: bool = False):
        from .wsgi import request_fields

        self._init(**request_fields(environ))

    @classmethod
    def from_values(
        cls,
        method: str,
        path: str,
        query_string: bytes = b"",
        *,
        scheme: str = "http",
        root_path: str = "",
        headers: Headers | None = None,
        raw_headers: list[tuple[bytes, bytes]] | None = None,
        host: str | None = None,
        server: tuple[str, int | None] | None = None,
        remote_addr: str | None = None,
        body: IO[bytes] | None = None,
        body_terminated: bool = False,
        environ: dict[str, Any] | None = None,
        scope: dict[str, Any] | None = None,
    ) -> Request:
        """Build a request from plain values (what protocol adapters call).

        ``path`` is the decoded path below ``root_path``. Give either parsed
        ``headers`` or ASGI-style ``raw_headers``. ``body`` is the raw body;
        when ``body_terminated`` is true it ends at EOF, otherwise it is read up
        to ``Content-Length``.
        """
        self = cls.__new__(cls)
        self._init(
            method,
            path,
            query_string,
            scheme,
            root_path,
            headers,
            raw_headers,
            host,
            server,
            remote_addr,
            body,
            body_terminated,
            environ,
            scope,
        )
        return self

    def _init(
        self,
        method: str,
        path: str,
        query_string: bytes,
        scheme: str,
        root_path: str,
        headers: Headers | None,
        raw_headers: list[tuple[bytes, bytes]] | None,
        host: str | None,
        server: tuple[str, int | None] | None,
        remote_addr: str | None,
        body: IO[bytes] | None,
        body_terminated: bool,
        environ: dict[str, Any] | None,
        scope: dict[str, Any] | None,
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.scheme = scheme
        self.root_path = root_path
        self._headers = headers
        self._raw_headers = raw_headers
        self._host = host
        self._server = server
        self.remote_addr = remote_addr
        self._input = body
        self._input_terminated = body_terminated
        self._environ = environ
        self._scope = scope
        self._args = None
        self._cookies = None
        self._form = None
        self._files = None
        self._data = None
        self._stream = None
        self._json = _missing
        self._json_silent = _missing
        self.url_rule: Rule | None = None
        self.view_args: dict[str, Any] | None = None
        self.routing_exception: Exception | None = None

    # -- headers and URL ---------------------------------------------------

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive, ``get(name, type=int)``)."""
        headers = self._headers
        if headers is None:
            raw = self._raw_headers or ()
            headers = self._headers = Headers(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
            )
        return headers

    @property
    def environ(self) -> dict[str, Any]:
        """A WSGI environ for this request (synthesised when it came through ASGI)."""
        environ = self._environ
        if environ is None:
            from .asgi import environ_from_request

            environ = self._environ = environ_from_request(self)
        return environ

    @property
    def scope(self) -> dict[str, Any] | None:
        """The ASGI scope, when the request came through the ASGI door."""
        return self._scope

    @property
    def host(self) -> str:
        """The host the client asked for, with the port when it is not the default."""
        host = self._host
        if host is None:
            host = self.headers.get("Host")
            if not host:
                server = self._server
                if server is None:
                    host = "localhost"
                else:
                    name, port = server
                    default = 443 if self.scheme in ("https", "wss") else 80
                    host = name if port is None or port == default else f"{name}:{port}"
            self._host = host
        return host

    @property
    def server(self) -> tuple[str, int | None] | None:
        """The address of the server socket (host, port), when known."""
        return self._server

    @property
    def full_path(self) -> str:
        """The path and the query string, with a ``?`` even when the query is empty."""
        return f"{quote(self.path, safe=_PATH_SAFE)}?{self.query_string.decode('latin-1')}"

    @property
    def script_root(self) -> str:
        """Alias of ``root_path``: the prefix the app is mounted under."""
        return self.root_path

    @property
    def host_url(self) -> str:
        """Scheme and host, with a trailing slash."""
        return f"{self.scheme}://{self.host}/"

    @property
    def root_url(self) -> str:
        """Scheme, host and root path, with a trailing slash."""
        return f"{self.scheme}://{self.host}{quote(self.root_path, safe=_PATH_SAFE)}/"

    url_root = root_url

    @property
    def base_url(self) -> str:
        """The URL without the query string."""
        root = quote(self.root_path, safe=_PATH_SAFE)
        return f"{self.scheme}://{self.host}{root}{quote(self.path, safe=_PATH_SAFE)}"

    @property
    def url(self) -> str:
        """The full URL of the request, percent-encoded."""
        qs = self.query_string
        base = self.base_url
        return f"{base}?{qs.decode('latin-1')}" if qs else base

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
            args = self._args = _parse_query(self.query_string)
        return args

    @property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        """The cookies the client sent."""
        cookies = self._cookies
        if cookies is None:
            header = self.headers.get("Cookie")
            if not header:
                cookies = _EMPTY_ARGS
            else:
                from werkzeug.http import parse_cookie

                cookies = parse_cookie(header, cls=self.dict_storage_class)  # type: ignore[assignment]
            self._cookies = cookies
        return cookies

    # -- content headers ------------------------------------------------------

    @property
    def content_type(self) -> str | None:
        """The raw ``Content-Type`` header."""
        return self.headers.get("Content-Type")

    @functools.cached_property
    def _parsed_content_type(self) -> tuple[str, dict[str, str]]:
        from werkzeug.http import parse_options_header

        return parse_options_header(self.headers.get("Content-Type", ""))

    @property
    def mimetype(self) -> str:
        """The content type without parameters, lower-cased (``application/json``)."""
        return self._parsed_content_type[0].lower()

    @property
    def mimetype_params(self) -> dict[str, str]:
        """The parameters of the content type (``{"charset": "utf-8"}``)."""
        return self._parsed_content_type[1]

    @property
    def content_length(self) -> int | None:
        """The declared body length, or None (absent, chunked or invalid)."""
        value = self.headers.get("Content-Length")
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
        mt = self.mimetype
        return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))

    # -- limits ----------------------------------------------------------------

    def _config_limit(self, name: str) -> int | None:
        override = self.__dict__.get(name, _missing)
        if override is not _missing:
            return override  # type: ignore[no-any-return]
        ctx = _cv_app.get(None)
        if ctx is None:
            return None
        return ctx.app.config[name.upper()]  # type: ignore[no-any-return]

    @property
    def max_content_length(self) -> int | None:
        """The largest body accepted (``MAX_CONTENT_LENGTH``), settable per request."""
        return self._config_limit("max_content_length")

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self.__dict__["max_content_length"] = value

    @property
    def max_form_memory_size(self) -> int | None:
        """The largest non-file form field accepted (``MAX_FORM_MEMORY_SIZE``)."""
        return self._config_limit("max_form_memory_size")

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self.__dict__["max_form_memory_size"] = value

    @property
    def max_form_parts(self) -> int | None:
        """The largest number of multipart parts accepted (``MAX_FORM_PARTS``)."""
        return self._config_limit("max_form_parts")

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
            return BytesIO()
        from werkzeug.wsgi import LimitedStream

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
                return raw
            return LimitedStream(raw, limit, is_max=True)  # type: ignore[return-value]
        # No length and not terminated: reading could block forever, as PEP 3333 warns.
        return BytesIO()

    def get_data(
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> Any:
        """Read the whole body (bytes, or text with ``as_text``); cached by default."""
        data = self._data
        if data is None:
            if parse_form_data:
                self._load_form_data()
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
        if self._form is not None:
            return
        if not self.want_form_data_parsed:
            self._form = self.parameter_storage_class()  # type: ignore[assignment]
            self._files = self.dict_storage_class()  # type: ignore[assignment]
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
        _, form, files = parser.parse(stream, self.mimetype, self.content_length, self.mimetype_params)
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

    @property
    def values(self) -> CombinedMultiDict[str, str]:
        """``args`` and ``form`` combined (``form`` only for non-GET requests)."""
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
        raise BadRequest(f"Failed to decode JSON object: {e}")

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
        return environ.get("REMOTE_USER") if environ is not None else None

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


def _abort_bad_request(message: str) -> NoReturn:
    raise BadRequest(message)


__all__ = ["FileStorage", "Request"]
