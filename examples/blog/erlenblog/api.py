"""The JSON API: typed class-based views over the posts, guarded by bearer tokens.

``POST /api/tokens`` with HTTP Basic credentials returns a token; every change needs
``Authorization: Bearer <token>``. Reading is public. ``@typed`` reads each handler's
query parameters and JSON body into the models of ``schemas.py`` (a 422 problem document
when they do not fit) and serializes its answer; the OpenAPI document at
``/api/openapi.json`` and the page at ``/api/docs`` are built from the same annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from sqlalchemy import select

from erlen import Blueprint, abort, current_app, url_for
from erlen.contrib.auth import current_user
from erlen.typed import Path, Problem, Query, RequestValidationError, typed
from erlen.views import MethodView

from . import posts
from .auth import issue_token
from .extensions import db, limiter, token_auth
from .models import Post
from .schemas import PostIn, PostOut, PostPage, PostPatch, TokenOut

bp = Blueprint("api", __name__, url_prefix="/api")

#: Guards a view with HTTP Basic credentials (only to obtain a token).
basic_auth: Callable[[Callable[..., Any]], Callable[..., Any]] = token_auth.auth_required(
    scheme="basic"
)

#: The most posts one page can hold (``API_MAX_PER_PAGE`` may lower it).
PER_PAGE_MAX = 50
#: The largest id SQLite (and most databases) can store: larger ones are refused, not looked up.
ID_MAX = 2**63 - 1
#: Far past any real page, and small enough that its offset fits a 64-bit integer.
PAGE_MAX = 10**9

PostId = Annotated[int, Path(ge=1, le=ID_MAX, description="The post's id.")]

#: The error answers a token-guarded change of one post may give.
CHANGE_ERRORS: dict[int, Any] = {
    401: Problem,  # no token, or a bad one (with WWW-Authenticate)
    403: Problem,  # someone else's post
    404: Problem,
}


def _checked(call: Callable[[], Post]) -> Post:
    """Run ``posts.create``/``update``; a refusal is a 422 like the models' own."""
    try:
        return call()
    except posts.Invalid as e:  # pragma: no cover - the models check the same rules first
        error = {"loc": ["body"], "msg": str(e), "type": "value_error"}
        raise RequestValidationError([error]) from None


class PostList(MethodView):
    """``GET`` a page of posts; ``POST`` a new one (token)."""

    @typed(responses={404: Problem})
    def get(
        self,
        page: Annotated[int, Query(ge=1, le=PAGE_MAX, description="The page, from 1.")] = 1,
        per_page: Annotated[int, Query(ge=1, le=PER_PAGE_MAX, description="Posts per page.")] = 20,
    ) -> PostPage:
        """List the posts, newest first.

        A page past the last one (other than the first) is a 404.
        """
        result = db.paginate(
            select(Post).order_by(Post.created.desc(), Post.id.desc()),
            page=page,
            per_page=per_page,
            max_per_page=current_app.config["API_MAX_PER_PAGE"],
        )
        return PostPage(
            posts=[PostOut.of(post) for post in result.items],
            page=result.page,
            pages=result.pages,
            total=result.total or 0,
            next=(
                url_for("api.posts", page=result.next_num, per_page=result.per_page)
                if result.has_next
                else None
            ),
        )

    @token_auth.auth_required
    @typed(status_code=201, responses={401: Problem})
    def post(self, new: PostIn) -> tuple[PostOut, dict[str, str]]:
        """Publish a post (bearer token).

        The answer's ``Location`` header is the new post's URL.
        """
        author = current_user._get_current_object()
        post = _checked(lambda: posts.create(author, new.title, new.body))
        return PostOut.of(post), {"Location": url_for("api.post", post_id=post.id)}


class PostItem(MethodView):
    """``GET`` one post; ``PUT``/``PATCH`` or ``DELETE`` it (token, author only)."""

    @typed(responses={404: Problem})
    def get(self, post_id: PostId) -> PostOut:
        """Show one post."""
        return PostOut.of(db.get_or_404(Post, post_id))

    @staticmethod
    def _own(post_id: int) -> Post:
        post = db.get_or_404(Post, post_id)
        if post.author_id != current_user.id:
            abort(403, "Only the author can change this post.")
        return post

    @token_auth.auth_required
    @typed(responses=CHANGE_ERRORS)
    def put(self, post_id: PostId, change: PostIn) -> PostOut:
        """Replace a post's title and text (bearer token, author only)."""
        post = self._own(post_id)
        return PostOut.of(_checked(lambda: posts.update(post, change.title, change.body)))

    @token_auth.auth_required
    @typed(responses=CHANGE_ERRORS)
    def patch(self, post_id: PostId, change: PostPatch) -> PostOut:
        """Change a post's title or text (bearer token, author only)."""
        post = self._own(post_id)
        title = post.title if change.title is None else change.title
        body = post.body if change.body is None else change.body
        return PostOut.of(_checked(lambda: posts.update(post, title, body)))

    @token_auth.auth_required
    @typed(status_code=204, responses=CHANGE_ERRORS)
    def delete(self, post_id: PostId) -> None:
        """Delete a post (bearer token, author only)."""
        posts.delete(self._own(post_id))


class Tokens(MethodView):
    """``POST`` with HTTP Basic credentials: a bearer token for the API."""

    @basic_auth
    @typed(status_code=201, responses={401: Problem, 429: Problem})
    def post(self) -> TokenOut:
        """Get a bearer token (HTTP Basic credentials; 10 a minute).

        The token works until it expires or its user revokes all their tokens.
        """
        user = current_user._get_current_object()
        seconds = current_app.config["API_TOKEN_MAX_AGE"]
        return TokenOut(token=issue_token(user), expires_in=seconds, user=user.username)


bp.add_url_rule("/posts", view_func=PostList.as_view("posts"))
bp.add_url_rule("/posts/<int:post_id>", view_func=PostItem.as_view("post"))
bp.add_url_rule("/tokens", view_func=limiter.limit("10/minute")(Tokens.as_view("tokens")))
