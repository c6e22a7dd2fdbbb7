"""The JSON API: read posts freely, write them with a token."""

from typing import Annotated

from sqlalchemy import select

from erlen import Blueprint, url_for
from erlen.contrib.auth import current_user
from erlen.contrib.passwords import check_password_hash
from erlen.typed import Query, typed

from .extensions import db, tokens
from .models import Post, User
from .schemas import PostIn, PostOut, TokenOut

bp = Blueprint("api", __name__, url_prefix="/api")


@tokens.verify_password
def check_password(username, password):
    user = db.session.scalar(select(User).where(User.username == username))
    if user is not None and check_password_hash(user.password_hash, password):
        return user
    return None


@tokens.verify_token
def check_token(token):
    data = tokens.verify(token)  # None when forged, malformed or expired
    return db.session.get(User, data["uid"]) if data else None


@bp.errorhandler(404)
def not_found(error):
    return {"error": "not found", "message": error.description}, 404


def as_json(post) -> PostOut:
    image = url_for("blog.image", post_id=post.id) if post.image else None
    return PostOut(
        id=post.id,
        title=post.title,
        body=post.body,
        author=post.author.username,
        created=post.created,
        image_url=image,
    )


@bp.post("/tokens")
@tokens.auth_required(scheme="basic")
@typed(status_code=201)
def issue_token() -> TokenOut:
    """Trade a user name and password (HTTP Basic) for a bearer token."""
    return TokenOut(token=tokens.issue({"uid": current_user.id}), expires_in=tokens.max_age)


@bp.get("/posts")
@typed
def list_posts(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[PostOut]:
    """The newest posts first."""
    query = select(Post).order_by(Post.created.desc(), Post.id.desc()).limit(limit)
    return [as_json(post) for post in db.session.scalars(query)]


@bp.get("/posts/<int:post_id>")
@typed
def get_post(post_id: int) -> PostOut:
    """One post."""
    return as_json(db.get_or_404(Post, post_id))


@bp.post("/posts")
@tokens.auth_required  # Authorization: Bearer <token>
@typed(status_code=201)
def create_post(new: PostIn) -> tuple[PostOut, dict[str, str]]:
    """Write a post as the token's user."""
    post = Post(title=new.title.strip(), body=new.body, author_id=current_user.id)
    db.session.add(post)
    db.session.commit()
    return as_json(post), {"Location": url_for(".get_post", post_id=post.id)}
