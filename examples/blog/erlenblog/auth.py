"""Registration, login and logout (hashed passwords, sessions, CSRF), and the account page."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from erlen import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from erlen.contrib.auth import current_user, is_safe_url, login_required, login_user, logout_user
from erlen.contrib.passwords import check_password_hash, generate_password_hash

from .extensions import db, limiter, login_manager, token_auth
from .models import Post, User

bp = Blueprint("auth", __name__)

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,40}")
MIN_PASSWORD = 8
# Checked against when the username is unknown, so that a login takes as long either way.
_DUMMY_HASH = generate_password_hash("not a password of anyone", method="scrypt")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Find the user a session names (login_user stored ``user.get_id()``)."""
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


def find_user(username: str) -> User | None:
    """Find a user by name."""
    return db.session.execute(select(User).filter_by(username=username)).scalar_one_or_none()


def authenticate(username: str, password: str) -> User | None:
    """Return the user if the password matches, else None."""
    user = find_user(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def register() -> Any:
    """Create an account."""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        error = None
        if not USERNAME.fullmatch(username):
            error = "A username has 3 to 40 letters, digits, '.', '-' or '_'."
        elif len(password) < MIN_PASSWORD:
            error = f"A password has at least {MIN_PASSWORD} characters."
        elif find_user(username) is not None:
            error = f"The name {username} is taken."
        if error is None:
            db.session.add(User(username=username, password_hash=generate_password_hash(password)))
            try:
                db.session.commit()
            except IntegrityError:  # registered by someone else a moment ago
                db.session.rollback()
                error = f"The name {username} is taken."
            else:
                flash(f"Welcome, {username}! You can log in now.")
                return redirect(url_for("auth.login"))
        flash(error, "error")
        return render_template("auth/register.html", min_password=MIN_PASSWORD)
    return render_template("auth/register.html", min_password=MIN_PASSWORD)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login() -> Any:
    """Log in with a username and password."""
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash("Incorrect username or password.", "error")
            return render_template("auth/login.html")
        login_user(user, remember=request.form.get("remember") == "1")
        flash(f"Hello, {user.username}.")
        target = request.args.get("next")
        if target is None or not is_safe_url(target):
            target = url_for("blog.index")
        return redirect(target)
    return render_template("auth/login.html")


@bp.post("/logout")
def logout() -> Any:
    """Log out (a POST, so that it carries a CSRF token: a link could be forged)."""
    logout_user()
    flash("You are logged out.")
    return redirect(url_for("blog.index"))


def _account(token: str | None = None) -> str:
    count = db.session.execute(
        select(func.count(Post.id)).filter_by(author_id=current_user.id)
    ).scalar_one()
    days = current_app.config["API_TOKEN_MAX_AGE"] // 86400
    return render_template("auth/account.html", post_count=count, token=token, token_days=days)


@bp.route("/account")
@login_required
def account() -> str:
    """Show the account page."""
    return _account()


@bp.post("/account/token")
@login_required
def new_token() -> str:
    """Issue an API token for the current user, shown once."""
    return _account(issue_token(current_user))


@bp.post("/account/revoke")
@login_required
def revoke_tokens() -> Any:
    """Invalidate every API token of the current user."""
    current_user.token_version += 1
    db.session.commit()
    flash("Every API token you had is revoked.")
    return redirect(url_for("auth.account"))


def issue_token(user: User) -> str:
    """A signed API token for ``user``; it stops working when ``token_version`` changes."""
    return token_auth.issue({"uid": user.id, "v": user.token_version})


@token_auth.verify_token
def verify_token(token: str) -> User | None:
    """Return the user of a valid, unexpired, unrevoked token."""
    data = token_auth.verify(token, max_age=current_app.config["API_TOKEN_MAX_AGE"])
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    user = db.session.get(User, data["uid"])
    if user is None or user.token_version != data.get("v"):
        return None
    return user


@token_auth.verify_password
def verify_password(username: str, password: str) -> User | None:
    """Basic authentication, used only to obtain a token."""
    return authenticate(username, password)
