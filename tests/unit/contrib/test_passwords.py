"""Password hashing (erlen.contrib.passwords), and docs/security.md as written."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest
from werkzeug import security as wz

from erlen import Erlen
from erlen.contrib import passwords as sec
from erlen.contrib.passwords import check_password_hash, generate_password_hash, needs_rehash
from support import run_markdown

DOCS = Path(__file__).resolve().parents[3] / "docs"


def make_client(app: Erlen, protocol: str, **kwargs: Any) -> Any:
    return app.test_client(asgi=(protocol == "asgi"), **kwargs)


@pytest.fixture
def no_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as if argon2-cffi were not installed."""
    monkeypatch.setattr(sec, "_argon2_module", False)
    monkeypatch.setattr(sec, "_argon2_hashers", {})


# -- passwords ------------------------------------------------------------------------------------


def test_default_hash_is_argon2id_when_available() -> None:
    pytest.importorskip("argon2")
    pwhash = generate_password_hash("correct horse")
    assert pwhash.startswith("argon2$argon2id$v=19$")
    assert check_password_hash(pwhash, "correct horse")
    assert not check_password_hash(pwhash, "correct horsE")
    assert not check_password_hash(pwhash, "")
    assert not needs_rehash(pwhash)


def test_default_hash_is_scrypt_without_argon2(no_argon2: None) -> None:
    pwhash = generate_password_hash("pw")
    assert pwhash.startswith("scrypt:32768:8:1$")
    assert check_password_hash(pwhash, "pw")
    assert not check_password_hash(pwhash, "wp")
    assert not needs_rehash(pwhash)
    assert sec.default_password_method() == "scrypt"


def test_argon2_hash_without_argon2_fails_loudly(no_argon2: None) -> None:
    # Every login would silently fail otherwise: this is a deployment error.
    with pytest.raises(RuntimeError, match="argon2-cffi"):
        check_password_hash("argon2$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "pw")
    with pytest.raises(RuntimeError, match="argon2-cffi"):
        generate_password_hash("pw", method="argon2")


def test_salts_differ_and_salt_length_is_used() -> None:
    assert generate_password_hash("pw", "scrypt") != generate_password_hash("pw", "scrypt")
    salt = generate_password_hash("pw", "scrypt", salt_length=30).split("$")[1]
    assert len(salt) == 30


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2", "pbkdf2:sha256:1000", "scrypt:16384:8:1"])
def test_werkzeug_methods_and_old_hashes_verify(method: str) -> None:
    ours = generate_password_hash("s3cret é", method)
    theirs = wz.generate_password_hash("s3cret é", method)
    for pwhash in (ours, theirs):
        assert check_password_hash(pwhash, "s3cret é")
        assert not check_password_hash(pwhash, "s3cret e")


def test_foreign_argon2_formats_verify() -> None:
    argon2 = pytest.importorskip("argon2")
    bare = argon2.PasswordHasher().hash("pw")  # as argon2-cffi or passlib store it
    assert check_password_hash(bare, "pw")
    assert not check_password_hash(bare, "nope")
    assert check_password_hash("argon2" + bare, "pw")  # Django's layout, which is ours


@pytest.mark.parametrize(
    "pwhash",
    [
        "",
        "$",
        "plain",
        "x$y$z",
        "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
        "scrypt:a:b:c$salt$hash",
        "scrypt:3:8:1$salt$hash",  # n must be a power of two
        "scrypt:1:2$salt$hash",
        "pbkdf2:nohash:1000$salt$hash",
        "pbkdf2:sha256:abc$salt$hash",
        "pbkdf2:sha256:1000:extra$salt$hash",
        "argon2$argon2id$garbage",
        "$argon2id$v=19$m=65536,t=3,p=4$!!$!!",
        "argon2$argon2id$v=19$m=x,t=3,p=4$c2FsdA$aGFzaA",
        None,
        12345,
        b"scrypt:32768:8:1$salt$hash",
    ],
)
def test_malformed_hash_is_false_not_an_error(pwhash: Any) -> None:
    pytest.importorskip("argon2")
    assert check_password_hash(pwhash, "pw") is False
    assert needs_rehash(pwhash) is True


def test_password_that_cannot_be_encoded_is_false() -> None:
    pwhash = generate_password_hash("pw", "scrypt")
    assert check_password_hash(pwhash, "\udcff") is False  # a lone surrogate
    assert check_password_hash(pwhash, None) is False  # type: ignore[arg-type]


def test_generate_refuses_non_str() -> None:
    with pytest.raises(TypeError):
        generate_password_hash(b"pw")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        generate_password_hash("pw", method="md5")


def test_needs_rehash() -> None:
    pytest.importorskip("argon2")
    scrypt = generate_password_hash("pw", "scrypt")
    weak_scrypt = generate_password_hash("pw", "scrypt:16384:8:1")
    pbkdf2 = generate_password_hash("pw", "pbkdf2")
    few_rounds = generate_password_hash("pw", "pbkdf2:sha256:1000")
    assert needs_rehash(scrypt)  # the default is argon2id here
    assert not needs_rehash(scrypt, "scrypt")
    assert needs_rehash(weak_scrypt, "scrypt")
    assert needs_rehash(pbkdf2, "scrypt")
    assert not needs_rehash(pbkdf2, "pbkdf2")
    assert needs_rehash(few_rounds, "pbkdf2")
    assert needs_rehash(pbkdf2, "pbkdf2:sha512")
    assert needs_rehash(generate_password_hash("pw"), "scrypt")
    cheap = __import__("argon2").PasswordHasher(time_cost=1, memory_cost=8192).hash("pw")
    assert needs_rehash(cheap)
    assert needs_rehash("scrypt:a:b:c$s$h", "scrypt")


def test_rehash_on_login_flow() -> None:
    pytest.importorskip("argon2")
    stored = wz.generate_password_hash("pw", "pbkdf2")
    assert check_password_hash(stored, "pw")
    if needs_rehash(stored):
        stored = generate_password_hash("pw")
    assert stored.startswith("argon2$")
    assert check_password_hash(stored, "pw")


# -- docs/security.md runs as written ---------------------------------------------------------------


def test_security_doc_runs() -> None:
    pytest.importorskip("argon2")
    assert run_markdown(DOCS / "security.md", doctest.ELLIPSIS) >= 10
