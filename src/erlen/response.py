"""The response object. It holds status, headers and a body; adapters write it out."""

from __future__ import annotations

import json as _json
import re
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, cast

from werkzeug.datastructures import Headers
from werkzeug.wrappers.response import Response as _WerkzeugResponse

from .globals import _cv_app

if TYPE_CHECKING:
    from werkzeug.wrappers.request import Request as _WerkzeugRequest

    from .request import Request

_missing: Any = object()

#: ``code -> "code REASON"`` as Werkzeug spells it, built once.
STATUS_LINES: dict[int, str] = {s.value: f"{s.value} {s.phrase.upper()}" for s in HTTPStatus}
STATUS_LINES.update({418: "418 I'M A TEAPOT", 425: "425 TOO EARLY"})

_content_types: dict[str, str] = {}


def content_type_for(mimetype: str, charset: str = "utf-8") -> str:
    """Return the ``Content-Type`` value for a mimetype, adding the charset for text."""
    cache = charset == "utf-8"  # the table holds the default charset's values
    ct = _content_types.get(mimetype) if cache else None
    if ct is None:
        if "\n" in mimetype or "\r" in mimetype:
            raise ValueError("Header values must not contain newline characters.")
        if (
            mimetype.startswith("text/")
            or mimetype in ("application/xml", "application/javascript", "application/ecmascript")
            or mimetype.endswith("+xml")
        ) and "charset" not in mimetype:
            ct = f"{mimetype}; charset={charset}"
        else:
            ct = mimetype
        if cache and len(_content_types) < 256:
            _content_types[mimetype] = ct
    return ct


def _encode_header(kv: tuple[str, str]) -> tuple[bytes, bytes]:
    """A header pair as the latin-1 bytes an ASGI server takes (recurring ones encoded once)."""
    pair = _encoded_headers.get(kv)
    if pair is None:
        key, value = kv
        pair = (key.encode("latin-1"), value.encode("latin-1"))
        # Bounded: the first 512 short pairs seen; Content-Length, which differs from
        # response to response, never.
        if len(value) < 128 and len(_encoded_headers) < 512 and key.lower() != "content-length":
            _encoded_headers[kv] = pair
    return pair


#: Encoded header pairs by their text, for the headers most responses repeat.
_encoded_headers: dict[tuple[str, str], tuple[bytes, bytes]] = {}


class ResponseHeaders(Headers):
    """Werkzeug's ``Headers`` with faster lookups and assignment for the common cases."""

    # PERF: Werkzeug's __contains__ raises and catches a KeyError on a miss, and
    # __setitem__ goes through set() with keyword handling; these are the
    # operations after_request hooks and the session use on every request.
    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        ikey = key.lower()
        size = len(key)
        for k, _ in self._list:
            if len(k) == size and k.lower() == ikey:
                return True
        return False

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(key) is not str:
            super().__setitem__(key, value)
            return
        if type(value) is not str:
            value = str(value)
        if "\n" in value or "\r" in value:
            raise ValueError("Header values must not contain newline characters.")
        items: list[tuple[str, str]] = self._list
        size = len(key)
        for k, _ in items:
            # PERF: only a name of the same length is lower-cased (a new header, the
            # usual case, lower-cases nothing).
            if len(k) == size and k.lower() == key.lower():
                break
        else:
            items.append((key, value))
            return
        ikey = key.lower()
        # Replace the first value in place and drop any further ones.
        kept: list[tuple[str, str]] = []
        replaced = False
        for kv in items:
            if kv[0].lower() != ikey:
                kept.append(kv)
            elif not replaced:
                kept.append((key, value))
                replaced = True
        items[:] = kept


#: A cookie value Werkzeug sends unquoted (its ``_cookie_no_quote_re``, RFC 6265 cookie-octets
#: and a few more), with no ``;`` or ``,`` that would need escaping.
_COOKIE_PLAIN_VALUE = re.compile(r"[\w!#$%&'()*+\-./:<=>?@\[\]^`{|}~]*", re.ASCII)

