"""The JSON API: class-based views over the posts, guarded by bearer tokens.

``POST /api/tokens`` with HTTP Basic credentials returns a token; every change needs
``Authorization: Bearer <token>``. Reading is public.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from erlen import Blueprint, abort, current_app, jsonify, request, url_for
from erlen.contrib.auth import current_user
from erlen.views import MethodView

from . import posts
from .auth import issue_token
from .extensions import db, limiter, token_auth
from .models import Post

bp = Blueprint("api", __name__, url_prefix="/api")

#: Guards a view with HTTP Basic credentials (only to obtain a token).
basic_auth: Callable[[Callable[..., Any]], Callable[..., Any]] = token_auth.auth_required(
    scheme="basic"
)


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "Send a JSON object (Content-Type: application/json).")
    return data


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        abort(400, f"'{key}' must be a string.")
    return value


class PostList(MethodView):
    """``GET`` a page of posts; ``POST`` a new one (token)."""

    def get(self) -> Any:
        page = db.paginate(
            select(Post).order_by(Post.created.desc(), Post.id.desc()),
            max_per_page=current_app.config["API_MAX_PER_PAGE"],
        )
        return {
            "posts": [post.to_json() for post in page.items],
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
            "next": url_for("api.posts", page=page.next_num) if page.has_next else None,
        }

    @token_auth.auth_required
    def post(self) -> Any:
        data = _json_body()
        try:
            post = posts.create(
                current_user._get_current_object(), _text(data, "title"), _text(data, "body")
            )
        except posts.Invalid as e:
            abort(422, str(e))
        response = jsonify(post.to_json())
        response.status_code = 201
        response.headers["Location"] = url_for("api.post", post_id=post.id)
        return response


class PostItem(MethodView):
    """``GET`` one post; ``PUT``/``PATCH`` or ``DELETE`` it (token, author only)."""

    def get(self, post_id: int) -> Any:
        return db.get_or_404(Post, post_id).to_json()

    @staticmethod
    def _own(post_id: int) -> Post:
        post = db.get_or_404(Post, post_id)
        if post.author_id != current_user.id:
            abort(403, "Only the author can change this post.")
        return post

    @token_auth.auth_required
    def put(self, post_id: int) -> Any:
        post = self._own(post_id)
        data = _json_body()
        try:
            posts.update(post, _text(data, "title"), _text(data, "body"))
        except posts.Invalid as e:
            abort(422, str(e))
        return post.to_json()

    @token_auth.auth_required
    def patch(self, post_id: int) -> Any:
        post = self._own(post_id)
        data = _json_body()
        try:
            posts.update(post, _text(data, "title", post.title), _text(data, "body", post.body))
        except posts.Invalid as e:
            abort(422, str(e))
        return post.to_json()

    @token_auth.auth_required
    def delete(self, post_id: int) -> Any:
        posts.delete(self._own(post_id))
        return "", 204


class Tokens(MethodView):
    """``POST`` with HTTP Basic credentials: a bearer token for the API."""

    @basic_auth
    def post(self) -> Any:
        user = current_user._get_current_object()
        seconds = current_app.config["API_TOKEN_MAX_AGE"]
        return {"token": issue_token(user), "expires_in": seconds, "user": user.username}, 201


bp.add_url_rule("/posts", view_func=PostList.as_view("posts"))
bp.add_url_rule("/posts/<int:post_id>", view_func=PostItem.as_view("post"))
bp.add_url_rule("/tokens", view_func=limiter.limit("10/minute")(Tokens.as_view("tokens")))
