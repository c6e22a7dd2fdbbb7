"""Files: the static route, send_file, send_from_directory, FileStream, docs examples.

Request-level tests run through both doors (the ``client`` fixture); a few cases are
compared with Flask as an oracle. The 1 GB download from real servers is in
``tests/integration/test_files_real_server.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import quote, unquote

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.http import http_date, parse_date, parse_options_header
from werkzeug.test import EnvironBuilder

import erlen
import erlen.files
from erlen import Erlen, request, send_file, send_from_directory
from erlen.files import ASYNC_CHUNK_SIZE, CHUNK_SIZE, FileStream, content_disposition

HELLO = b"Hello, static world!\n"
DATA = bytes(range(256)) * 4  # 1 KiB, every offset distinguishable modulo 256
BIG = bytes((i * 7) % 251 for i in range(CHUNK_SIZE * 2 + 12345))  # three chunks
HUGE = BIG * 8  # several chunks at either door's chunk size
SECRET = b"top secret"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "files.md"

# -- the app under test ------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    """Create the static folders and a secret file outside them."""
    (root / "static" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "static" / "hello.txt").write_bytes(HELLO)
    (root / "static" / "data.bin").write_bytes(DATA)
    (root / "static" / "big.bin").write_bytes(BIG)
    (root / "static" / "sub" / "page.html").write_bytes(b"<p>page</p>")
    (root / "static" / "archive.tar.gz").write_bytes(b"\x1f\x8b not really")
    (root / "static" / "empty.txt").write_bytes(b"")
    (root / "bpstatic").mkdir(exist_ok=True)
    (root / "bpstatic" / "bp.css").write_bytes(b"body { color: red }")
    (root / "secret.txt").write_bytes(SECRET)
    # Names that are plain files on POSIX but escapes on Windows: refused everywhere.
    (root / "static" / "C:").mkdir(exist_ok=True)
    (root / "static" / "C:" / "secret.txt").write_bytes(SECRET)
    (root / "static" / "..\\secret.txt").write_bytes(SECRET)


def build_app(module: ModuleType, app_class: type, root: Path) -> Any:
    """The same app on Flask or Erlen (``module`` is ``flask`` or ``erlen``)."""
    app = app_class("files_test_app", root_path=str(root))
    bp = module.Blueprint(
        "bp", "files_test_app", static_folder="bpstatic", url_prefix="/bp", root_path=str(root)
    )
    app.register_blueprint(bp)
    send = module.send_file

    @app.route("/path")
    def path() -> Any:
        return send("static/hello.txt")

    @app.route("/abs")
    def absolute() -> Any:
        return send(root / "static" / "data.bin")

    @app.route("/bytes")
    def from_bytes() -> Any:
        return send(io.BytesIO(DATA), mimetype="application/octet-stream")

    @app.route("/named/<name>")
    def named(name: str) -> Any:
        attach = module.request.args.get("attach") == "1"
        return send(io.BytesIO(b"x"), download_name=name, as_attachment=attach)

    @app.route("/max-age")
    def max_age() -> Any:
        return send("static/hello.txt", max_age=120)

    @app.route("/max-age-fn")
    def max_age_fn() -> Any:
        return send("static/hello.txt", max_age=lambda p: 7 if p.endswith(".txt") else 0)

    @app.route("/custom-etag")
    def custom_etag() -> Any:
        return send("static/hello.txt", etag="v1")

    @app.route("/no-etag")
    def no_etag() -> Any:
        return send("static/hello.txt", etag=False)

    @app.route("/unconditional")
    def unconditional() -> Any:
        return send("static/hello.txt", conditional=False)

    @app.route("/last-modified")
    def last_modified() -> Any:
        when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        return send(io.BytesIO(DATA), mimetype="application/octet-stream", last_modified=when)

    @app.route("/gz")
    def gz() -> Any:
        attach = module.request.args.get("attach") == "1"
        return send("static/archive.tar.gz", as_attachment=attach)

    @app.route("/post", methods=["POST"])
    def post() -> Any:
        return send("static/hello.txt")

    @app.route("/dir/<path:name>")
    def from_dir(name: str) -> Any:
        return module.send_from_directory("static", name)

    return app


@pytest.fixture
def app(tmp_path: Path) -> Erlen:
    make_tree(tmp_path)
    app: Erlen = build_app(erlen, Erlen, tmp_path)
    seen: list[tuple[str | None, Any]] = []
    app.extensions["seen"] = seen

    @app.teardown_request
    def remember(exc: BaseException | None) -> None:
        seen.append((request.endpoint, request.view_args))

    return app


@pytest.fixture(params=["wsgi", "asgi"])
def client(request: pytest.FixtureRequest, app: Erlen) -> Any:
    """The app's test client through the WSGI or the ASGI door."""
    return app.test_client(asgi=(request.param == "asgi"))


