"""The extension objects, made once and bound to each app by create_app()."""

from erlen.contrib.auth import LoginManager, TokenAuth
from erlen.contrib.csrf import CSRFProtect
from erlen.contrib.sqlalchemy import SQLAlchemy
from erlen.typed import OpenAPI

db = SQLAlchemy()
login_manager = LoginManager()
csrf = CSRFProtect()
tokens = TokenAuth(max_age=3600)  # API tokens, signed with SECRET_KEY, valid for an hour
openapi = OpenAPI(title="Erlog API", version="1.0", blueprints=["api"])
