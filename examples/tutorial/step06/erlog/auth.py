"""Accounts: register, log in, log out."""

from sqlalchemy import select

from erlen import Blueprint, flash, redirect, render_template, request, url_for
from erlen.contrib.auth import is_safe_url, login_user, logout_user
from erlen.contrib.passwords import check_password_hash, generate_password_hash

from .extensions import db, login_manager
from .models import User

bp = Blueprint("auth", __name__, url_prefix="/auth")


@login_manager.user_loader
def load_user(user_id):
    return db.session.get(User, int(user_id))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if request.method == "POST":
        username = request.form["username"].strip()
        password = request.form["password"]
        if not username or len(password) < 8:
            flash("Choose a user name and a password of at least 8 characters.")
        elif db.session.scalar(select(User).where(User.username == username)) is not None:
            flash(f"The name {username} is taken.")
        else:
            db.session.add(User(username=username, password_hash=generate_password_hash(password)))
            db.session.commit()
            flash("Welcome! You can log in now.")
            return redirect(url_for(".login"))
    return render_template("auth/register.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        user = db.session.scalar(select(User).where(User.username == request.form["username"]))
        if user is None or not check_password_hash(user.password_hash, request.form["password"]):
            flash("Wrong user name or password.")
        else:
            login_user(user)
            target = request.args.get("next")
            return redirect(target if is_safe_url(target) else url_for("blog.index"))
    return render_template("auth/login.html")


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("blog.index"))
