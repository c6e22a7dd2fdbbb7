"""The extension objects, made without an app so that views and models can import them."""

from __future__ import annotations

from erlen.auth import LoginManager, TokenAuth
from erlen.caching import Cache
from erlen.contrib.sqlalchemy import SQLAlchemy
from erlen.csrf import CSRFProtect
from erlen.ratelimit import Limiter
from erlen.security import SecurityHeaders

db = SQLAlchemy()
login_manager = LoginManager()
token_auth = TokenAuth(salt="erlenblog-api-token")
csrf = CSRFProtect()
cache = Cache()
limiter = Limiter()
security_headers = SecurityHeaders()
