"""Send files: :func:`send_file`, :func:`send_from_directory` and the body they stream.

A file is never read into memory whole. Its bytes go out in chunks from a
:class:`FileStream`, which the WSGI door iterates with blocking reads and the
ASGI door iterates asynchronously, each read running in a worker thread so the
event loop never waits on the disk.

The behaviour follows Flask 3 (Werkzeug's ``send_file``), with these
differences where Werkzeug departs from RFC 9110 or can do better:

* preconditions are evaluated in the RFC's order, so ``If-None-Match`` wins over
  ``Range`` (304, not 206), and a failed ``If-Match`` / ``If-Unmodified-Since``
  gives a 412 error page instead of the file with status 412;
* a suffix range longer than the file (``bytes=-500`` of 100 bytes) serves the
  whole file as 206, a range in another unit or a multi-range request is
  ignored (200, the full file), and ``If-Range`` with a date needs an exact match;
* an open file object that can seek gets ``Content-Length`` and range support,
  measured from its current position, like a ``BytesIO``;
* no ``Date`` header is added: the server sends one, and a second would duplicate it.
"""

from __future__ import annotations

import io
import mimetypes
import os
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote
from zlib import adler32

from werkzeug.datastructures import Headers
from werkzeug.exceptions import NotFound, PreconditionFailed, RequestedRangeNotSatisfiable
from werkzeug.http import (
    http_date,
    parse_date,
    parse_etags,
    parse_if_range_header,
    parse_range_header,
    quote_etag,
)
from werkzeug.security import safe_join as _werkzeug_safe_join

from .concurrency import run_in_threadpool
from .globals import _cv_request, current_app

if TYPE_CHECKING:
    from .response import Response

#: Bytes per blocking read when a stream is iterated synchronously (WSGI).
CHUNK_SIZE = 256 * 1024
#: Bytes per read when a stream is iterated asynchronously (ASGI). Each read is a
#: worker-thread hop, which costs 20-50 us on an idle machine and milliseconds on
#: a busy one: on a loaded 2-CPU box, serving 1 GiB through uvicorn took 3.0-4.8 s
#: with 1 MiB reads against 4.4-10 s with 256 KiB reads.
ASYNC_CHUNK_SIZE = 1024 * 1024

# RFC 9110 token characters: a filename made only of these needs no quotes.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# RFC 5987 attr-char punctuation (letters, digits and these stay unescaped).
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"
# Headers that describe a body; a 304 carries none of them.
_BODY_HEADERS = ("Content-Type", "Content-Length", "Content-Encoding", "Last-Modified")


class FileStream:
    """Stream ``length`` bytes of a binary file from its current position, then close it.

    ``for chunk in stream`` reads ``chunk_size`` bytes at a time with blocking
    calls (the WSGI door does this); ``async for chunk in stream`` reads
    ``async_chunk_size`` bytes at a time in a worker thread (the ASGI door does
    this). The file is closed after the last byte, by ``close()`` / ``aclose()``,
    or when the client goes away; closing twice, or while a read is still running
    in a worker thread, is safe.
    """

    __slots__ = ("_file", "_lock", "_offload", "_remaining", "async_chunk_size", "chunk_size")

    def __init__(
        self,
        file: IO[bytes],
        length: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        async_chunk_size: int = ASYNC_CHUNK_SIZE,
    ) -> None:
        self._file: IO[bytes] | None = file
        self._remaining = length
        self.chunk_size = chunk_size
        self.async_chunk_size = async_chunk_size
        # Reading a BytesIO never blocks: a worker-thread hop would only cost time.
        self._offload = not isinstance(file, io.BytesIO)
        # Serialises a read in a worker thread with a close from the event loop.
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """True once the file has been closed."""
        return self._file is None

    def _read(self, size: int) -> bytes:
        with self._lock:
            file = self._file
            if file is None:
                return b""
            remaining = self._remaining
            if remaining is not None and remaining < size:
                size = remaining
            chunk = file.read(size) if size > 0 else b""
            if chunk is None:  # a non-blocking raw file with nothing ready
                chunk = b""
            elif type(chunk) is not bytes:
                chunk = bytes(chunk)
            if remaining is not None:
                remaining -= len(chunk)
                self._remaining = remaining
            if not chunk or remaining == 0:
                # Close right after the last byte, in the thread that read it.
                self._file = None
                file.close()
            return chunk

    def __iter__(self) -> FileStream:
        return self

    def __next__(self) -> bytes:
        chunk = self._read(self.chunk_size)
        if not chunk:
            raise StopIteration
        return chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # A separate async generator, not ``__anext__`` on self: the WSGI door
        # takes any object with ``__anext__`` for an async-only stream.
        if self._offload:
            size = self.async_chunk_size
            while self._file is not None:
                chunk = await run_in_threadpool(self._read, size)
                if not chunk:
                    return
                yield chunk
            return
        while self._file is not None:
            chunk = self._read(self.chunk_size)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        """Close the file (waits for a read in progress to finish)."""
        with self._lock:
            file, self._file = self._file, None
        if file is not None:
            file.close()

    async def aclose(self) -> None:
        """Close the file without blocking the event loop on a read in progress."""
        if self._file is None:
            return
        if self._offload and self._lock.locked():
            # The client left while a worker thread was reading: close once it is done.
            try:
                await run_in_threadpool(self.close)
            finally:
                self.close()
        else:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else f"{self._remaining} bytes left"
        return f"<{type(self).__name__} {state}>"


