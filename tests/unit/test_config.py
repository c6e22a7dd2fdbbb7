"""Tests for erlen.config, compared with flask.Config where behaviour is shared."""

from __future__ import annotations

import errno
import json
import os
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import pytest

from erlen.config import DEFAULT_CONFIG, Config, ConfigAttribute

PYFILE = textwrap.dedent(
    """
    import os
    SECRET_KEY = "from file"
    DEBUG = True
    lower_case = "ignored"
    _UNDERSCORED = "kept, like Flask"
    HERE = os.path.basename(__file__)
    TIMEOUT = 5 * 60
    """
)


def both(root: Path | str) -> tuple[Config, flask.Config]:
    return Config(root), flask.Config(root)


# -- defaults ----------------------------------------------------------------


def test_defaults_match_flask() -> None:
    flask_defaults = dict(flask.Flask.default_config)
    ours = dict(DEFAULT_CONFIG)
    assert {k: ours[k] for k in flask_defaults} == flask_defaults
    assert {k: v for k, v in ours.items() if k not in flask_defaults} == {
        "ASGI_BODY_SPOOL_SIZE": 1024 * 1024,
        "ASGI_THREADPOOL_SIZE": None,
    }
    assert ours["PERMANENT_SESSION_LIFETIME"] == timedelta(days=31)


def test_defaults_are_copied_not_shared() -> None:
    config = Config("/", DEFAULT_CONFIG)
    config["DEBUG"] = True
    assert DEFAULT_CONFIG["DEBUG"] is None
    with pytest.raises(TypeError):
        DEFAULT_CONFIG["DEBUG"] = True  # type: ignore[index]
    assert Config("/") == {}


def test_is_a_dict_with_repr() -> None:
    config = Config("/app", {"A": 1})
    assert isinstance(config, dict)
    assert config.root_path == "/app"
    assert repr(config) == "<Config {'A': 1}>"

    class Sub(Config):
        pass

    assert repr(Sub("/")) == "<Sub {}>"


# -- from_pyfile / from_envvar ----------------------------------------------


def test_from_pyfile_relative_to_root(tmp_path: Path) -> None:
    (tmp_path / "settings.cfg").write_text(PYFILE)
    ours, theirs = both(tmp_path)
    assert ours.from_pyfile("settings.cfg") is True
    theirs.from_pyfile("settings.cfg")
    assert (
        ours
        == theirs
        == {
            "SECRET_KEY": "from file",
            "DEBUG": True,
            "HERE": "settings.cfg",
            "TIMEOUT": 300,
            "_UNDERSCORED": "kept, like Flask",
        }
    )


def test_from_pyfile_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs.py"
    path.write_text("VALUE = 1\n")
    config = Config("/somewhere/else")
    assert config.from_pyfile(path) is True
    assert config["VALUE"] == 1


def test_from_pyfile_missing(tmp_path: Path) -> None:
    ours, theirs = both(tmp_path)
    with pytest.raises(OSError) as info:
        ours.from_pyfile("missing.cfg")
    with pytest.raises(OSError) as flask_info:
        theirs.from_pyfile("missing.cfg")
    assert info.value.errno == errno.ENOENT
    assert str(info.value) == str(flask_info.value)
    assert "Unable to load configuration file" in str(info.value)
    assert str(tmp_path / "missing.cfg") in str(info.value)
    assert ours.from_pyfile("missing.cfg", silent=True) is False
    assert ours.from_pyfile(".", silent=True) is False  # a directory
    assert ours.from_pyfile("missing/child.cfg", silent=True) is False


