"""The extension objects, made once and bound to each app by create_app()."""

from erlen.contrib.sqlalchemy import SQLAlchemy

db = SQLAlchemy()