def send_file(
    path_or_file: os.PathLike[str] | str | IO[bytes],
    mimetype: str | None = None,
    as_attachment: bool = False,
    download_name: str | None = None,
    conditional: bool = True,
    etag: bool | str = True,
    last_modified: datetime | int | float | str | None = None,
    max_age: int | Callable[[str | None], int | None] | None = None,
) -> Response:
    """Send a file from a path or a binary file object, streamed in chunks.

    A relative path is taken from ``current_app.root_path``. The mimetype is
    guessed from ``download_name`` (by default the file's name).
    ``as_attachment`` asks the browser to save the file rather than show it.
    With ``conditional``, ``If-None-Match`` / ``If-Modified-Since`` give 304 and
    ``Range`` gives 206 (416 when it cannot be satisfied). ``etag`` may be a
    string to use instead of the one made from the file's time, size and path.
    ``max_age`` (seconds, or a function of the path) defaults to
    ``current_app.get_send_file_max_age``. A file object passed in is closed
    when the response is done.
    """
    app = current_app
    path: str | None = None
    file: IO[bytes] | None = None
    size: int | None = None
    mtime: float | None = None
    if isinstance(path_or_file, (str, os.PathLike)):
        path = os.path.join(app.root_path, os.fspath(path_or_file))
        st = os.stat(path)
        size = st.st_size
        mtime = st.st_mtime
    else:
        file = path_or_file
        _check_binary(file)
        size = _size_from_position(file)

    # PERF: headers are gathered as a plain list and checked once below, instead
    # of through Headers.__setitem__ (about 3 us per header).
    headers: list[tuple[str, str]] = []
    if download_name is None and path is not None:
        download_name = os.path.basename(path)
    if mimetype is None:
        if download_name is None:
            raise TypeError(
                "Cannot guess the mimetype of a file object without a name:"
                " pass 'mimetype' or 'download_name', or send a path instead."
            )
        mimetype, encoding = mimetypes.guess_type(download_name)
        if mimetype is None:
            mimetype = "application/octet-stream"
        # An attachment keeps its encoding: a saved .tar.gz must stay gzipped.
        if encoding is not None and not as_attachment:
            headers.append(("Content-Encoding", encoding))
    if download_name is not None:
        kind = "attachment" if as_attachment else "inline"
        headers.append(("Content-Disposition", content_disposition(kind, download_name)))
    elif as_attachment:
        raise TypeError(
            "An attachment needs a file name: pass 'download_name' or send a path instead."
        )

    if last_modified is None and mtime is not None:
        last_modified = mtime
    modified: str | None = None
    if last_modified is not None:
        modified = last_modified if isinstance(last_modified, str) else http_date(last_modified)
        headers.append(("Last-Modified", modified))

    if max_age is None:
        max_age = app.get_send_file_max_age
    if callable(max_age):
        max_age = max_age(path)
    if max_age is None:
        headers.append(("Cache-Control", "no-cache"))
    else:
        policy = "public" if max_age > 0 else "no-cache"
        headers.append(("Cache-Control", f"{policy}, max-age={max_age}"))
        headers.append(("Expires", http_date(int(time.time() + max_age))))

    etag_value: str | None = None
    if isinstance(etag, str):
        etag_value = etag
    elif etag and path is not None:
        etag_value = f"{mtime}-{size}-{adler32(os.fsencode(path)) & 0xFFFFFFFF}"
    if etag_value is not None:
        headers.append(("ETag", quote_etag(etag_value)))

    status = 200
    start = 0
    length = size
    req_ctx = _cv_request.get(None)
    method = req_ctx.request.method if req_ctx is not None else "GET"
    if conditional and req_ctx is not None and method in ("GET", "HEAD"):
        req_headers = req_ctx.request.headers
        if size is not None:
            headers.append(("Accept-Ranges", "bytes"))
        outcome = _evaluate_preconditions(req_headers, etag_value, modified)
        if outcome == 412:
            _close_file(file)
            raise PreconditionFailed()
        if outcome == 304:
            _close_file(file)
            return _not_modified(headers)
        if size and "Range" in req_headers and _if_range_holds(req_headers, etag_value, modified):
            try:
                byte_range = _byte_range(req_headers["Range"], size)
            except RequestedRangeNotSatisfiable:
                _close_file(file)
                raise
            if byte_range is not None:
                start, end = byte_range
                length = end - start
                status = 206
                headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))

    if length is not None:
        headers.append(("Content-Length", str(length)))
    x_sendfile = False
    if path is not None and app.config["USE_X_SENDFILE"]:
        # The front server (Apache, lighttpd) reads the file; send only its path.
        headers.append(("X-Sendfile", path))
        x_sendfile = True
    _check_header_values(headers)
    body: Any
    if x_sendfile:
        body = b""
    elif method == "HEAD":
        # The doors send no body for HEAD: spare the open().
        _close_file(file)
        body = b""
    else:
        if file is None:
            assert path is not None
            file = open(path, "rb")  # noqa: SIM115  # FileStream closes it
        if start:
            file.seek(start, io.SEEK_CUR)
        body = FileStream(file, length)
    return _response(body, status, headers, mimetype)


