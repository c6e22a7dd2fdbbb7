"""Password hashing: argon2id when ``argon2-cffi`` is installed, scrypt otherwise.

:func:`generate_password_hash` makes argon2id hashes when ``argon2-cffi`` is installed
(``pip install erlen[auth]``) and scrypt hashes otherwise; :func:`check_password_hash`
verifies those and every older Werkzeug format (pbkdf2, scrypt), in constant time, and answers
``False`` for a malformed hash instead of raising; :func:`needs_rehash` tells when a stored
hash should be upgraded at the next login.
"""

from __future__ import annotations

from typing import Any

from werkzeug import security as _wz

# -- passwords ----------------------------------------------------------------------------------

#: The prefix of argon2 hashes made here: ``argon2$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``
#: (the same layout Django uses, so hashes move between the two).
ARGON2_PREFIX = "argon2"

_argon2_hashers: dict[int, Any] = {}
_argon2_module: Any = None


def _argon2() -> Any:
    """Return the ``argon2`` module, or None when ``argon2-cffi`` is not installed."""
    global _argon2_module
    if _argon2_module is None:
        try:
            import argon2
        except ImportError:
            _argon2_module = False
        else:
            _argon2_module = argon2
    return _argon2_module or None


def _argon2_hasher(salt_length: int = 16) -> Any:
    hasher = _argon2_hashers.get(salt_length)
    if hasher is None:
        argon2 = _argon2()
        if argon2 is None:
            raise RuntimeError(
                "argon2 password hashes need the argon2-cffi package: pip install 'erlen[auth]'."
            )
        # argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3, 64 MiB, p=4).
        hasher = _argon2_hashers[salt_length] = argon2.PasswordHasher(salt_len=salt_length)
    return hasher


def default_password_method() -> str:
    """Return the method new hashes use: ``"argon2"`` when available, else ``"scrypt"``."""
    return "argon2" if _argon2() is not None else "scrypt"


def _argon2_encoded(pwhash: str) -> str | None:
    """Return the argon2 encoded hash inside ``pwhash``, or None for other formats."""
    if pwhash.startswith("argon2$argon2"):
        return pwhash[len(ARGON2_PREFIX) :]
    if pwhash.startswith("$argon2"):  # a bare hash from argon2-cffi or passlib
        return pwhash
    return None


def generate_password_hash(password: str, method: str | None = None, salt_length: int = 16) -> str:
    """Hash a password for storage.

    ``method`` is ``"argon2"`` (argon2id), ``"scrypt"`` or ``"pbkdf2"`` (optionally with
    Werkzeug's parameters, ``"scrypt:32768:8:1"``). The default is argon2id when
    ``argon2-cffi`` is importable, scrypt otherwise.
    """
    if not isinstance(password, str):
        raise TypeError("The password must be a str.")
    if method is None:
        method = default_password_method()
    if method == "argon2":
        return ARGON2_PREFIX + str(_argon2_hasher(salt_length).hash(password))
    return _wz.generate_password_hash(password, method=method, salt_length=salt_length)


def check_password_hash(pwhash: str, password: str) -> bool:
    """Tell whether ``password`` matches ``pwhash``, in constant time.

    A malformed or unknown hash gives ``False``; only an argon2 hash on a machine without
    ``argon2-cffi`` raises ``RuntimeError`` (every login would fail silently otherwise).
    """
    if not isinstance(pwhash, str) or not isinstance(password, str):
        return False
    encoded = _argon2_encoded(pwhash)
    if encoded is not None:
        hasher = _argon2_hasher()
        argon2 = _argon2()
        try:
            return bool(hasher.verify(encoded, password))
        except (argon2.exceptions.Argon2Error, ValueError, TypeError):
            return False
    try:
        return _wz.check_password_hash(pwhash, password)
    except (ValueError, TypeError, OverflowError, MemoryError):
        # Unknown method, bad parameters or a password that cannot be encoded.
        return False


def _wz_params(pwhash: str) -> tuple[str, list[str]] | None:
    head, sep, _ = pwhash.partition("$")
    if not sep:
        return None
    name, *args = head.split(":")
    return name, args


def _scrypt_params(args: list[str]) -> tuple[int, int, int]:
    if not args:
        return (2**15, 8, 1)
    n, r, p = map(int, args)
    return n, r, p


def _pbkdf2_params(args: list[str]) -> tuple[str, int]:
    hash_name = args[0] if args else "sha256"
    iterations = int(args[1]) if len(args) > 1 else _wz.DEFAULT_PBKDF2_ITERATIONS
    return hash_name, iterations


def needs_rehash(pwhash: str, method: str | None = None) -> bool:
    """Tell whether a hash should be replaced by a new one made with ``method``.

    True when the hash uses another method than ``method`` (the current default when None)
    or weaker parameters, and for a malformed hash. Rehash after a successful check.
    """
    if not isinstance(pwhash, str):
        return True
    target = method or default_password_method()
    encoded = _argon2_encoded(pwhash)
    if encoded is not None:
        if target != "argon2" or _argon2() is None:
            return True
        try:
            return bool(_argon2_hasher().check_needs_rehash(encoded))
        except Exception:  # a malformed parameter string
            return True
    parsed = _wz_params(pwhash)
    if parsed is None or target == "argon2":
        return True
    name, args = parsed
    target_name, *target_args = target.split(":")
    if name != target_name:
        return True
    try:
        if name == "scrypt":
            have, want = _scrypt_params(args), _scrypt_params(target_args)
            return any(h < w for h, w in zip(have, want, strict=True))
        if name == "pbkdf2":
            have_p, want_p = _pbkdf2_params(args), _pbkdf2_params(target_args)
            return have_p[0] != want_p[0] or have_p[1] < want_p[1]
    except ValueError:
        return True
    return True


# -- shared helpers ----------------------------------------------------------------------------


__all__ = [
    "check_password_hash",
    "default_password_method",
    "generate_password_hash",
    "needs_rehash",
]