def get(client: Any, path: str, **kwargs: Any) -> Any:
    """Send a request and close the response at once (``buffered``), as a server would."""
    kwargs.setdefault("buffered", True)
    return client.open(path, **kwargs)


# -- the static route --------------------------------------------------------------------------


def test_static_route_serves_file_with_validators(client: Any, tmp_path: Path) -> None:
    rv = get(client, "/static/hello.txt")
    assert rv.status_code == 200
    assert rv.data == HELLO
    assert rv.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert rv.headers["Content-Length"] == str(len(HELLO))
    assert rv.headers["Content-Disposition"] == "inline; filename=hello.txt"
    assert rv.headers["Cache-Control"] == "no-cache"
    assert "Expires" not in rv.headers
    assert rv.headers["Accept-Ranges"] == "bytes"
    stat = (tmp_path / "static" / "hello.txt").stat()
    assert rv.headers["Last-Modified"] == http_date(stat.st_mtime)
    etag = rv.headers["ETag"]
    assert re.fullmatch(rf'"{re.escape(str(stat.st_mtime))}-{len(HELLO)}-\d+"', etag)
    assert get(client, "/static/sub/page.html").data == b"<p>page</p>"


@pytest.mark.parametrize("setting", [3600, timedelta(hours=1)], ids=["int", "timedelta"])
def test_static_route_max_age_from_config(client: Any, app: Erlen, setting: Any) -> None:
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = setting
    before = time.time()
    rv = get(client, "/static/hello.txt")
    assert rv.headers["Cache-Control"] == "public, max-age=3600"
    expires = parse_date(rv.headers["Expires"])
    assert expires is not None
    assert before + 3600 - 2 <= expires.timestamp() <= time.time() + 3600 + 1


def test_get_send_file_max_age_override(client: Any, tmp_path: Path) -> None:
    class App(Erlen):
        def get_send_file_max_age(self, filename: str | None) -> int | None:
            return 60 if filename and filename.endswith(".html") else None

    make_tree(tmp_path)
    c = App("files_override", root_path=str(tmp_path)).test_client(asgi=client.asgi)
    assert get(c, "/static/sub/page.html").headers["Cache-Control"] == "public, max-age=60"
    assert get(c, "/static/hello.txt").headers["Cache-Control"] == "no-cache"


def test_blueprint_static_folder(client: Any, app: Erlen) -> None:
    rv = get(client, "/bp/bpstatic/bp.css")
    assert rv.status_code == 200
    assert rv.data == b"body { color: red }"
    assert rv.headers["Content-Type"] == "text/css; charset=utf-8"
    with app.test_request_context():
        assert erlen.url_for("bp.static", filename="bp.css") == "/bp/bpstatic/bp.css"
        assert erlen.url_for("static", filename="hello.txt") == "/static/hello.txt"
    assert get(client, "/bp/bpstatic/../secret.txt").status_code == 404


