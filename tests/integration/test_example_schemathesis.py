"""Erlenblog's JSON API fuzzed from its own OpenAPI document (Schemathesis), through both doors.

Schemathesis reads ``/api/openapi.json`` from the app in-process (``from_wsgi`` or
``from_asgi``) and generates requests for every operation in it (the ``api`` blueprint's),
valid and invalid ones. Each answer must not be a 5xx, must have a status the document
declares, and must match the declared schema and media type. The write operations get a bearer
token (HTTP Basic credentials for ``/api/tokens``); a generated ``post_id`` is sometimes
swapped for the id of a post that exists, the user's own or someone else's, so that the
200, 204 and 403 answers are fuzzed too, not only the 404s. Hypothesis runs a bounded,
derandomized number of examples, so a run takes seconds and gives the same result each time.
"""

from __future__ import annotations

import base64
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from erlen import Erlen
from erlen.contrib.passwords import generate_password_hash

BLOG = Path(__file__).resolve().parents[2] / "examples" / "blog"
if str(BLOG) not in sys.path:
    sys.path.insert(0, str(BLOG))

from erlenblog import create_app  # noqa: E402
from erlenblog.auth import issue_token  # noqa: E402
from erlenblog.extensions import db, limiter  # noqa: E402
from erlenblog.models import Post, User  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation and door: both doors take about 16 s on two shared cores
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PASSWORD = "fuzz password"


@pytest.fixture
def blog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Erlen, dict[str, Any]]]:
    """The app with its SQLite default in ``tmp_path``, a user with posts, and their token."""
    monkeypatch.setenv("ERLENBLOG_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "fuzz secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'blog.sqlite'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        limiter.reset()  # one limiter object serves every app built in this process
        user = User(username="fuzz", password_hash=generate_password_hash(PASSWORD))
        other = User(username="other", password_hash="x")
        db.session.add_all([user, other])
        db.session.flush()
        own = [Post(title=f"Post {n}", body="Some text.", author=user) for n in range(5)]
        theirs = [Post(title="Not yours", body="Some text.", author=other)]
        db.session.add_all(own + theirs)
        db.session.commit()
        seeded = {"token": issue_token(user), "user_id": user.id}
    yield app, seeded
    with app.app_context():
        db.engine.dispose()


def fuzz(operation: Any, authorization: str, existing: Any, seen: Counter[int]) -> None:
    """Run Hypothesis on one operation; count the statuses it got in ``seen``."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases, post_id=existing)
    def exercise(case: Any, post_id: int | None) -> None:
        if post_id is not None and "post_id" in (case.path_parameters or {}):
            case.path_parameters["post_id"] = post_id
        response = case.call_and_validate(headers={"Authorization": authorization}, checks=CHECKS)
        seen[response.status_code] += 1

    exercise()


@pytest.mark.parametrize("door", ["wsgi", "asgi"])
def test_the_api_keeps_to_its_document(blog: tuple[Erlen, dict[str, Any]], door: str) -> None:
    app, seeded = blog
    load = schemathesis.openapi.from_wsgi if door == "wsgi" else schemathesis.openapi.from_asgi
    schema = load("/api/openapi.json", app)  # the whole document: the API blueprint only
    bearer = f"Bearer {seeded['token']}"
    basic = "Basic " + base64.b64encode(f"fuzz:{PASSWORD}".encode()).decode()

    statuses: dict[str, Counter[int]] = {}
    failures: dict[str, BaseException] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label
        with (
            app.app_context()
        ):  # the posts there are now (earlier operations made and deleted some)
            rows = db.session.execute(db.select(Post.id, Post.author_id)).all()
        own = [post_id for post_id, author in rows if author == seeded["user_id"]]
        theirs = [post_id for post_id, author in rows if author != seeded["user_id"]]
        existing = st.one_of(st.none(), st.sampled_from(own), st.sampled_from(theirs))
        authorization = basic if operation.path == "/api/tokens" else bearer
        try:
            fuzz(operation, authorization, existing, statuses.setdefault(label, Counter()))
        except Exception as e:  # every operation's failure is reported below
            failures[label] = e

    assert set(statuses) == {
        "GET /api/posts",
        "POST /api/posts",
        "GET /api/posts/{post_id}",
        "PUT /api/posts/{post_id}",
        "PATCH /api/posts/{post_id}",
        "DELETE /api/posts/{post_id}",
        "POST /api/tokens",
    }
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
    # The token and the seeded posts worked: each operation answered 2xx at least once.
    for label, seen in statuses.items():
        assert any(200 <= status < 300 for status in seen), f"{label}: only {dict(seen)}"
    # Someone else's post was touched: the author check was fuzzed too.
    for method in ("PUT", "PATCH", "DELETE"):
        assert statuses[f"{method} /api/posts/{{post_id}}"][403] > 0, dict(statuses)
