"""The data: users and their posts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erlen.contrib.auth import UserMixin

from .extensions import db

if TYPE_CHECKING:  # db.Model is made at run time; mypy sees its declarative base
    from sqlalchemy.orm import DeclarativeBase as Model
else:
    Model = db.Model

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp"})


def utcnow() -> datetime:
    """Now, in UTC (stored without a zone: SQLite keeps none)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(UserMixin, Model):
    """Someone who can log in, write posts and chat."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    #: Part of every API token; incrementing it revokes all the user's tokens.
    token_version: Mapped[int] = mapped_column(default=0)
    posts: Mapped[list[Post]] = relationship(back_populates="author", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"


class Post(Model):
    """A blog post, with an optional attachment stored in the instance folder."""

    __tablename__ = "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated: Mapped[datetime | None] = mapped_column(default=None)
    attachment: Mapped[str | None] = mapped_column(String(255), default=None)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    author: Mapped[User] = relationship(back_populates="posts", lazy="joined")
    #: Filled in by a background task after each save (``tasks.prepare_post``).
    digest: Mapped[PostDigest | None] = relationship(
        back_populates="post", cascade="all, delete-orphan", lazy="joined"
    )

    @property
    def attachment_is_image(self) -> bool:
        """Whether the attachment can be shown inline as an image."""
        extension = (self.attachment or "").rpartition(".")[2].lower()
        return extension in IMAGE_EXTENSIONS

    def to_json(self) -> dict[str, object]:
        """The post as the API returns it."""
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "author": self.author.username,
            "created": self.created.isoformat() + "Z",
            "updated": None if self.updated is None else self.updated.isoformat() + "Z",
            "attachment": self.attachment,
            "reading_minutes": None if self.digest is None else self.digest.reading_minutes,
        }

    def __repr__(self) -> str:
        return f"<Post {self.id} {self.title!r}>"


class PostDigest(Model):
    """What a background task works out about a post: its length, reading time and excerpt.

    A table of its own, written by that task only: it never races the author's edits of the
    post's row, and databases made before it existed get it at the next start
    (``AUTO_CREATE_TABLES``).
    """

    __tablename__ = "post_digest"

    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"), primary_key=True)
    words: Mapped[int]
    reading_minutes: Mapped[int]
    excerpt: Mapped[str] = mapped_column(String(300))
    computed: Mapped[datetime] = mapped_column(default=utcnow)
    post: Mapped[Post] = relationship(back_populates="digest")
