"""The body the ASGI door receives before dispatch reads as the same bytes do under WSGI.

A body that arrives whole and of exactly its declared length is kept as bytes and read
without a stream; every other body (chunked, shorter or longer than declared, spooled)
takes the stream. Each case is sent over the ASGI door in one or several messages and
over the WSGI door with the same bytes, and must answer the same.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from tests.support import asgi_request
from werkzeug.test import EnvironBuilder

from erlen import Erlen, request
from erlen.asgi import ASGIBody


def _app() -> Erlen:
    app = Erlen(__name__)

    @app.before_request
    def lower_limit() -> None:
        limit = request.args.get("limit", type=int)
        if limit is not None:
            request.max_content_length = limit

    @app.post("/data")
    def data() -> str:
        first = request.get_data(as_text=True)
        # Read, the body is consumed: the stream is empty and the cached data stays.
        return f"{first}|{request.stream.read()!r}|{request.get_data(as_text=True)}"

    @app.post("/uncached")
    def uncached() -> str:
        first = request.get_data(cache=False)
        return f"{first!r}|{request.get_data(cache=False)!r}"

    @app.post("/stream")
    def stream() -> str:
        return request.stream.read().decode()

    @app.post("/form")
    def form() -> Any:
        return {"form": request.form.to_dict(), "data": request.get_data(as_text=True)}

    @app.post("/json")
    def json() -> Any:
        return request.get_json()

    return app


CASES = [
    # (name, path, content type, declared length (None: chunked), body chunks, expected)
    ("whole", "/data", None, 5, [b"abcde"], (200, b"abcde|b''|abcde")),
    ("two messages", "/data", None, 5, [b"ab", b"cde"], (200, b"abcde|b''|abcde")),
    ("empty message last", "/data", None, 5, [b"abcde", b""], (200, b"abcde|b''|abcde")),
    ("chunked", "/data", None, None, [b"abc", b"de"], (200, b"abcde|b''|abcde")),
    ("longer than declared", "/data", None, 3, [b"abcde"], (200, b"abc|b''|abc")),
    ("shorter than declared", "/data", None, 9, [b"abcde"], (400, None)),
    ("limit lowered by a hook", "/data?limit=4", None, 5, [b"abcde"], (413, None)),
    ("limit lowered, chunked", "/data?limit=4", None, None, [b"abcde"], (413, None)),
    ("limit kept", "/data?limit=5", None, 5, [b"abcde"], (200, b"abcde|b''|abcde")),
    ("uncached", "/uncached", None, 5, [b"abcde"], (200, b"b'abcde'|b''")),
    ("stream", "/stream", None, 5, [b"abcde"], (200, b"abcde")),
    ("stream, longer", "/stream", None, 3, [b"abcde"], (200, b"abc")),
    (
        "form",
        "/form",
        "application/x-www-form-urlencoded",
        7,
        [b"a=1&b=2"],
        (200, b'{"data":"","form":{"a":"1","b":"2"}}\n'),
    ),
    (
        "form, shorter",
        "/form",
        "application/x-www-form-urlencoded",
        20,
        [b"a=1&b=2"],
        (400, None),
    ),
    ("json", "/json", "application/json", 8, [b'{"a": 1}'], (200, b'{"a":1}\n')),
    ("json, two messages", "/json", "application/json", 8, [b'{"a"', b": 1}"], (200, b'{"a":1}\n')),
]


def _through_asgi(
    path: str, content_type: str | None, declared: int | None, chunks: list[bytes]
) -> tuple[int, bytes]:
    headers = [(b"content-type", content_type.encode())] if content_type else []
    if declared is None:
        headers.append((b"transfer-encoding", b"chunked"))
    else:
        headers.append((b"content-length", str(declared).encode()))
    route, _, query = path.partition("?")
    status, _headers, body = asyncio.run(
        asgi_request(
            _app(),
            "POST",
            route,
            query_string=query.encode(),
            headers=headers,
            body_chunks=chunks,
        )
    )
    return status, body


def _through_wsgi(
    path: str, content_type: str | None, declared: int | None, chunks: list[bytes]
) -> tuple[int, bytes]:
    route, _, query = path.partition("?")
    environ = EnvironBuilder(route, method="POST", query_string=query).get_environ()
    environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    if declared is None:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(declared)
    statuses: list[str] = []
    result = _app()(environ, lambda status, headers, exc_info=None: statuses.append(status))
    body = b"".join(result)
    return int(statuses[0].split()[0]), body


@pytest.mark.parametrize(
    ("path", "content_type", "declared", "chunks", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_received_body_reads_as_under_wsgi(
    path: str,
    content_type: str | None,
    declared: int | None,
    chunks: list[bytes],
    expected: tuple[int, bytes | None],
) -> None:
    status, body = _through_asgi(path, content_type, declared, chunks)
    assert status == expected[0], body
    if expected[1] is not None:
        assert body == expected[1]
    assert (status, body) == _through_wsgi(path, content_type, declared, chunks)


def test_read_all_gives_bytes_only_for_a_body_of_its_declared_length() -> None:
    def receiver(chunks: list[bytes], declared: int | None) -> ASGIBody:
        messages = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        return ASGIBody(receive, declared)

    async def read(chunks: list[bytes], declared: int | None, spool: int = 1024) -> Any:
        return await receiver(chunks, declared).read_all(None, spool)

    assert asyncio.run(read([b"abc"], 3)) == b"abc"
    assert asyncio.run(read([b"a", b"bc"], 3)) == b"abc"
    for chunks, declared in (([b"abc"], None), ([b"abc"], 4), ([b"abc"], 2)):
        body = asyncio.run(read(chunks, declared))
        assert not isinstance(body, bytes)
        assert body.read() == b"abc"
    # Over the spool size the body is a file, also when its length was declared.
    spooled = asyncio.run(read([b"ab", b"cd"], 4, spool=3))
    assert not isinstance(spooled, (bytes, io.BytesIO))
    assert spooled.read() == b"abcd"
    spooled.close()


def test_a_closed_request_no_longer_reads_its_received_body() -> None:
    seen: list[Any] = []
    app = Erlen(__name__)

    @app.post("/")
    def view() -> str:
        seen.append(request._get_current_object())  # type: ignore[attr-defined]
        return "ok"

    asyncio.run(
        asgi_request(app, "POST", "/", headers=[(b"content-length", b"3")], body_chunks=[b"abc"])
    )
    (closed,) = seen
    assert closed._received_body is None
