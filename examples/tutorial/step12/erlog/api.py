"""The JSON API: read posts freely (async views), write them with a token."""

from typing import Annotated

from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from erlen import Blueprint, url_for
from erlen.contrib.auth import current_user
from erlen.contrib.passwords import check_password_hash
from erlen.typed import Query, typed

from .extensions import db, tokens
from .live import announce
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
async def list_posts(limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[PostOut]:
    """The newest posts first."""
    query = (
        select(Post)
        .options(selectinload(Post.author))  # async code loads relationships up front
        .order_by(Post.created.desc(), Post.id.desc())
        .limit(limit)
    )
    posts = await db.async_session.scalars(query)
    return [as_json(post) for post in posts]


@bp.get("/posts/<int:post_id>")
@typed
async def get_post(post_id: int) -> PostOut:
    """One post."""
    query = select(Post).options(selectinload(Post.author)).where(Post.id == post_id)
    return as_json(await db.afirst_or_404(query))


@bp.get("/health")
async def health():
    """Answer 200 once the database answers: for load balancers and deploy scripts."""
    await db.async_session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.post("/posts")
@tokens.auth_required  # Authorization: Bearer <token>
@typed(status_code=201)
def create_post(new: PostIn) -> tuple[PostOut, dict[str, str]]:
    """Write a post as the token's user."""
    post = Post(title=new.title.strip(), body=new.body, author_id=current_user.id)
    db.session.add(post)
    db.session.commit()
    announce(post)
    return as_json(post), {"Location": url_for(".get_post", post_id=post.id)}