def send_from_directory(
    directory: os.PathLike[str] | str, path: os.PathLike[str] | str, **kwargs: Any
) -> Response:
    """Send a file from ``directory``; a ``path`` that would leave it gives 404.

    ``directory`` is trusted (a relative one is taken from
    ``current_app.root_path``); ``path`` usually comes from the URL and is not.
    ``..`` segments, absolute paths, backslashes, NUL bytes and drive letters
    are refused with :exc:`~werkzeug.exceptions.NotFound`, as is a missing file
    or a directory. Other keyword arguments go to :func:`send_file`.
    """
    joined = _safe_join(os.fspath(directory), os.fspath(path))
    if joined is None:
        raise NotFound()
    full = os.path.join(current_app.root_path, joined)
    if not os.path.isfile(full):
        raise NotFound()
    try:
        return send_file(full, **kwargs)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound() from None  # removed or replaced since the check above


def content_disposition(kind: str, filename: str) -> str:
    """Return a ``Content-Disposition`` value (``inline`` or ``attachment``) for ``filename``.

    A non-ASCII name is sent as RFC 5987 ``filename*=UTF-8''...`` together with
    an ASCII ``filename`` fallback for old clients.
    """
    if filename.isascii():
        return f"{kind}; filename={_quote_param(filename)}"
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    encoded = quote(filename, safe=_ATTR_CHAR_SAFE)
    return f"{kind}; filename={_quote_param(fallback)}; filename*=UTF-8''{encoded}"


