"""The extension objects, made without an app so that views and models can import them."""

from __future__ import annotations

from erlen.contrib.auth import LoginManager, TokenAuth
from erlen.contrib.caching import Cache
from erlen.contrib.csrf import CSRFProtect
from erlen.contrib.ratelimit import Limiter
from erlen.contrib.sqlalchemy import SQLAlchemy
from erlen.middleware.security_headers import SecurityHeaders

db = SQLAlchemy()
login_manager = LoginManager()
token_auth = TokenAuth(salt="erlenblog-api-token")
csrf = CSRFProtect()
cache = Cache()
limiter = Limiter()
security_headers = SecurityHeaders()
