"""The JSON API's models: what a client sends and what it gets back.

``@typed`` views in ``api.py`` read request bodies into these models and serialize their
answers through them; the OpenAPI document at ``/api/openapi.json`` is built from them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from .models import Post
from .posts import BODY_MAX, TITLE_MAX


def _storable(value: str) -> str:
    # Python's idea of white space (str.strip) is wider than the pattern's \S: both must agree
    # with posts.validate, which strips before it checks.
    if not value.strip():
        raise ValueError("must contain more than white space")
    # PostgreSQL refuses NUL in text: refused here, it is a 422 rather than a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: A post's title: at least one visible character (it is stripped before it is saved).
Title = Annotated[
    str, Field(min_length=1, max_length=TITLE_MAX, pattern=r"\S"), AfterValidator(_storable)
]
#: A post's text, with the same rule.
Text = Annotated[
    str, Field(min_length=1, max_length=BODY_MAX, pattern=r"\S"), AfterValidator(_storable)
]


class PostIn(BaseModel):
    """A new post, or every field of one replaced (``PUT``)."""

    title: Title = Field(examples=["From the API"])
    body: Text = Field(examples=["Hello from curl."])


class PostPatch(BaseModel):
    """The fields of a post to change (``PATCH``); absent or null ones stay as they are."""

    title: Title | None = None
    body: Text | None = None


def _utc(moment: datetime) -> datetime:
    # The database keeps UTC without a zone (SQLite stores none).
    return moment.replace(tzinfo=timezone.utc)


class PostOut(BaseModel):
    """A post as the API returns it; times are UTC (``...Z``)."""

    id: int
    title: str
    body: str
    author: str = Field(description="The author's username.")
    created: datetime
    updated: datetime | None = Field(description="The last change, or null if none.")
    attachment: str | None = Field(description="The attached file's name, if any.")
    reading_minutes: int | None = Field(
        description="Worked out by a background task after each save; null until it has run."
    )

    @classmethod
    def of(cls, post: Post) -> PostOut:
        """The answer for ``post``."""
        return cls(
            id=post.id,
            title=post.title,
            body=post.body,
            author=post.author.username,
            created=_utc(post.created),
            updated=None if post.updated is None else _utc(post.updated),
            attachment=post.attachment,
            reading_minutes=None if post.digest is None else post.digest.reading_minutes,
        )


class PostPage(BaseModel):
    """One page of posts, newest first."""

    posts: list[PostOut]
    page: int = Field(description="This page's number, from 1.")
    pages: int = Field(description="How many pages there are.")
    total: int = Field(description="How many posts there are.")
    next: str | None = Field(description="The URL of the next page, or null on the last.")


class TokenOut(BaseModel):
    """A bearer token for the API: send it as ``Authorization: Bearer <token>``."""

    token: str
    expires_in: int = Field(description="Seconds until the token stops working.")
    user: str = Field(description="The username the token acts for.")