def _quote_param(value: str) -> str:
    if value and all(c in _TOKEN_CHARS for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _safe_join(directory: str, untrusted: str) -> str | None:
    # Werkzeug's safe_join refuses "..", absolute paths and (on Windows) device
    # names; backslashes and drive letters only on Windows. Refuse them everywhere,
    # so a path that is safe here is safe on every platform.
    if "\x00" in untrusted or "\\" in untrusted:
        return None
    for segment in untrusted.split("/"):
        if len(segment) > 1 and segment[1] == ":" and segment[0].isascii() and segment[0].isalpha():
            return None
    return _werkzeug_safe_join(directory, untrusted)


def _check_binary(file: Any) -> None:
    mode = getattr(file, "mode", None)
    if isinstance(file, io.TextIOBase) or (isinstance(mode, str) and mode and "b" not in mode):
        raise ValueError(
            "send_file needs a binary file: open it in binary mode ('rb') or use io.BytesIO."
        )


def _size_from_position(file: IO[bytes]) -> int | None:
    seekable = getattr(file, "seekable", None)
    try:
        if seekable is not None and not seekable():
            return None
        pos = file.tell()
        end = file.seek(0, io.SEEK_END)
        if not isinstance(end, int):
            end = file.tell()
        file.seek(pos)
    except (AttributeError, OSError, ValueError):
        return None
    return max(end - pos, 0)


def _close_file(file: IO[bytes] | None) -> None:
    if file is not None:
        file.close()


def _evaluate_preconditions(
    req_headers: Headers, etag: str | None, last_modified: str | None
) -> int | None:
    """Return 412 or 304 when a precondition decides the answer, else None (RFC 9110 13.2.2)."""
    if_match = req_headers.get("If-Match")
    if if_match is not None:
        tags = parse_etags(if_match)
        if not (tags.star_tag or (etag is not None and tags.is_strong(etag))):
            return 412
    elif last_modified is not None and "If-Unmodified-Since" in req_headers:
        since = parse_date(req_headers["If-Unmodified-Since"])
        modified = parse_date(last_modified)
        if since is not None and modified is not None and modified > since:
            return 412
    if_none_match = req_headers.get("If-None-Match")
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        if tags.star_tag or (etag is not None and tags.contains_weak(etag)):
            return 304
        return None
    if last_modified is not None and "If-Modified-Since" in req_headers:
        since = parse_date(req_headers["If-Modified-Since"])
        modified = parse_date(last_modified)
        if since is not None and modified is not None and modified <= since:
            return 304
    return None


def _if_range_holds(req_headers: Headers, etag: str | None, last_modified: str | None) -> bool:
    """Return whether ``If-Range`` (if any) still matches, so the range may be served."""
    value = req_headers.get("If-Range")
    if value is None:
        return True
    if_range = parse_if_range_header(value)
    if if_range.etag is not None:
        # Only a strong validator can vouch for bytes being the same.
        return etag is not None and not value.lstrip().startswith("W/") and if_range.etag == etag
    if if_range.date is not None and last_modified is not None:
        return parse_date(last_modified) == if_range.date
    return False


def _byte_range(value: str, size: int) -> tuple[int, int] | None:
    """Return ``(start, stop)`` for a ``Range`` header, None to ignore it; 416 if unsatisfiable."""
    parsed = parse_range_header(value)
    if parsed is None:
        raise RequestedRangeNotSatisfiable(length=size)
    if parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    begin, end = parsed.ranges[0]
    if end is None:
        if begin < 0:
            begin = max(size + begin, 0)
        end = size
    else:
        end = min(end, size)
    if begin >= size:
        raise RequestedRangeNotSatisfiable(length=size)
    return begin, end


def _response(
    body: Any, status: int, headers: list[tuple[str, str]], mimetype: str | None
) -> Response:
    rv = current_app.response_class(body, status, mimetype=mimetype, direct_passthrough=True)
    if mimetype is None:
        rv.headers.pop("Content-Type", None)
    rv.headers._list.extend(headers)
    return rv


def _check_header_values(headers: list[tuple[str, str]]) -> None:
    # File names, paths and user-given validators end up in these values:
    # refuse anything that would split the header block.
    for _, value in headers:
        if "\n" in value or "\r" in value or "\x00" in value:
            raise ValueError(f"Header value {value!r} contains a line break or NUL byte.")


def _not_modified(headers: list[tuple[str, str]]) -> Response:
    kept = [(k, v) for k, v in headers if k not in _BODY_HEADERS]
    _check_header_values(kept)
    # An empty iterable, not b"": a 304 must not claim "Content-Length: 0".
    return _response((), 304, kept, None)


__all__ = [
    "ASYNC_CHUNK_SIZE",
    "CHUNK_SIZE",
    "FileStream",
    "content_disposition",
    "send_file",
    "send_from_directory",
]
