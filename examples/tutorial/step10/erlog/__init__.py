"""Erlog, a small blog: the application factory."""

import os

from erlen import Erlen

from .extensions import csrf, db, login_manager, openapi, tokens


def create_app(test_config=None):
    """Create and configure an Erlog app; ``test_config`` replaces the instance config."""
    app = Erlen(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        SQLALCHEMY_DATABASE_URI="sqlite:///erlog.sqlite",
        UPLOAD_FOLDER=os.path.join(app.instance_path, "uploads"),
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,  # a bigger request is refused with 413
        OPENAPI_URL="/api/openapi.json",
        OPENAPI_DOCS_URL="/api/docs",
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)  # instance/config.py, if there is one
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"  # where login_required sends visitors
    csrf.init_app(app)
    tokens.init_app(app)
    openapi.init_app(app)

    from . import api, auth, blog, chat

    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(chat.bp)
    csrf.exempt(api.bp)  # no cookie logs anyone in to the API: only its Authorization header
    return app
