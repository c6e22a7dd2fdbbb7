"""Uvicorn runs an app's lifespan: before_serving, while_serving and after_serving.

The same hooks driven by hand, without a server, are in ``tests/unit/test_lifespan.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx

LIFESPAN_APP = """
import os

from erlen import Erlen

app = Erlen(__name__)
log_path = os.path.join(os.path.dirname(__file__), "lifespan.log")
state = {}


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\\n")


@app.before_serving
async def start():
    state["pool"] = "connected"
    log("before_serving")


@app.while_serving
async def ticker():
    log("while_serving enter")
    yield
    log("while_serving exit")


@app.after_serving
def stop():
    log("after_serving")


@app.route("/")
def index():
    return state.get("pool", "not started")
"""


def test_uvicorn_runs_the_lifespan(real_server: Any, tmp_path: Path) -> None:
    (tmp_path / "lifespan_app.py").write_text(textwrap.dedent(LIFESPAN_APP), encoding="utf-8")
    log = tmp_path / "lifespan.log"
    with real_server("uvicorn", tmp_path, "lifespan_app:app") as base_url:
        assert httpx.get(base_url + "/", timeout=10).text == "connected"
        assert log.read_text().splitlines() == ["before_serving", "while_serving enter"]
    # real_server stops uvicorn (SIGINT) and waits for it to exit.
    assert log.read_text().splitlines() == [
        "before_serving",
        "while_serving enter",
        "while_serving exit",
        "after_serving",
    ]