def test_custom_static_folder_and_url(client: Any, tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.js").write_bytes(b"let a = 1;")
    app = Erlen(
        "files_custom", static_folder="assets", static_url_path="/a", root_path=str(tmp_path)
    )
    c = app.test_client(asgi=client.asgi)
    rv = get(c, "/a/a.js")
    assert rv.status_code == 200
    assert rv.data == b"let a = 1;"
    assert get(c, "/static/a.js").status_code == 404


def test_static_folder_none_disables_route(client: Any, tmp_path: Path) -> None:
    make_tree(tmp_path)
    app = Erlen("files_nostatic", static_folder=None, root_path=str(tmp_path))
    assert not app.has_static_folder
    assert list(app.url_map.iter_rules()) == []
    assert get(app.test_client(asgi=client.asgi), "/static/hello.txt").status_code == 404
    with app.test_request_context(), pytest.raises(RuntimeError, match="static_folder"):
        app.send_static_file("hello.txt")


# -- send_file ---------------------------------------------------------------------------------


def test_send_file_from_relative_and_absolute_path(client: Any) -> None:
    rv = get(client, "/path")
    assert (rv.status_code, rv.data) == (200, HELLO)
    assert rv.headers["Content-Type"] == "text/plain; charset=utf-8"
    rv = get(client, "/abs")
    assert (rv.status_code, rv.data) == (200, DATA)
    assert rv.headers["Content-Type"] == "application/octet-stream"
    assert rv.headers["Content-Disposition"] == "inline; filename=data.bin"


def test_send_file_from_bytesio(client: Any) -> None:
    rv = get(client, "/bytes")
    assert rv.status_code == 200
    assert rv.data == DATA
    assert rv.headers["Content-Length"] == str(len(DATA))
    assert rv.headers["Content-Type"] == "application/octet-stream"
    # A file object has no path: no ETag, no Last-Modified, no Content-Disposition.
    for name in ("ETag", "Last-Modified", "Content-Disposition"):
        assert name not in rv.headers


def test_send_file_large_file_in_several_chunks(client: Any) -> None:
    rv = get(client, "/static/big.bin")
    assert rv.status_code == 200
    assert rv.headers["Content-Length"] == str(len(BIG))
    assert rv.data == BIG


def test_send_file_from_open_file_is_closed_afterwards(
    client: Any, app: Erlen, tmp_path: Path
) -> None:
    opened: list[IO[bytes]] = []

    @app.route("/open")
    def open_file() -> Any:
        f = open(tmp_path / "static" / "data.bin", "rb")  # noqa: SIM115
        f.seek(256)
        opened.append(f)
        return send_file(f, download_name="data.bin")

    rv = get(client, "/open")
    assert rv.status_code == 200
    assert rv.data == DATA[256:]
    assert rv.headers["Content-Length"] == str(len(DATA) - 256)
    assert opened[0].closed
    rv = get(client, "/open", headers={"Range": "bytes=0-9"})
    assert rv.status_code == 206
    assert rv.data == DATA[256:266]
    assert opened[1].closed


def test_send_file_unseekable_stream_has_no_length_or_ranges(client: Any, app: Erlen) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.parts = [b"abc", b"def"]

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            if not self.parts:
                return 0
            part = self.parts.pop(0)
            buffer[: len(part)] = part
            return len(part)

    @app.route("/pipe")
    def pipe() -> Any:
        return send_file(Pipe(), mimetype="text/plain")

    rv = get(client, "/pipe", headers={"Range": "bytes=0-1"})
    assert rv.status_code == 200
    assert rv.data == b"abcdef"
    assert "Accept-Ranges" not in rv.headers
    assert "Content-Range" not in rv.headers


def test_send_file_errors(app: Erlen, tmp_path: Path) -> None:
    with app.test_request_context():
        with pytest.raises(TypeError, match="mimetype"):
            send_file(io.BytesIO(b"x"))
        with pytest.raises(TypeError, match="download_name"):
            send_file(io.BytesIO(b"x"), mimetype="text/plain", as_attachment=True)
        with (
            open(tmp_path / "static" / "hello.txt") as text,
            pytest.raises(ValueError, match="binary mode"),
        ):
            send_file(text, mimetype="text/plain")
        with pytest.raises(ValueError, match="binary mode"):
            send_file(io.StringIO("x"), mimetype="text/plain")
        with pytest.raises(FileNotFoundError):
            send_file("static/missing.txt")
        # Values that would split the header block are refused before the file is opened.
        with pytest.raises(ValueError, match="line break"):
            send_file("static/hello.txt", download_name="a.txt\r\nSet-Cookie: x=1")
        with pytest.raises(ValueError, match="line break"):
            send_file("static/hello.txt", etag="v1\nX: y")


def test_send_file_content_encoding_only_inline(client: Any) -> None:
    rv = get(client, "/gz")
    assert rv.headers["Content-Type"] == "application/x-tar"
    assert rv.headers["Content-Encoding"] == "gzip"
    rv = get(client, "/gz?attach=1")
    assert "Content-Encoding" not in rv.headers
    assert rv.headers["Content-Disposition"] == "attachment; filename=archive.tar.gz"


@pytest.mark.parametrize(
    ("name", "attach", "expected"),
    [
        ("report.csv", True, "attachment; filename=report.csv"),
        ("report.csv", False, "inline; filename=report.csv"),
        ("my report.csv", True, 'attachment; filename="my report.csv"'),
        ('say "hi".txt', True, 'attachment; filename="say \\"hi\\".txt"'),
        ("back\\slash.txt", True, 'attachment; filename="back\\\\slash.txt"'),
        (
            "Ünïcode 文件.txt",
            True,
            "attachment; filename=\"Unicode .txt\"; filename*=UTF-8''"
            "%C3%9Cn%C3%AFcode%20%E6%96%87%E4%BB%B6.txt",
        ),
        ("€uro.txt", False, "inline; filename=uro.txt; filename*=UTF-8''%E2%82%ACuro.txt"),
    ],
    ids=["ascii", "inline", "space", "quotes", "backslash", "non-ascii", "non-ascii-inline"],
)
def test_attachment_names(client: Any, name: str, attach: bool, expected: str) -> None:
    rv = get(
        client, "/named/" + quote(name, safe=""), query_string={"attach": "1"} if attach else {}
    )
    assert rv.status_code == 200
    value = rv.headers["Content-Disposition"]
    assert value == expected
    assert content_disposition("attachment" if attach else "inline", name) == expected
    # A client decodes the name back.
    _, params = parse_options_header(value)
    if "filename*" in params:
        assert unquote(params["filename*"].removeprefix("UTF-8''")) == name
    else:
        assert params["filename"] == name


def test_attachment_name_through_the_doors(client: Any) -> None:
    rv = get(client, "/named/r%C3%A9sum%C3%A9.pdf", query_string={"attach": "1"})
    assert rv.headers["Content-Type"] == "application/pdf"
    assert rv.headers["Content-Disposition"] == (
        "attachment; filename=resume.pdf; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )


def test_max_age_argument(client: Any) -> None:
    assert get(client, "/max-age").headers["Cache-Control"] == "public, max-age=120"
    assert get(client, "/max-age-fn").headers["Cache-Control"] == "public, max-age=7"


def test_x_sendfile(client: Any, app: Erlen, tmp_path: Path) -> None:
    app.config["USE_X_SENDFILE"] = True
    rv = get(client, "/static/hello.txt")
    assert rv.status_code == 200
    assert rv.data == b""
    assert rv.headers["X-Sendfile"] == os.path.join(str(tmp_path), "static", "hello.txt")
    assert rv.headers["Content-Length"] == str(len(HELLO))
    rv = get(client, "/static/hello.txt", headers={"If-None-Match": rv.headers["ETag"]})
    assert rv.status_code == 304
    assert "X-Sendfile" not in rv.headers
    # A file object has no path for the front server: it is sent by Python.
    assert get(client, "/bytes").data == DATA


# -- conditional requests ----------------------------------------------------------------------


def test_if_none_match_gives_304(client: Any) -> None:
    first = get(client, "/static/hello.txt")
    etag = first.headers["ETag"]
    rv = get(client, "/static/hello.txt", headers={"If-None-Match": etag})
    assert rv.status_code == 304
    assert rv.data == b""
    assert rv.headers["ETag"] == etag
    assert rv.headers["Cache-Control"] == "no-cache"
    # A 304 describes no body: no Content-Type, and no "Content-Length: 0".
    for name in ("Content-Type", "Content-Length", "Last-Modified"):
        assert name not in rv.headers
    assert (
        get(client, "/static/hello.txt", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    )
    assert (
        get(client, "/static/hello.txt", headers={"If-None-Match": '"x", ' + etag}).status_code
        == 304
    )
    assert get(client, "/static/hello.txt", headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_gives_304(client: Any) -> None:
    last_modified = get(client, "/static/hello.txt").headers["Last-Modified"]
    rv = get(client, "/static/hello.txt", headers={"If-Modified-Since": last_modified})
    assert rv.status_code == 304
    assert rv.data == b""
    later = http_date(time.time() + 3600)
    assert get(client, "/static/hello.txt", headers={"If-Modified-Since": later}).status_code == 304
    earlier = "Thu, 01 Jan 2004 00:00:00 GMT"
    rv = get(client, "/static/hello.txt", headers={"If-Modified-Since": earlier})
    assert (rv.status_code, rv.data) == (200, HELLO)
    # If-None-Match decides when both are sent (RFC 9110 13.1.3).
    rv = get(
        client,
        "/static/hello.txt",
        headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified},
    )
    assert rv.status_code == 200


def test_last_modified_argument(client: Any) -> None:
    rv = get(client, "/last-modified")
    assert rv.headers["Last-Modified"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    rv = get(
        client, "/last-modified", headers={"If-Modified-Since": "Thu, 02 Jan 2020 03:04:05 GMT"}
    )
    assert rv.status_code == 304


def test_etag_argument(client: Any) -> None:
    rv = get(client, "/custom-etag")
    assert rv.headers["ETag"] == '"v1"'
    assert get(client, "/custom-etag", headers={"If-None-Match": '"v1"'}).status_code == 304
    rv = get(client, "/no-etag")
    assert "ETag" not in rv.headers
    assert "Last-Modified" in rv.headers


def test_if_match_and_if_unmodified_since_give_412(client: Any) -> None:
    etag = get(client, "/static/hello.txt").headers["ETag"]
    assert get(client, "/static/hello.txt", headers={"If-Match": etag}).status_code == 200
    assert get(client, "/static/hello.txt", headers={"If-Match": "*"}).status_code == 200
    rv = get(client, "/static/hello.txt", headers={"If-Match": '"nope"'})
    assert rv.status_code == 412
    assert HELLO not in rv.data
    rv = get(
        client,
        "/static/hello.txt",
        headers={"If-Unmodified-Since": "Thu, 01 Jan 2004 00:00:00 GMT"},
    )
    assert rv.status_code == 412


def test_unconditional_and_post_ignore_validators(client: Any) -> None:
    etag = get(client, "/path").headers["ETag"]
    rv = get(client, "/unconditional", headers={"If-None-Match": etag, "Range": "bytes=0-1"})
    assert (rv.status_code, rv.data) == (200, HELLO)
    assert "Accept-Ranges" not in rv.headers
    rv = get(client, "/post", method="POST", headers={"If-None-Match": etag, "Range": "bytes=0-1"})
    assert (rv.status_code, rv.data) == (200, HELLO)


# -- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=-10", len(DATA) - 10, len(DATA)),
        ("bytes=1000-", 1000, len(DATA)),
        ("bytes=500-599", 500, 600),
        ("bytes=1020-5000", 1020, len(DATA)),
        ("bytes=-5000", 0, len(DATA)),
    ],
    ids=["first-bytes", "suffix", "open", "middle", "past-end", "suffix-longer-than-file"],
)
@pytest.mark.parametrize("url", ["/static/data.bin", "/bytes"], ids=["path", "bytesio"])
def test_range_gives_206(client: Any, url: str, spec: str, start: int, stop: int) -> None:
    rv = get(client, url, headers={"Range": spec})
    assert rv.status_code == 206
    assert rv.data == DATA[start:stop]
    assert rv.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"
    assert rv.headers["Content-Length"] == str(stop - start)
    assert rv.headers["Accept-Ranges"] == "bytes"


def test_range_across_chunks(client: Any) -> None:
    start, stop = CHUNK_SIZE - 100, 2 * CHUNK_SIZE + 100
    rv = get(client, "/static/big.bin", headers={"Range": f"bytes={start}-{stop - 1}"})
    assert rv.status_code == 206
    assert rv.data == BIG[start:stop]


@pytest.mark.parametrize("spec", ["bytes=1024-", "bytes=5000-6000", "bytes=abc", "bytes=5-1"])
def test_unsatisfiable_range_gives_416(client: Any, spec: str) -> None:
    rv = get(client, "/static/data.bin", headers={"Range": spec})
    assert rv.status_code == 416
    assert rv.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert DATA not in rv.data


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-1"], ids=["multi", "unit"])
def test_ignored_range_gives_200(client: Any, spec: str) -> None:
    rv = get(client, "/static/data.bin", headers={"Range": spec})
    assert (rv.status_code, rv.data) == (200, DATA)


def test_range_on_empty_file_gives_200(client: Any) -> None:
    rv = get(client, "/static/empty.txt", headers={"Range": "bytes=0-9"})
    assert (rv.status_code, rv.data) == (200, b"")
    assert rv.headers["Content-Length"] == "0"


def test_if_range(client: Any) -> None:
    first = get(client, "/static/data.bin")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    rv = get(client, "/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (rv.status_code, rv.data) == (206, DATA[:10])
    rv = get(client, "/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": last_modified})
    assert (rv.status_code, rv.data) == (206, DATA[:10])
    for stale in ('"changed"', f"W/{etag}", "Thu, 01 Jan 2004 00:00:00 GMT"):
        rv = get(client, "/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": stale})
        assert (rv.status_code, rv.data) == (200, DATA), stale
        assert "Content-Range" not in rv.headers


def test_if_none_match_wins_over_range(client: Any) -> None:
    etag = get(client, "/static/data.bin").headers["ETag"]
    rv = get(client, "/static/data.bin", headers={"Range": "bytes=0-9", "If-None-Match": etag})
    assert rv.status_code == 304


# -- HEAD --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/static/hello.txt", "/bytes", "/static/big.bin"])
def test_head_has_headers_and_no_body(client: Any, url: str) -> None:
    full = get(client, url)
    rv = get(client, url, method="HEAD")
    assert rv.status_code == 200
    assert rv.data == b""
    assert rv.headers["Content-Length"] == str(len(full.data))
    for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Accept-Ranges"):
        assert rv.headers.get(name) == full.headers.get(name)


def test_head_does_not_open_the_file(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []
    monkeypatch.setattr(erlen.files, "open", lambda *a: opened.append(a), raising=False)
    rv = get(client, "/static/hello.txt", method="HEAD")
    assert (rv.status_code, rv.headers["Content-Length"]) == (200, str(len(HELLO)))
    assert opened == []


def test_head_with_range(client: Any) -> None:
    rv = get(client, "/static/data.bin", method="HEAD", headers={"Range": "bytes=10-19"})
    assert rv.status_code == 206
    assert rv.data == b""
    assert rv.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    assert rv.headers["Content-Length"] == "10"


# -- path traversal ----------------------------------------------------------------------------

TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/..\\secret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/sub\\..\\..\\secret.txt",
    "/static/hello.txt%00",
    "/static/%00../secret.txt",
    "/static/C:/secret.txt",
    "/static/c:%5csecret.txt",
    "/static/sub",
    "/static/missing.txt",
    "/dir/../secret.txt",
    "/dir/%2e%2e/secret.txt",
    "/dir/..%5csecret.txt",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_traversal_through_routes_is_404(client: Any, app: Erlen, url: str) -> None:
    rv = get(client, url)
    assert rv.status_code == 404
    assert SECRET not in rv.data
    endpoint, view_args = app.extensions["seen"][-1]
    # The request reached the file view: it was refused there, not by routing.
    assert endpoint in ("static", "from_dir")
    assert view_args


@pytest.mark.parametrize(
    "url", ["/static//etc/passwd", "/static/%2Fetc%2Fpasswd", "/static//SECRET"]
)
def test_absolute_path_through_static_route_is_404(client: Any, tmp_path: Path, url: str) -> None:
    url = url.replace("/SECRET", str(tmp_path / "secret.txt"))
    rv = get(client, url, follow_redirects=True)
    assert rv.status_code == 404
    assert SECRET not in rv.data


UNTRUSTED = [
    "../secret.txt",
    "sub/../../secret.txt",
    "..",
    "/etc/passwd",
    "SECRET",  # replaced by the absolute path of the secret
    "..\\secret.txt",
    "sub\\..\\..\\secret.txt",
    "hello.txt\x00",
    "\x00",
    "C:/secret.txt",
    "C:secret.txt",
    "sub/D:/x",
    "",
    ".",
    "sub",
    "missing.txt",
]


@pytest.mark.parametrize("untrusted", UNTRUSTED)
@pytest.mark.parametrize("relative", [True, False], ids=["relative-dir", "absolute-dir"])
def test_send_from_directory_refuses_escapes(
    app: Erlen, tmp_path: Path, untrusted: str, relative: bool
) -> None:
    untrusted = untrusted.replace("SECRET", str(tmp_path / "secret.txt"))
    directory = "static" if relative else str(tmp_path / "static")
    with app.test_request_context(), pytest.raises(NotFound):
        send_from_directory(directory, untrusted)


def test_send_from_directory_serves_inside(app: Erlen, tmp_path: Path) -> None:
    with app.test_request_context():
        for name in ("hello.txt", "sub/../hello.txt", "./hello.txt", Path("hello.txt")):
            rv = send_from_directory(tmp_path / "static", name, max_age=5)
            assert rv.get_data() == HELLO
            assert rv.headers["Cache-Control"] == "public, max-age=5"


def test_send_from_directory_through_route(client: Any) -> None:
    rv = get(client, "/dir/sub/page.html")
    assert (rv.status_code, rv.data) == (200, b"<p>page</p>")


# -- Flask as the oracle -----------------------------------------------------------------------

COMPARED = (
    "Content-Type",
    "Content-Length",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "X-Sendfile",
)

ORACLE_CASES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/static/hello.txt", {}),
    ("HEAD", "/static/hello.txt", {}),
    ("GET", "/static/data.bin", {"Range": "bytes=0-9"}),
    ("GET", "/static/data.bin", {"Range": "bytes=1000-"}),
    ("GET", "/static/data.bin", {"Range": "bytes=-24"}),
    ("GET", "/static/data.bin", {"Range": "bytes=2000-"}),
    ("GET", "/static/data.bin", {"Range": "bytes=0-9", "If-Range": '"stale"'}),
    ("GET", "/static/data.bin", {"If-None-Match": "ETAG"}),
    ("GET", "/static/data.bin", {"If-Modified-Since": "LAST_MODIFIED"}),
    ("GET", "/static/../secret.txt", {}),
    ("GET", "/bp/bpstatic/bp.css", {}),
    ("GET", "/bytes", {}),
    ("GET", "/named/r%C3%A9sum%C3%A9%20%22v2%22.pdf?attach=1", {}),
    ("GET", "/named/a%20b.txt", {}),
    ("GET", "/gz", {}),
    ("GET", "/max-age", {}),
    ("GET", "/last-modified", {}),
    ("GET", "/dir/sub/page.html", {}),
    ("GET", "/dir/%2e%2e/secret.txt", {}),
]


@pytest.mark.parametrize(("method", "url", "headers"), ORACLE_CASES)
def test_matches_flask(
    oracle: Callable[..., Any],
    tmp_path: Path,
    method: str,
    url: str,
    headers: dict[str, str],
) -> None:
    make_tree(tmp_path)
    o = oracle(lambda module, cls: build_app(module, cls, tmp_path))
    first = o.flask_client.get("/static/data.bin", buffered=True)
    values = {"ETAG": first.headers["ETag"], "LAST_MODIFIED": first.headers["Last-Modified"]}
    headers = {k: values.get(v, v) for k, v in headers.items()}
    f, e = o.check(method, url, headers=headers, headers_to_compare=COMPARED, buffered=True)
    assert ("Expires" in e.headers) == ("Expires" in f.headers)


def test_x_sendfile_matches_flask(oracle: Callable[..., Any], tmp_path: Path) -> None:
    make_tree(tmp_path)

    def build(module: ModuleType, cls: type) -> Any:
        app = build_app(module, cls, tmp_path)
        app.config["USE_X_SENDFILE"] = True
        return app

    o = oracle(build)
    o.check("GET", "/static/hello.txt", headers_to_compare=COMPARED, buffered=True)


# -- FileStream --------------------------------------------------------------------------------


class Tracked(io.BytesIO):
    """A BytesIO that reports its reads."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)


def test_file_stream_sync_reads_in_chunks_and_closes() -> None:
    f = Tracked(b"0123456789")
    stream = FileStream(f, length=7, chunk_size=3)
    assert list(stream) == [b"012", b"345", b"6"]
    assert f.reads == [3, 3, 1]
    assert f.closed
    assert stream.closed
    assert list(stream) == []
    stream.close()


def test_file_stream_without_length_reads_to_end(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(BIG)
    with open(path, "rb") as f:
        stream = FileStream(f)
        assert b"".join(stream) == BIG
        assert f.closed


def test_file_stream_async_offloads_reads_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(BIG)

    async def main(**sizes: int) -> tuple[list[bytes], IO[bytes]]:
        f = open(path, "rb")  # noqa: SIM115
        stream = FileStream(f, length=len(BIG) - 10, **sizes)
        return [chunk async for chunk in stream], f

    chunks, f = asyncio.run(main(async_chunk_size=200_000))
    assert [len(c) for c in chunks] == [200_000, 200_000, len(BIG) - 10 - 400_000]
    assert b"".join(chunks) == BIG[:-10]
    assert f.closed
    # By default an async read takes ASYNC_CHUNK_SIZE, more than the whole file here.
    assert len(BIG) < ASYNC_CHUNK_SIZE
    chunks, f = asyncio.run(main())
    assert chunks == [BIG[:-10]]
    assert f.closed


def test_file_stream_close_midway(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(BIG)
    f = open(path, "rb")  # noqa: SIM115
    stream = FileStream(f)
    assert next(iter(stream)) == BIG[:CHUNK_SIZE]
    stream.close()
    assert f.closed
    stream.close()
    assert list(stream) == []

    async def main() -> IO[bytes]:
        g = open(path, "rb")  # noqa: SIM115
        s = FileStream(g, async_chunk_size=CHUNK_SIZE)
        it = s.__aiter__()
        assert await it.__anext__() == BIG[:CHUNK_SIZE]
        await s.aclose()
        await s.aclose()
        await it.aclose()  # type: ignore[attr-defined]
        return g

    assert asyncio.run(main()).closed


def test_file_stream_as_a_response_body(client: Any, app: Erlen, tmp_path: Path) -> None:
    @app.route("/stream")
    def stream() -> Any:
        f = open(tmp_path / "static" / "big.bin", "rb")  # noqa: SIM115
        return erlen.Response(FileStream(f), mimetype="application/octet-stream")

    rv = get(client, "/stream")
    assert rv.data == BIG
    assert "Content-Length" not in rv.headers


# -- clients that leave mid-download -----------------------------------------------------------


@pytest.fixture
def tracked_app(app: Erlen, tmp_path: Path) -> tuple[Erlen, list[IO[bytes]], list[str]]:
    opened: list[IO[bytes]] = []
    events: list[str] = []

    (tmp_path / "huge.bin").write_bytes(HUGE)

    @app.route("/tracked")
    def tracked() -> Any:
        f = open(tmp_path / "huge.bin", "rb")  # noqa: SIM115
        opened.append(f)
        rv = send_file(f, mimetype="application/octet-stream")
        rv.call_on_close(lambda: events.append("closed"))
        return rv

    return app, opened, events


def test_stream_closes_file_at_last_byte(
    client: Any, tracked_app: tuple[Erlen, list[IO[bytes]], list[str]]
) -> None:
    _, opened, events = tracked_app
    rv = client.get("/tracked")  # not buffered: the door's close() comes with rv.close()
    assert rv.data == HUGE
    assert opened[0].closed
    rv.close()
    assert events == ["closed"]


def test_wsgi_client_leaving_closes_file(
    tracked_app: tuple[Erlen, list[IO[bytes]], list[str]],
) -> None:
    app, opened, events = tracked_app
    environ = EnvironBuilder(path="/tracked").get_environ()
    statuses: list[str] = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    it = iter(body)
    assert len(next(it)) == CHUNK_SIZE
    assert not opened[0].closed
    body.close()  # what a WSGI server does when the client is gone
    assert statuses == ["200 OK"]
    assert opened[0].closed
    assert events == ["closed"]


def test_asgi_client_leaving_closes_file(
    tracked_app: tuple[Erlen, list[IO[bytes]], list[str]],
) -> None:
    app, opened, events = tracked_app
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/tracked",
        "raw_path": b"/tracked",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("localhost", 80),
    }
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        gone = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                gone.set()  # the client leaves after the first chunk
                await asyncio.sleep(0)

        await asyncio.wait_for(app(scope, receive, send), timeout=10)

    asyncio.run(main())
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert sent[0]["status"] == 200
    assert len(bodies[0]["body"]) == ASYNC_CHUNK_SIZE
    assert sum(len(m["body"]) for m in bodies) < len(HUGE)
    assert opened[0].closed
    assert events == ["closed"]


# -- the examples in docs/files.md ---------------------------------------------------------------


def doc_examples() -> dict[str, str]:
    """Return the Python code of docs/files.md, joined per section title."""
    sections: dict[str, str] = {}
    title = ""
    in_code = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if in_code:
            if line.startswith("```"):
                in_code = False
                sections[title] += "\n"
            else:
                sections[title] += line + "\n"
        elif line.startswith("#"):
            title = line.lstrip("#").strip().strip("`")
        elif line.startswith("```python"):
            in_code = True
            sections.setdefault(title, "")
    return sections


def load_example(section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import a section's code as a module living in ``tmp_path``; return it."""
    name = "docs_files_" + re.sub(r"\W", "_", section).lower()
    path = tmp_path / f"{name}.py"
    path.write_text(doc_examples()[section], encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_docs_sections_are_all_tested() -> None:
    assert set(doc_examples()) == {
        "Static files",
        "Caching",
        "send_file",
        "send_from_directory",
        "Uploads",
    }


def test_docs_static_files(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "style.css").write_bytes(b"p {}")
    (tmp_path / "static" / "admin.css").write_bytes(b"h1 {}")
    docs = load_example("Static files", tmp_path, monkeypatch)
    c = docs.app.test_client(asgi=protocol == "asgi")
    assert get(c, "/").data == b'<link rel="stylesheet" href="/static/style.css">'
    assert get(c, "/static/style.css").data == b"p {}"
    # The blueprint's folder is the same ./static here (its module is the same file).
    assert get(c, "/admin/static/admin.css").data == b"h1 {}"
    with docs.app.test_request_context():
        assert erlen.url_for("admin.static", filename="admin.css") == "/admin/static/admin.css"


def test_docs_caching(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.js").write_bytes(b"1")
    (tmp_path / "static" / "a.txt").write_bytes(b"2")
    docs = load_example("Caching", tmp_path, monkeypatch)
    c = docs.app.test_client(asgi=protocol == "asgi")
    assert get(c, "/static/app.js").headers["Cache-Control"] == "public, max-age=31536000"
    assert get(c, "/static/a.txt").headers["Cache-Control"] == "no-cache"


def test_docs_send_file(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "logo.png").write_bytes(b"\x89PNG")
    docs = load_example("send_file", tmp_path, monkeypatch)
    c = docs.app.test_client(asgi=protocol == "asgi")
    rv = get(c, "/logo")
    assert (rv.data, rv.headers["Content-Type"]) == (b"\x89PNG", "image/png")
    rv = get(c, "/report.csv")
    assert rv.data == b"id,name\n1,Ada\n"
    assert rv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert rv.headers["Content-Disposition"] == "attachment; filename=report.csv"


def test_docs_send_from_directory(
    protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "cv.pdf").write_bytes(b"%PDF")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    docs = load_example("send_from_directory", tmp_path, monkeypatch)
    c = docs.app.test_client(asgi=protocol == "asgi")
    rv = get(c, "/uploads/cv.pdf")
    assert (rv.status_code, rv.data) == (200, b"%PDF")
    assert rv.headers["Content-Disposition"] == "attachment; filename=cv.pdf"
    assert get(c, "/uploads/../secret.txt").status_code == 404
    assert get(c, "/uploads/%2e%2e/secret.txt").status_code == 404


def test_docs_uploads(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "uploads").mkdir()
    docs = load_example("Uploads", tmp_path, monkeypatch)
    c = docs.app.test_client(asgi=protocol == "asgi")
    rv = c.post(
        "/upload",
        data={"file": (io.BytesIO(b"hello upload"), "../../My Notes.txt")},
        follow_redirects=True,
        buffered=True,
    )
    assert (rv.status_code, rv.data) == (200, b"hello upload")
    assert rv.request.path == "/uploads/My_Notes.txt"
    assert (tmp_path / "uploads" / "My_Notes.txt").read_bytes() == b"hello upload"
    rv = c.post("/upload", data={"file": (io.BytesIO(b"x"), "run.exe")}, buffered=True)
    assert rv.status_code == 400
    rv = c.post("/upload", data={}, buffered=True)
    assert rv.status_code == 400
    docs.app.config["MAX_CONTENT_LENGTH"] = 1000
    rv = c.post("/upload", data={"file": (io.BytesIO(b"x" * 2000), "big.txt")}, buffered=True)
    assert rv.status_code == 413
    assert not (tmp_path / "uploads" / "big.txt").exists()


# -- misc --------------------------------------------------------------------------------------


def test_helpers_reexport_files() -> None:
    from erlen import files, helpers

    assert erlen.send_file is helpers.send_file
    assert erlen.send_from_directory is helpers.send_from_directory
    with Erlen("files_public").test_request_context():
        rv = helpers.send_file(io.BytesIO(b"ab"), mimetype="text/plain")
        assert isinstance(rv._iter, files.FileStream)
        assert rv.get_data() == b"ab"
