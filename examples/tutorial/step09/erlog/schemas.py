"""What the JSON API takes and gives, as Pydantic models."""

from datetime import datetime

from pydantic import BaseModel, Field


class PostIn(BaseModel):
    title: str = Field(min_length=1, max_length=200, pattern=r"\S")
    body: str = Field(default="", max_length=20_000)


class PostOut(BaseModel):
    id: int
    title: str
    body: str
    author: str
    created: datetime
    image_url: str | None


class TokenOut(BaseModel):
    token: str
    expires_in: int
