"""Flaskr (Flask's tutorial blog, in ``tests/compat/flaskr``) on real servers: gunicorn, uvicorn.

Its own test suite, in process through both doors and on Flask, is in
``tests/compat/test_flaskr.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

COMPAT = Path(__file__).resolve().parents[1] / "compat"  # holds the flaskr package


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_flaskr_on_a_real_server(server: str, tmp_path: Path, real_server: Any) -> None:
    (tmp_path / "serve_flaskr.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(COMPAT)!r})
            import flaskr

            app = flaskr.create_app({{"DATABASE": {str(tmp_path / "real.sqlite")!r}}})
            with app.app_context():
                flaskr.db.init_db()
            """
        )
    )
    with (
        real_server(server, tmp_path, "serve_flaskr:app") as base,
        httpx.Client(base_url=base) as http,
    ):
        assert (
            http.post("/auth/register", data={"username": "ann", "password": "pw"}).headers[
                "location"
            ]
            == "/auth/login"
        )
        assert (
            http.post("/auth/login", data={"username": "ann", "password": "wrong"}).text.count(
                "Incorrect password."
            )
            == 1
        )
        login = http.post("/auth/login", data={"username": "ann", "password": "pw"})
        assert login.status_code == 302 and "session" in http.cookies
        assert http.post("/create", data={"title": "Über <b>", "body": "hello"}).status_code == 302
        index = http.get("/").text
        assert "Über &lt;b&gt;" in index and "by ann on" in index and "Log Out" in index
        assert http.get("/static/style.css").status_code == 200
        http.get("/auth/logout")
        assert "Log In" in http.get("/").text
