"""Tests for erlen.debughelpers: the errors that explain a missing enctype and a redirect that
drops a form, and the log of where a template was looked for (EXPLAIN_TEMPLATE_LOADING)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
import werkzeug.routing
from werkzeug.exceptions import BadRequestKeyError

from erlen import Blueprint, Erlen, render_template, request
from erlen.debughelpers import (
    DebugFilesKeyError,
    FormDataRoutingRedirect,
    UnexpectedUnicodeError,
    attach_enctype_error_multidict,
    explain_template_loading_attempts,
)
from erlen.request import _EMPTY_ARGS, ImmutableMultiDict

Client = Callable[..., Any]


def test_unexpected_unicode_error_is_both_kinds() -> None:
    assert issubclass(UnexpectedUnicodeError, AssertionError)
    assert issubclass(UnexpectedUnicodeError, UnicodeError)


# -- DebugFilesKeyError ----------------------------------------------------------------------


def files_app(debug: bool, read_form_first: bool = False) -> Erlen:
    app = Erlen(__name__)
    app.debug = debug

    @app.post("/upload")
    def upload() -> str:
        if read_form_first:
            assert "other" in request.form
        return request.files["doc"].filename or ""

    return app


@pytest.mark.parametrize("read_form_first", [False, True])
def test_a_file_missing_from_a_form_without_enctype_is_explained_in_debug(
    client: Client, read_form_first: bool
) -> None:
    app = files_app(debug=True, read_form_first=read_form_first)
    with pytest.raises(DebugFilesKeyError) as info:
        client(app).post("/upload", data={"doc": "report.pdf", "other": "x"})
    text = str(info.value)
    assert "'doc'" in text and "application/x-www-form-urlencoded" in text
    assert "no file contents were transmitted" in text
    assert 'enctype="multipart/form-data"' in text
    assert "This was submitted: 'report.pdf'" in text
    assert isinstance(info.value, KeyError)


def test_a_key_the_form_lacks_too_stays_a_plain_key_error(client: Client) -> None:
    app = files_app(debug=True)
    # Debug mode raises a bad key (instead of the 400), but the usual one.
    with pytest.raises(BadRequestKeyError) as info:
        client(app).post("/upload", data={"other": "x"})
    assert not isinstance(info.value, DebugFilesKeyError)


def test_the_explanation_stays_with_its_request(client: Client) -> None:
    # The empty ``files`` of a form request is one instance requests share; the debug
    # explanation gives the request its own rather than changing the shared one.
    with pytest.raises(DebugFilesKeyError):
        client(files_app(debug=True)).post("/upload", data={"doc": "report.pdf"})
    rv = client(files_app(debug=False)).post("/upload", data={"doc": "report.pdf"})
    assert rv.status_code == 400
    app = Erlen(__name__)
    with app.test_request_context("/", method="POST", data={"a": "b"}):
        assert type(request.files) is ImmutableMultiDict
        assert request.files is _EMPTY_ARGS


def test_without_debug_the_usual_400(client: Client) -> None:
    rv = client(files_app(debug=False)).post("/upload", data={"doc": "report.pdf"})
    assert rv.status_code == 400


def test_a_multipart_request_keeps_its_files(client: Client) -> None:
    app = files_app(debug=True)
    data = {"doc": (io.BytesIO(b"hi"), "a.txt")}
    assert client(app).post("/upload", data=data).data == b"a.txt"
    # Multipart without the file: nothing to explain, the usual bad key.
    with pytest.raises(BadRequestKeyError) as info:
        client(app).post("/upload", data={"doc": "x", "f": (io.BytesIO(b""), "")})
    assert not isinstance(info.value, DebugFilesKeyError)


def test_attach_keeps_the_class_name_and_contents() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/", method="POST", data={"doc": "n"}):
        req = request._get_current_object()  # type: ignore[attr-defined]
        attach_enctype_error_multidict(req)
        attach_enctype_error_multidict(req)  # idempotent
        files = req.files
        assert type(files).__name__ == "ImmutableMultiDict"
        assert dict(files) == {}
        with pytest.raises(DebugFilesKeyError):
            files["doc"]
        with pytest.raises(KeyError) as info:
            files["absent"]
        assert not isinstance(info.value, DebugFilesKeyError)
        assert isinstance(info.value, BadRequestKeyError)


# -- FormDataRoutingRedirect -----------------------------------------------------------------


def redirect_app(debug: bool) -> Erlen:
    app = Erlen(__name__)
    app.debug = debug

    @app.route("/user/", methods=["GET", "POST"])
    def user() -> str:
        return request.form.get("status", "none")

    return app


def test_a_308_redirect_is_not_an_error(client: Client) -> None:
    c = client(redirect_app(True))
    rv = c.post("/user", data={"status": "ok"})
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/user/"
    assert c.post(rv.headers["Location"], data={"status": "ok"}).data == b"ok"


def test_a_redirect_that_drops_the_form_is_an_error_in_debug(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Changing Werkzeug's class changes Erlen's redirects too (extensions do this).
    monkeypatch.setattr(werkzeug.routing.RequestRedirect, "code", 301)
    app = redirect_app(True)
    with pytest.raises(FormDataRoutingRedirect) as info:
        client(app).post("/user?a=1", data={"status": "lost"})
    text = str(info.value)
    assert "A request was sent to 'http://localhost/user?a=1'" in text
    assert "canonical URL 'http://localhost/user/?a=1'" in text
    assert "ends with a slash" in text
    assert "307 or 308" in text
    # GET has no body to lose; without debug, the redirect is sent.
    assert client(app).get("/user").status_code == 301
    assert client(redirect_app(False)).post("/user", data={"s": "x"}).status_code == 301


# -- explain_template_loading_attempts ------------------------------------------------------


@pytest.fixture
def template_app(tmp_path: Path) -> Erlen:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "both.html").write_text("app")
    bp_root = tmp_path / "shop"
    (bp_root / "templates").mkdir(parents=True)
    (bp_root / "templates" / "both.html").write_text("shop")
    app = Erlen("explain_app", root_path=str(tmp_path))
    bp = Blueprint("shop", "explain_app.shop", root_path=str(bp_root), template_folder="templates")

    @bp.route("/<name>")
    def show(name: str) -> str:
        return render_template(name)

    app.register_blueprint(bp, url_prefix="/shop")
    app.config["EXPLAIN_TEMPLATE_LOADING"] = True
    app.testing = True
    return app


def explained(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Locating")]


def test_a_missing_template_is_explained(
    template_app: Erlen, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="explain_app"),
        pytest.raises(jinja2.TemplateNotFound),
    ):
        template_app.test_client().get("/shop/absent.html")
    (text,) = explained(caplog)
    lines = text.splitlines()
    assert lines[0] == "Locating template 'absent.html':"
    assert "    1: trying loader of application 'explain_app'" in lines
    assert "    2: trying loader of blueprint 'shop' (explain_app.shop)" in lines
    assert "       class: jinja2.loaders.FileSystemLoader" in lines
    assert lines.count("       -> no match") == 2
    assert "Error: the template could not be found." in lines
    assert any("belongs to the blueprint 'shop'" in line for line in lines)
    assert "https://flask.palletsprojects.com/blueprints/#templates" in text


def test_a_template_found_twice_is_a_warning(
    template_app: Erlen, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="explain_app"):
        # The app's folder wins, as without the explanation.
        assert template_app.test_client().get("/shop/both.html").data == b"app"
    (text,) = explained(caplog)
    assert text.count("-> found (") == 2
    assert "Warning: more than one loader has the template" in text
    assert "belongs to the blueprint 'shop'" in text


def test_a_template_found_once_has_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    app = Erlen("explain_once")
    loader = jinja2.DictLoader({"t.html": "x"})
    with caplog.at_level(logging.INFO, logger="explain_once"):
        explain_template_loading_attempts(
            app, "t.html", [(loader, app, ("x", None, None)), (loader, "elsewhere", None)]
        )
    (text,) = explained(caplog)
    assert "    1: trying loader of application 'explain_once'" in text
    assert "    2: trying loader of 'elsewhere'" in text
    assert "-> found ('<string>')" in text
    assert "Error" not in text and "Warning" not in text