def test_from_pyfile_not_a_directory_is_silent(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert Config(tmp_path).from_pyfile("file/child.cfg", silent=True) is False


def test_silent_only_ignores_missing_files(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")  # open() fails with ELOOP
    config = Config(tmp_path)
    with pytest.raises(OSError) as info:
        config.from_pyfile("loop", silent=True)
    assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        config.from_file("loop", json.load, silent=True)


def test_from_pyfile_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.cfg").write_text("X = (\n")
    (tmp_path / "raises.cfg").write_text("X = undefined_name\n")
    config = Config(tmp_path)
    with pytest.raises(SyntaxError) as info:
        config.from_pyfile("broken.cfg", silent=True)
    assert info.value.filename == str(tmp_path / "broken.cfg")
    with pytest.raises(NameError) as name_info:
        config.from_pyfile("raises.cfg")
    assert str(name_info.traceback[-1].path) == str(tmp_path / "raises.cfg")


def test_from_envvar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "env.cfg").write_text(PYFILE)
    monkeypatch.setenv("APP_SETTINGS", str(tmp_path / "env.cfg"))
    config = Config("/")
    assert config.from_envvar("APP_SETTINGS") is True
    assert config["SECRET_KEY"] == "from file"


def test_from_envvar_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_SETTINGS", raising=False)
    ours, theirs = both("/")
    with pytest.raises(RuntimeError, match="'APP_SETTINGS' is not set"):
        ours.from_envvar("APP_SETTINGS")
    with pytest.raises(RuntimeError, match="'APP_SETTINGS' is not set"):
        theirs.from_envvar("APP_SETTINGS")
    assert ours.from_envvar("APP_SETTINGS", silent=True) is False
    monkeypatch.setenv("APP_SETTINGS", "")
    with pytest.raises(RuntimeError):
        ours.from_envvar("APP_SETTINGS")


def test_from_envvar_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_SETTINGS", str(tmp_path / "nope.cfg"))
    ours, theirs = both("/")
    assert ours.from_envvar("APP_SETTINGS", silent=True) is False
    with pytest.raises(OSError) as info:
        ours.from_envvar("APP_SETTINGS")
    with pytest.raises(OSError) as flask_info:
        theirs.from_envvar("APP_SETTINGS")
    assert str(info.value) == str(flask_info.value)


# -- from_prefixed_env -------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith(("ERLEN_", "FLASK_", "MYAPP_")):
            monkeypatch.delenv(key)
    return monkeypatch


def test_from_prefixed_env_matches_flask(clean_env: pytest.MonkeyPatch) -> None:
    env = {
        "STRING": "value",
        "INT": "1",
        "FLOAT": "1.2",
        "BOOL": "true",
        "NULL": "null",
        "LIST": "[1, 2]",
        "DICT": '{"k": "v"}',
        "BROKEN_JSON": "{nope",
        "DB__HOST": "localhost",
        "DB__PORT": "5432",
        "EXIST__ING__DEEP": "3",
        "lower": "x",
    }
    for key, value in env.items():
        clean_env.setenv(f"ERLEN_{key}", value)
        clean_env.setenv(f"FLASK_{key}", value)
    ours = Config("/", {"EXIST": {"ING": {"KEEP": 1}}})
    theirs = flask.Config("/", {"EXIST": {"ING": {"KEEP": 1}}})
    assert ours.from_prefixed_env() is True
    theirs.from_prefixed_env()
    assert ours == theirs
    assert ours["DB"] == {"HOST": "localhost", "PORT": 5432}
    assert ours["EXIST"] == {"ING": {"KEEP": 1, "DEEP": 3}}
    assert ours["BROKEN_JSON"] == "{nope"
    assert ours["lower"] == "x"


def test_from_prefixed_env_prefix_and_loads(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FLASK_IGNORED", "1")
    clean_env.setenv("MYAPP_B", "2")
    clean_env.setenv("MYAPP_A", "1")
    clean_env.setenv("MYAPPX_C", "3")
    seen: list[str] = []

    def loads(value: str) -> Any:
        seen.append(value)
        return int(value) * 10

    config = Config("/")
    config.from_prefixed_env()
    assert config == {}
    config.from_prefixed_env("MYAPP", loads=loads)
    assert config == {"A": 10, "B": 20}
    assert seen == ["1", "2"]  # sorted order


def test_from_prefixed_env_sorted_order_lets_nested_win(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ERLEN_DB", '{"HOST": "a", "USER": "u"}')
    clean_env.setenv("ERLEN_DB__HOST", "b")
    ours, theirs = both("/")
    ours.from_prefixed_env()
    theirs.from_prefixed_env(prefix="ERLEN")
    assert ours == theirs == {"DB": {"HOST": "b", "USER": "u"}}


# -- from_object / from_mapping / from_file ----------------------------------


class BaseSettings:
    DEBUG = False
    NAME = "base"
    helper = "ignored"


class ProductionSettings(BaseSettings):
    NAME = "production"


def test_from_object_class_and_instance() -> None:
    config = Config("/")
    config.from_object(ProductionSettings)
    assert config == {"DEBUG": False, "NAME": "production"}
    config.from_object(BaseSettings())
    assert config["NAME"] == "base"


def test_from_object_import_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "erlen_test_settings.py").write_text(
        "TOKEN = 'abc'\nlower = 1\n\nclass Dev:\n    DEBUG = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "erlen_test_settings", raising=False)
    config = Config("/")
    config.from_object("erlen_test_settings")
    assert config["TOKEN"] == "abc"
    assert "lower" not in config
    config.from_object("erlen_test_settings.Dev")
    assert config["DEBUG"] is True
    config.from_object("erlen_test_settings:Dev")
    with pytest.raises(ImportError):
        config.from_object("erlen_test_settings_missing")


def test_from_mapping() -> None:
    config = Config("/")
    assert config.from_mapping({"A": 1, "b": 2}, C=3, d=4) is True
    assert config == {"A": 1, "C": 3}
    assert config.from_mapping() is True
    config.from_mapping([("E", 5)], A=0)  # type: ignore[arg-type]
    assert config == {"A": 0, "C": 3, "E": 5}


def test_from_file_json(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"TEST_KEY": "foo", "lower": 1, "N": [1]}')
    ours, theirs = both(tmp_path)
    assert ours.from_file("c.json", load=json.load) is True
    theirs.from_file("c.json", load=json.load)
    assert ours == theirs == {"TEST_KEY": "foo", "N": [1]}


def test_from_file_toml(tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")
    (tmp_path / "c.toml").write_text('TEST_KEY = "foo"\n[DB]\nHOST = "h"\n')
    config = Config(tmp_path)
    assert config.from_file("c.toml", load=tomllib.load, text=False) is True
    assert config == {"TEST_KEY": "foo", "DB": {"HOST": "h"}}


def test_from_file_missing(tmp_path: Path) -> None:
    ours, theirs = both(tmp_path)
    assert ours.from_file("none.json", json.load, silent=True) is False
    with pytest.raises(OSError) as info:
        ours.from_file("none.json", json.load)
    with pytest.raises(OSError) as flask_info:
        theirs.from_file("none.json", json.load)
    assert str(info.value) == str(flask_info.value)
    assert "Unable to load configuration file" in str(info.value)


def test_from_file_load_errors_propagate(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError):
        Config(tmp_path).from_file("bad.json", json.load, silent=True)


# -- get_namespace -----------------------------------------------------------


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("trim", [True, False])
def test_get_namespace(lowercase: bool, trim: bool) -> None:
    values = {
        "IMAGE_STORE_TYPE": "fs",
        "IMAGE_STORE_PATH": "/var/images",
        "IMAGE_STORE_BASE_URL": "http://img",
        "IMAGE_OTHER": "no",
        "STORE": "no",
    }
    ours, theirs = Config("/", values), flask.Config("/", values)
    got = ours.get_namespace("IMAGE_STORE_", lowercase=lowercase, trim_namespace=trim)
    assert got == theirs.get_namespace("IMAGE_STORE_", lowercase=lowercase, trim_namespace=trim)
    assert len(got) == 3


def test_get_namespace_default_lowercases_and_trims() -> None:
    config = Config("/", {"DB_HOST": "h", "DB_PORT": 1})
    assert config.get_namespace("DB_") == {"host": "h", "port": 1}


# -- ConfigAttribute ---------------------------------------------------------


def _minutes(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(minutes=value)


class App:
    secret_key = ConfigAttribute[str | bytes | None]("SECRET_KEY")
    testing = ConfigAttribute[bool]("TESTING")
    lifetime = ConfigAttribute[timedelta]("LIFETIME", get_converter=_minutes)

    def __init__(self) -> None:
        self.config = Config("/", {"SECRET_KEY": None, "TESTING": False, "LIFETIME": 5})


def test_config_attribute_forwards() -> None:
    app = App()
    assert app.secret_key is None
    app.secret_key = "k"
    assert app.config["SECRET_KEY"] == "k"
    app.config["TESTING"] = True
    assert app.testing is True
    assert app.lifetime == timedelta(minutes=5)
    app.lifetime = timedelta(hours=1)
    assert app.config["LIFETIME"] == timedelta(hours=1)
    assert app.lifetime == timedelta(hours=1)


def test_config_attribute_on_class() -> None:
    attr = App.secret_key
    assert isinstance(attr, ConfigAttribute)
    assert attr.__name__ == "SECRET_KEY"
    assert App.lifetime.get_converter is _minutes
