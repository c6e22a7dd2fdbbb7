"""The extension objects, made once and bound to each app by create_app()."""

from erlen.contrib.auth import LoginManager
from erlen.contrib.csrf import CSRFProtect
from erlen.contrib.sqlalchemy import SQLAlchemy

db = SQLAlchemy()
login_manager = LoginManager()
csrf = CSRFProtect()