_LENGTH_HEADER = frozenset(("content-length",))
# Werkzeug's entity headers, removed from a 304 (``expires`` and ``content-location`` stay).
_ENTITY_HEADERS = frozenset(
    (
        "allow",
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-range",
        "content-type",
        "last-modified",
    )
)


_object_new = object.__new__

#: What :func:`complete_response` needs of a response class, learned once per class:
#: ``(plain, default_status, charset, content types by mimetype)``; ``plain`` tells
#: whether the class keeps Response's ``__init__`` and ``__new__``. Emptied whenever an
#: attribute of a response class is set or deleted (see _ResponseClass).
_class_facts: dict[type, tuple[bool, int, str, dict[Any, str | None]]] = {}

#: The ``mimetype`` argument of :func:`complete_response` that means the class's own default.
DEFAULT_MIMETYPE: Any = object()


class _ResponseClass(type):
    """The type of response classes: setting a class attribute forgets what was learned.

    ``Response.default_mimetype = ...`` (or ``charset``, ``default_status``, ``__init__``)
    set at any time, on Response or a subclass, is seen by the next response.
    """

    def __setattr__(cls, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        _class_facts.clear()

    def __delattr__(cls, name: str) -> None:
        super().__delattr__(name)
        _class_facts.clear()


def _learn(cls: type[Response]) -> tuple[bool, int, str, dict[Any, str | None]]:
    if not (
        isinstance(cls, _ResponseClass)
        and cls.__init__ is Response.__init__
        and cls.__new__ is _object_new
    ):
        facts = _class_facts[cls] = (False, 0, "", {})  # constructed through its own __init__
        return facts
    mimetype = cls.default_mimetype
    types: dict[Any, str | None] = {
        DEFAULT_MIMETYPE: content_type_for(mimetype, cls.charset) if mimetype else None
    }
    facts = _class_facts[cls] = (True, cls.default_status, cls.charset, types)
    return facts


def complete_response(
    cls: type[Response], body: str | bytes, mimetype: str | None = DEFAULT_MIMETYPE
) -> Response:
    """Build a response of class ``cls`` with the default status and a complete body.

    ``mimetype`` defaults to the class's ``default_mimetype``; ``None`` sends no
    ``Content-Type``. What the common view returns (a string, a dict made JSON) takes
    this path: the response ``cls(body, mimetype=mimetype)`` would make, without running
    ``__init__`` when the class keeps Response's (a class with its own is called).
    """
    # PERF: class attributes (default_mimetype, charset, default_status, __init__) cost
    # a lookup each on every read in CPython 3.11; they are read once per class here,
    # and the content type once per mimetype (~1,400 instructions a hello, measured).
    facts = _class_facts.get(cls)
    if facts is None:
        facts = _learn(cls)
    plain, status, charset, types = facts
    if not plain:
        if mimetype is DEFAULT_MIMETYPE:
            return cls(body)
        return cls(body, mimetype=mimetype)
    ct = types.get(mimetype, _missing)
    if ct is _missing:
        ct = content_type_for(mimetype, charset) if mimetype else None
        if len(types) < 64:
            types[mimetype] = ct
    self: Response = _object_new(cls)
    headers = _object_new(ResponseHeaders)
    headers._list = [("Content-Type", ct)] if ct else []
    self.headers = headers
    self._status_code = status
    self._status = None
    self._on_close = None
    self._body = body.encode(charset) if type(body) is str else body  # type: ignore[assignment]
    self._iter = None
    return self


def _encoded(chunks: Iterable[str | bytes], charset: str) -> Iterator[bytes]:
    """The chunks of a streamed body as bytes, ``str`` chunks encoded with ``charset``."""
    for chunk in chunks:
        yield chunk.encode(charset) if isinstance(chunk, str) else chunk


def _status_line(code: int) -> str:
    line = STATUS_LINES.get(code)
    if line is None:
        line = f"{code} UNKNOWN"
    return line


class Response(_WerkzeugResponse, metaclass=_ResponseClass):
    """An HTTP response: ``Response(body, status, headers, mimetype, content_type)``.

    The body may be ``str``, ``bytes``, or a (sync or async) iterable of
    chunks, which is streamed. ``Content-Length`` is added when the body is
    known in full.

    It is a Werkzeug ``Response`` (``isinstance`` checks, ``make_conditional``,
    ``add_etag``, ``get_wsgi_response``, use as a WSGI app all work) with its own
    constructor and storage: a complete body is kept as bytes (``_body``), a stream
    as its iterable (``_iter``); :attr:`response` reads and writes either as
    Werkzeug's attribute. The state lives in the instance ``__dict__`` (no
    ``__slots__``), so a response copied through its ``__dict__`` (as caching
    extensions do), with :mod:`copy` or by pickling, or given another class by
    :meth:`force_type`, keeps working.
    """

    default_status: ClassVar[int] = 200  # type: ignore[misc]
    default_mimetype: ClassVar[str | None] = "text/html"  # type: ignore[misc]
    charset: ClassVar[str] = "utf-8"
    #: Kept for Werkzeug compatibility; locations are sent as given.
    autocorrect_location_header: ClassVar[bool] = False  # type: ignore[misc]
    #: Set to True to stream iterables untouched (no conversion of chunks, no
    #: implicit buffering by :meth:`get_data`), as Werkzeug's attribute.
    direct_passthrough: bool = False
    json_module: ClassVar[Any] = _json

    # PERF: the state is set in this order everywhere (__init__, complete_response) so that
    # all responses share one key table. Attribute access on a key-sharing dict is
    # specialised like a slot's (callgrind, hello: within 0.3 % of the slotted class
    # in isolation), and keeps __dict__ copies and __class__ changes working.
    headers: Headers
    _status_code: int
    _status: str | None  # type: ignore[assignment]
    _on_close: list[Callable[[], Any]] | None  # type: ignore[assignment]
    _body: bytes | None
    _iter: Any

    def __init__(
        self,
        response: Any = None,
        status: int | str | HTTPStatus | None = None,
        headers: Any = None,
        mimetype: str | None = None,
        content_type: str | None = None,
        direct_passthrough: bool = False,
    ) -> None:
        # PERF: Werkzeug's __init__ is not called. Headers() with no argument is
        # cheap; the common single header is appended to its list directly instead
        # of going through validation (the value comes from our own mimetype table,
        # not from user input).
        h = ResponseHeaders()
        if headers is not None:
            h.extend(headers)
        if content_type is None:
            if mimetype is None and (headers is None or "content-type" not in h):
                mimetype = self.default_mimetype
            if mimetype is not None:
                h._list.append(("Content-Type", content_type_for(mimetype, self.charset)))
        else:
            h["Content-Type"] = content_type
        self.headers = h
        if status is None:
            self._status_code = self.default_status
            self._status = None
        else:
            self.status = status
        self._on_close = None
        if response is None:
            # An empty list of chunks, as Werkzeug's: no length until it is sent.
            self._body = None
            self._iter = []
        elif isinstance(response, str):
            self._body = response.encode(self.charset)
            self._iter = None
        elif isinstance(response, (bytes, bytearray)):
            self._body = bytes(response)
            self._iter = None
        else:
            self._body = None
            self._iter = response
        if direct_passthrough:
            self.direct_passthrough = True

    # -- status ----------------------------------------------------------------

    @property
    def status_code(self) -> int:
        """The numeric status code."""
        return self._status_code

    @status_code.setter
    def status_code(self, code: int) -> None:
        self._status_code = int(code)
        self._status = None

    @property
    def status(self) -> str:
        """The status line, such as ``"404 NOT FOUND"``."""
        status = self._status
        if status is None:
            # PERF: inline lookup; _status_line() only for codes outside the table.
            status = STATUS_LINES.get(self._status_code) or _status_line(self._status_code)
            self._status = status
        return status

    @status.setter
    def status(self, value: int | str | HTTPStatus) -> None:
        if isinstance(value, int):  # includes HTTPStatus
            self._status_code = int(value)
            self._status = None
            return
        if not isinstance(value, str):
            raise TypeError("Invalid status argument: use an int or a string such as '200 OK'.")
        value = value.strip()
        if not value:
            raise ValueError("Empty status argument")
        code_part, _, reason = value.partition(" ")
        try:
            code = int(code_part)
        except ValueError:
            # Werkzeug accepts a bare reason and reports it as status 0.
            self._status_code = 0
            self._status = f"0 {value.upper()}"
            return
        self._status_code = code
        self._status = f"{code} {reason.upper()}" if reason else _status_line(code)

    # -- headers -----------------------------------------------------------------

    @property
    def mimetype(self) -> str | None:
        """The content type without parameters."""
        ct = self.headers.get("Content-Type")
        return ct.split(";", 1)[0].strip().lower() if ct else None

    @mimetype.setter
    def mimetype(self, value: str) -> None:
        self.headers["Content-Type"] = content_type_for(value, self.charset)

    @property  # type: ignore[override]
    def content_type(self) -> str | None:
        """The ``Content-Type`` header."""
        return self.headers.get("Content-Type")

    @content_type.setter
    def content_type(self, value: str | None) -> None:
        if value is None:
            self.headers.pop("Content-Type", None)
        else:
            self.headers["Content-Type"] = value

    @property  # type: ignore[override]
    def content_length(self) -> int | None:
        """The ``Content-Length`` header as an int.

        Without the header, a body held in memory gives its length: the header is only
        added when the response is sent, where Werkzeug sets it with the body.
        """
        value = self.headers.get("Content-Length")
        if value is None and self._body is not None and self.automatically_set_content_length:
            return len(self._body)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        if value is None:
            self.headers.pop("Content-Length", None)
        else:
            self.headers["Content-Length"] = str(value)

    @property  # type: ignore[override]
    def location(self) -> str | None:
        """The ``Location`` header."""
        return self.headers.get("Location")

    @location.setter
    def location(self, value: str | None) -> None:
        if value is None:
            self.headers.pop("Location", None)
        else:
            self.headers["Location"] = value

    @property
    def is_json(self) -> bool:
        """True when the body is JSON by its mimetype."""
        mt = self.mimetype or ""
        return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))

    @property
    def vary(self) -> Any:
        """The ``Vary`` header as a set-like object you may ``add`` to."""
        from werkzeug.datastructures import HeaderSet
        from werkzeug.http import parse_set_header

        def on_update(hs: HeaderSet) -> None:
            if hs:
                self.headers["Vary"] = hs.to_header()
            else:
                self.headers.pop("Vary", None)

        return parse_set_header(self.headers.get("Vary"), on_update)

    @property
    def cache_control(self) -> Any:
        """The ``Cache-Control`` header as an object with attributes (``max_age``, ``public``)."""
        from werkzeug.datastructures import ResponseCacheControl
        from werkzeug.http import parse_cache_control_header

        def on_update(cc: Any) -> None:
            if cc:
                self.headers["Cache-Control"] = cc.to_header()
            else:
                self.headers.pop("Cache-Control", None)

        return parse_cache_control_header(
            self.headers.get("Cache-Control"), on_update, ResponseCacheControl
        )

    def _date_header(self, name: str) -> datetime | None:
        from werkzeug.http import parse_date

        return parse_date(self.headers.get(name))

    def _set_date_header(self, name: str, value: datetime | int | float | str | None) -> None:
        if value is None:
            self.headers.pop(name, None)
        elif isinstance(value, str):
            self.headers[name] = value
        else:
            from werkzeug.http import http_date

            self.headers[name] = http_date(value)

    @property
    def last_modified(self) -> datetime | None:
        """The ``Last-Modified`` header as a datetime."""
        return self._date_header("Last-Modified")

    @last_modified.setter
    def last_modified(self, value: datetime | int | float | str | None) -> None:
        self._set_date_header("Last-Modified", value)

    @property
    def expires(self) -> datetime | None:
        """The ``Expires`` header as a datetime."""
        return self._date_header("Expires")

    @expires.setter
    def expires(self, value: datetime | int | float | str | None) -> None:
        self._set_date_header("Expires", value)

    @property
    def date(self) -> datetime | None:
        """The ``Date`` header as a datetime."""
        return self._date_header("Date")

    @date.setter
    def date(self, value: datetime | int | float | str | None) -> None:
        self._set_date_header("Date", value)

    @property  # type: ignore[override]
    def accept_ranges(self) -> str | None:
        """The ``Accept-Ranges`` header."""
        return self.headers.get("Accept-Ranges")

    @accept_ranges.setter
    def accept_ranges(self, value: str | None) -> None:
        if value is None:
            self.headers.pop("Accept-Ranges", None)
        else:
            self.headers["Accept-Ranges"] = value

    def set_etag(self, etag: str, weak: bool = False) -> None:
        """Set the ``ETag`` header (quoted, optionally weak)."""
        from werkzeug.http import quote_etag

        self.headers["ETag"] = quote_etag(etag, weak)

    def get_etag(self) -> tuple[str, bool] | tuple[None, None]:
        """Return ``(etag, is_weak)`` or ``(None, None)``."""
        from werkzeug.http import unquote_etag

        return unquote_etag(self.headers.get("ETag"))

    # -- cookies -----------------------------------------------------------------

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        """The largest cookie accepted (``MAX_COOKIE_SIZE``); larger ones warn."""
        ctx = _cv_app.get(None)
        if ctx is not None:
            return int(ctx.app.config["MAX_COOKIE_SIZE"])
        return 4093

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: timedelta | int | None = None,
        expires: str | datetime | int | float | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header."""
        if (
            max_age is None
            and expires is None
            and domain is None
            and path == "/"
            and samesite is None
            and not partitioned
            and type(value) is str
            and key.isascii()
            and _COOKIE_PLAIN_VALUE.fullmatch(value) is not None
        ):
            # PERF: a browser-session cookie with a plain value (the session
            # cookie): Werkzeug's exact output without its quoting and date work.
            header = f"{key}={value}{'; Secure' if secure else ''}{'; HttpOnly' if httponly else ''}; Path=/"
            max_size = self.max_cookie_size
            if not max_size or len(header) <= max_size:
                self.headers._list.append(("Set-Cookie", header))
                return
        from werkzeug.http import dump_cookie

        self.headers.add(
            "Set-Cookie",
            dump_cookie(
                key,
                value=value,
                max_age=max_age,
                expires=expires,
                path=path,
                domain=domain,
                secure=secure,
                httponly=httponly,
                max_size=self.max_cookie_size,
                samesite=samesite,
                partitioned=partitioned,
            ),
        )

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        partitioned: bool = False,
    ) -> None:
        """Tell the client to delete a cookie (an expired ``Set-Cookie``)."""
        self.set_cookie(
            key,
            expires=0,
            max_age=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )

    # -- body --------------------------------------------------------------------
    # Werkzeug's methods (get_wsgi_response, make_conditional, add_etag, stream, ...)
    # read and write the body through ``response``, ``is_sequence``, ``iter_encoded``,
    # ``make_sequence`` and ``call_on_close``: these keep ``_body`` / ``_iter`` right.

    @property
    def is_streamed(self) -> bool:
        """True when the body is an iterable without a length (a generator, a file)."""
        if self._body is not None:
            return False
        try:
            len(self._iter)
        except (TypeError, AttributeError):
            return True
        return False

    @property
    def is_sequence(self) -> bool:
        """True when the body is held in memory (bytes, or a list or tuple of chunks)."""
        return self._body is not None or isinstance(self._iter, (list, tuple))

    @property
    def response(self) -> Any:
        """The body as Werkzeug's attribute: a list of chunks, or the streamed iterable.

        A complete body is handed out as a one-item list that becomes the body
        itself, so appending to it (as ``response.stream.write`` does) is kept.
        """
        body = self._body
        if body is not None:
            chunks = [body]
            self._body = None
            self._iter = chunks
            return chunks
        return self._iter

    @response.setter
    def response(self, value: Any) -> None:
        if isinstance(value, (str, bytes, bytearray)):
            body = value.encode(self.charset) if isinstance(value, str) else bytes(value)
            self._body = body
            self._iter = None
            if "Content-Length" in self.headers:
                self.headers["Content-Length"] = str(len(body))
        else:
            self._body = None
            self._iter = value

    def make_sequence(self) -> None:
        """Read a streamed body into memory; its iterable is closed with the response."""
        if self.is_sequence:
            return
        it = self._iter
        if isinstance(it, AsyncIterable) and not isinstance(it, Iterable):
            raise RuntimeError(
                "This response streams an async iterable; read it through a client"
                " instead of get_data()."
            )
        close = getattr(it, "close", None)
        self._body = b"".join(self.iter_encoded())
        self._iter = None
        if close is not None:
            self.call_on_close(close)

    def get_data(self, as_text: bool = False) -> Any:
        """Return the whole body, reading a streamed body into memory first.

        Unlike Werkzeug's, it also reads a stream in :attr:`direct_passthrough` mode
        (a file) when asked; Werkzeug's methods that only need a length
        (:meth:`calculate_content_length`, ``make_conditional``) leave such a stream alone.
        """
        body = self._body
        if body is None:
            if self.direct_passthrough:
                self.make_sequence()
            else:
                self._ensure_sequence()
            body = self._body
            if body is None:  # a list or tuple of chunks, left as it is
                body = b"".join(self.iter_encoded())
        return body.decode(self.charset) if as_text else body

    def set_data(self, value: str | bytes | bytearray) -> None:
        """Replace the body and set ``Content-Length``."""
        body = value.encode(self.charset) if isinstance(value, str) else bytes(value)
        self._body = body
        self._iter = None
        if self.automatically_set_content_length:
            self.headers["Content-Length"] = str(len(body))

    data = property(get_data, set_data, doc="The body as bytes (reads a stream fully).")

    @property
    def text(self) -> str:
        """The body decoded as text."""
        return self.get_data(as_text=True)  # type: ignore[no-any-return]

    def iter_encoded(self) -> Iterator[bytes]:
        """Iterate over the body as bytes chunks.

        The body is taken when this is called, not when iteration starts, so the
        iterator may become the new body (``rv.response = wrap(rv.iter_encoded())``,
        as compressing extensions do) without reading itself.
        """
        if self._body is not None:
            return iter((self._body,))
        return _encoded(self._iter, self.charset)

    def calculate_content_length(self) -> int | None:
        """Return the body's length; a stream is read into memory first, as Werkzeug does.

        None for a stream that may not be read implicitly (:attr:`direct_passthrough`,
        an async iterable).
        """
        body = self._body
        if body is None:
            try:
                self._ensure_sequence()
            except RuntimeError:
                return None
            body = self._body
            if body is None:
                return sum(len(chunk) for chunk in self.iter_encoded())
        return len(body)

    def make_conditional(
        self,
        request_or_environ: dict[str, Any] | Request | _WerkzeugRequest,
        accept_ranges: bool | str = False,
        complete_length: int | None = None,
    ) -> Response:
        """Answer ``If-None-Match``/``If-Modified-Since`` (304, 412) and ``Range`` (206) for a request.

        Werkzeug's method, typed for Erlen's request (or a WSGI environ); pass
        ``complete_length`` for ranges. Returns the response, changed in place.
        """
        return super().make_conditional(  # type: ignore[return-value]
            request_or_environ,  # type: ignore[arg-type]
            accept_ranges,
            complete_length,
        )

    def _wrap_range_response(self, start: int, length: int) -> None:
        # A complete body is cut here; a stream goes through Werkzeug's range wrapper.
        if self.status_code == 206 and self._body is not None:
            self._body = self._body[start : start + length]
            return
        super()._wrap_range_response(start, length)

    @property
    def json(self) -> Any:
        """The body parsed as JSON (for tests)."""
        return self.get_json()

    def get_json(self, force: bool = False, silent: bool = False) -> Any:
        """Parse the body as JSON; None when it is not JSON (unless ``force``)."""
        if not (force or self.is_json):
            return None
        try:
            return self.json_module.loads(self.get_data())
        except ValueError:
            if silent:
                return None
            raise

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    def force_type(cls, response: Any, environ: dict[str, Any] | None = None) -> Any:
        """Make ``response`` an instance of this class, in place when it is a response.

        A Werkzeug (or Flask) response takes this class and keeps its body; any
        other WSGI application is run against ``environ`` for its response.
        """
        if isinstance(response, Response):
            response.__class__ = cls
            return response
        if not isinstance(response, _WerkzeugResponse):
            if environ is None:
                raise TypeError(
                    "cannot convert WSGI application into response objects without an environ"
                )
            from werkzeug.test import run_wsgi_app

            converted = Response(*run_wsgi_app(response, environ))
            converted.__class__ = cls
            return converted
        # Werkzeug's layout (``response``, a list in ``_on_close``) becomes ours.
        state = response.__dict__
        body = state.pop("response", None)
        on_close = state.pop("_on_close", None) or None
        passthrough = state.pop("direct_passthrough", False)
        response.__class__ = cls
        adopted = cast(Response, response)
        adopted._on_close = on_close
        adopted._body = None
        adopted._iter = [] if body is None else body
        if passthrough:
            adopted.direct_passthrough = True
        return adopted

    def call_on_close(self, func: Callable[[], Any]) -> Callable[[], Any]:
        """Run ``func`` when the response has been sent (or closed)."""
        if self._on_close is None:
            self._on_close = []
        self._on_close.append(func)
        return func

    def close(self) -> None:
        """Close the body iterable and run the ``call_on_close`` functions."""
        it = self._iter
        if it is not None:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except TypeError:
                    pass  # an async generator's aclose() coroutine is handled by adapters
        funcs = self._on_close
        if funcs:
            self._on_close = None
            for func in funcs:
                func()

    def freeze(self) -> None:
        """Read the body into memory (even in passthrough mode), set ``Content-Length`` and an ETag."""
        if self._body is None:
            it = self._iter
            if isinstance(it, AsyncIterable) and not isinstance(it, Iterable):
                raise RuntimeError("This response streams an async iterable; it cannot be frozen.")
            close = None if isinstance(it, (list, tuple)) else getattr(it, "close", None)
            self._body = b"".join(self.iter_encoded())
            self._iter = None
            if close is not None:
                self.call_on_close(close)
        self.headers["Content-Length"] = str(len(self._body or b""))
        self.add_etag()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._body is not None:
            size = f"{len(self._body)} bytes"
        elif self.is_sequence:
            size = f"{sum(map(len, self.iter_encoded()))} bytes"
        else:
            size = "streamed"
        return f"<{type(self).__name__} {size} [{self.status}]>"

    # -- what the doors read (erlen.wsgi, erlen.asgi) --------------------------------

    def outgoing(self, method: str) -> tuple[int, str, list[tuple[str, str]], bytes | None, bool]:
        """What a door sends in reply to ``method``: ``(status_code, status, headers, body, close_pending)``.

        ``status`` is the status line (as :attr:`status` gives it). ``headers`` are the
        headers to send, with ``Content-Length`` added for a known body (not for a 1xx or
        204; a 304 has no entity headers, as with Werkzeug). ``body`` is the whole body,
        or None when it is a stream to iterate; it is ``b""`` when no body may be sent
        (``HEAD``, a 1xx, 204 or 304 status). ``close_pending`` tells whether
        :meth:`close` has work to do once the body is out (a stream to close, or
        ``call_on_close`` functions): a door that sees False may skip it.
        """
        # PERF: one call answers all a door asks of a response (header_list, and the
        # status property, whose getter costs ~900 instructions a call, inlined).
        body = self._body
        if body is None:
            body = self._settle()
        close_pending = self._iter is not None or bool(self._on_close)
        code = self._status_code
        status = self._status
        if status is None:
            status = self._status = STATUS_LINES.get(code) or _status_line(code)
        try:
            items: list[tuple[str, str]] = self.headers._list
        except AttributeError:
            items = self._adopt_headers()
        if code < 200 or code == 204 or code == 304:
            # RFC 9110: no Content-Length on 1xx/204; a 304 carries no entity headers.
            drop = _ENTITY_HEADERS if code == 304 else _LENGTH_HEADER
            headers = [kv for kv in items if kv[0].lower() not in drop]
            return code, status, headers, b"", close_pending
        if body is None:
            return code, status, list(items), b"" if method == "HEAD" else None, close_pending
        for k, _ in items:
            # PERF: only a name of the right length is lower-cased.
            if len(k) == 14 and k.lower() == "content-length":
                headers = list(items)
                break
        else:
            headers = [*items, ("Content-Length", str(len(body)))]
        return code, status, headers, b"" if method == "HEAD" else body, close_pending

    def outgoing_raw(
        self, method: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes | None, bool]:
        """What an ASGI door sends: :meth:`outgoing`'s ``(status_code, headers, body,
        close_pending)``, with the headers as latin-1 byte pairs and no status line.
        """
        # PERF: a complete body with a status that has one (most responses) is done in one
        # pass over the headers: the Content-Length check and the encoding together.
        body = self._body
        if body is None:
            body = self._settle()
        code = self._status_code
        if body is None or code < 200 or code == 204 or code == 304:
            code, _status, headers, body, close_pending = self.outgoing(method)
            return code, [_encode_header(kv) for kv in headers], body, close_pending
        close_pending = self._iter is not None or bool(self._on_close)
        cache = _encoded_headers
        out: list[tuple[bytes, bytes]] = []
        sized = False
        try:
            items: list[tuple[str, str]] = self.headers._list
        except AttributeError:
            items = self._adopt_headers()
        for kv in items:
            pair = cache.get(kv)
            if pair is None:
                # (A Content-Length pair is never cached, so a hit cannot be one.)
                k = kv[0]
                if len(k) == 14 and k.lower() == "content-length":
                    sized = True
                pair = _encode_header(kv)
            out.append(pair)
        if not sized:
            out.append((b"content-length", str(len(body)).encode("ascii")))
        return code, out, b"" if method == "HEAD" else body, close_pending

    def _adopt_headers(self) -> list[tuple[str, str]]:
        """Make headers assigned as a mapping or list (``rv.headers = {}``) a ``Headers``.

        Werkzeug copies ``response.headers`` into ``Headers`` when it sends them, so an app
        may assign a plain dict; return the new header list.
        """
        headers = ResponseHeaders(self.headers)
        self.headers = headers
        return headers._list

    def _settle(self) -> bytes | None:
        # A list or tuple of chunks (``response.response = [...]``, or Werkzeug's methods)
        # is a complete body: sent at once, with its length, as Werkzeug does.
        it = self._iter
        if type(it) is not list and type(it) is not tuple:
            return None
        try:
            body = b"".join(self.iter_encoded())
        except TypeError:
            return None  # chunks that are not bytes: the door reports them as it streams
        self._body = body
        self._iter = None
        return body

    @property
    def complete_body(self) -> bytes | None:
        """The whole body when it is known (not a stream), else None."""
        body = self._body
        if body is None:
            body = self._settle()
        return body

    @property
    def body_iterable(self) -> Any:
        """The body's iterable (sync or async) when it is streamed, else None."""
        return self._iter

    @property
    def has_close_functions(self) -> bool:
        """True when ``call_on_close`` functions wait for the body to be sent."""
        return bool(self._on_close)

    def header_list(self) -> list[tuple[str, str]]:
        """Return the headers to send, adding ``Content-Length`` for a known body.

        The list :meth:`outgoing` gives a door. ``automatically_set_content_length`` is
        not read here (a class attribute lookup on every response); :meth:`set_data`,
        ``get_wsgi_headers`` and ``make_conditional`` honour it, as in Werkzeug.
        """
        return self.outgoing("GET")[2]


__all__ = ["DEFAULT_MIMETYPE", "STATUS_LINES", "Response", "complete_response", "content_type_for"]
