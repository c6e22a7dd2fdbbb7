"""The database tables, as SQLAlchemy models."""

from datetime import datetime, timezone

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


def now():
    return datetime.now(timezone.utc)


class Post(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=now)
