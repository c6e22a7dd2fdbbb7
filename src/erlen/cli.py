"""The ``erlen`` command line: app discovery, ``run``, ``routes``, ``shell`` and custom commands.

``erlen --app module:name <command>`` loads an app the way ``flask`` does; ``erlen run``
serves it through its ASGI door on uvicorn. Apps add commands with ``@app.cli.command()``
and blueprints with ``@bp.cli.command()``; both run inside an application context.

It also follows Flask's conventions, so it serves as ``flask`` in compat mode
(:mod:`erlen.flask_compat`): every ``ERLEN_*`` variable it reads has a ``FLASK_*`` twin,
read when the ``ERLEN_*`` one is not set; ``.flaskenv`` is loaded along with ``.erlenenv``;
commands come from the ``flask.commands`` entry points too; and ``flask.cli``'s names
(``FlaskGroup``, ``get_version``, ``CertParamType``, ...) are here.
"""

from __future__ import annotations

import ast
import code
import importlib
import importlib.metadata
import inspect
import os
import platform
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from functools import update_wrapper
from types import ModuleType
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from .app import Erlen
from .globals import _cv_app
from .helpers import get_debug_flag, get_load_dotenv

F = TypeVar("F", bound=Callable[..., Any])

#: File names tried, in order, when no app is named (``wsgi.py`` first, as Flask does).
DEFAULT_APP_FILES = ("wsgi.py", "app.py")
#: Attribute names tried first when a module is named without ``:name``.
APP_NAMES = ("app", "application")
#: Factory functions called (without arguments) when no app object is found.
FACTORY_NAMES = ("create_app", "make_app")
#: File patterns (besides ``*.py``) whose changes restart ``erlen run --reload``.
RELOAD_PATTERNS = ("*.py", "*.html", "*.htm", "*.jinja", "*.jinja2", "*.j2")


def _compat_active() -> bool:
    module = sys.modules.get("erlen.flask_compat")
    return module is not None and bool(module.is_active())


def _program_name() -> str:
    """Return the name the command was started as: ``flask``, ``python -m flask``, ``erlen``."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().info_name:
        return str(ctx.find_root().info_name)
    return "flask" if _compat_active() else "erlen"


def _flask_flavour(name: str | None = None) -> bool:
    """Whether messages should use Flask's names: run as ``flask``, or in compat mode."""
    name = _program_name() if name is None else name
    return "flask" in os.path.basename(name).lower() or _compat_active()


def _app_hint() -> str:
    prog = _program_name()
    if "flask" in prog:
        var = "the 'FLASK_APP' environment variable"
    else:
        var = "the 'ERLEN_APP' (or Flask's 'FLASK_APP') environment variable"
    return (
        f"Use the '{prog} --app' option, {var},"
        " or a 'wsgi.py' or 'app.py' file in the current directory."
    )


def environ_get(name: str) -> str | None:
    """Return ``ERLEN_<name>``, else ``FLASK_<name>``, from the environment (empty is unset).

    This is the precedence of every variable the command line reads: Erlen's name first,
    then Flask's, so a project ported from Flask keeps working unchanged.
    """
    return os.environ.get(f"ERLEN_{name}") or os.environ.get(f"FLASK_{name}") or None


class EnvOption(click.Option):
    """An option that reads ``ERLEN_<PREFIX>_<NAME>``, else ``FLASK_<PREFIX>_<NAME>``."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        """Look up the ``ERLEN_`` variable click derives, then its ``FLASK_`` twin."""
        rv = super().resolve_envvar_value(ctx)
        if rv is not None:
            return rv
        prefix = ctx.auto_envvar_prefix
        if self.allow_from_autoenv and self.name and prefix and prefix.startswith("ERLEN"):
            return os.environ.get(f"FLASK{prefix[5:]}_{self.name.upper()}") or None
        return None


class NoAppException(click.UsageError):
    """The application could not be found or loaded."""


# -- discovery ---------------------------------------------------------------------------------


def find_best_app(module: ModuleType) -> Erlen:
    """Return the app in *module*: ``app``/``application``, the only app, or a factory's app."""
    for name in APP_NAMES:
        candidate = getattr(module, name, None)
        if isinstance(candidate, Erlen):
            return candidate

    found = [value for value in vars(module).values() if isinstance(value, Erlen)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise NoAppException(
            f"Found several Erlen applications in module {module.__name__!r}."
            f" Use '{module.__name__}:name' to pick one."
        )

    for name in FACTORY_NAMES:
        factory = getattr(module, name, None)
        if not inspect.isfunction(factory):
            continue
        try:
            candidate = factory()
        except TypeError as e:
            if not _failed_at_call(factory, e):
                raise
            raise NoAppException(
                f"Found the factory {name!r} in module {module.__name__!r}, but it cannot be"
                f" called without arguments. Use '{module.__name__}:{name}(args)' to pass them."
            ) from e
        if isinstance(candidate, Erlen):
            return candidate
        raise NoAppException(
            f"The factory {name!r} in module {module.__name__!r} returned"
            f" {type(candidate).__name__}, not an Erlen application."
        )

    raise NoAppException(
        f"Found no Erlen application or factory in module {module.__name__!r}."
        f" Use '{module.__name__}:name' to name one."
    )


def _failed_at_call(func: Callable[..., Any], error: BaseException) -> bool:
    """Tell whether a ``TypeError`` came from the call itself, not from inside *func*."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is func.__code__:
            return False
        tb = tb.tb_next
    return True


def find_app_by_string(module: ModuleType, app_name: str) -> Erlen:
    """Resolve ``name`` or ``factory(literal, args)`` in *module* to an app."""
    try:
        expr = ast.parse(app_name.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppException(
            f"Cannot parse {app_name!r} as an attribute name or a function call."
        ) from None

    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if isinstance(expr, ast.Name):
        name = expr.id
        called = False
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        name = expr.func.id
        called = True
        try:
            args = [ast.literal_eval(arg) for arg in expr.args]
            for keyword in expr.keywords:
                if keyword.arg is None:
                    raise ValueError("**kwargs")
                kwargs[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            raise NoAppException(
                f"The arguments in {app_name!r} must be Python literals"
                " (strings, numbers, lists, dicts, True, False, None)."
            ) from None
    elif isinstance(expr, ast.Call):
        raise NoAppException(f"The factory in {app_name!r} must be a plain name.")
    else:
        raise NoAppException(f"Cannot parse {app_name!r} as an attribute name or a function call.")

    try:
        target = getattr(module, name)
    except AttributeError:
        raise NoAppException(f"Module {module.__name__!r} has no attribute {name!r}.") from None

    if inspect.isfunction(target):
        try:
            target = target(*args, **kwargs)
        except TypeError as e:
            if not _failed_at_call(target, e):
                raise
            raise NoAppException(
                f"The factory {app_name!r} in module {module.__name__!r} cannot be called"
                f" with these arguments: {e}"
            ) from e
    elif called:
        raise NoAppException(
            f"{name!r} in module {module.__name__!r} is not a function and cannot be called."
        )

    if isinstance(target, Erlen):
        return target
    raise NoAppException(
        f"'{module.__name__}:{app_name}' is a {type(target).__name__}, not an Erlen application."
    )


def prepare_import(path: str) -> str:
    """Turn a file path or module name into an importable module name.

    The folder that holds the module (above its package, if it is in one) goes first on
    ``sys.path``, so ``app``, ``pkg.app``, ``app.py`` and ``src/pkg/app.py`` all import.
    """
    real = os.path.realpath(path)
    base, ext = os.path.splitext(real)
    if ext == ".py":
        real = base
    if os.path.basename(real) == "__init__":
        real = os.path.dirname(real)

    parts: list[str] = []
    while True:
        real, name = os.path.split(real)
        parts.append(name)
        if not os.path.isfile(os.path.join(real, "__init__.py")):
            break
    if not sys.path or sys.path[0] != real:
        sys.path.insert(0, real)
    return ".".join(reversed(parts))


def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: bool = True
) -> Erlen | None:
    """Import *module_name* and find the app in it (``None`` if it is missing and allowed)."""
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and _is_module_or_parent(e.name, module_name):
            if not raise_if_not_found:
                return None
            raise NoAppException(
                f"Could not import {module_name!r}: no such module. {_app_hint()}"
            ) from None
        raise NoAppException(_import_failure(module_name)) from None
    except Exception:
        raise NoAppException(_import_failure(module_name)) from None

    module = sys.modules[module_name]
    if app_name is None:
        return find_best_app(module)
    return find_app_by_string(module, app_name)


def _is_module_or_parent(missing: str, module_name: str) -> bool:
    return module_name == missing or module_name.startswith(missing + ".")


def _import_failure(module_name: str) -> str:
    # The traceback is part of the message: the user's code failed, show where.
    return f"While importing {module_name!r}, an error was raised:\n\n{traceback.format_exc()}"


def _split_import_path(import_path: str) -> tuple[str, str | None]:
    # Split at the first ':' that does not start a Windows drive path ("C:\...").
    parts = re.split(r":(?![\\/])", import_path, maxsplit=1)
    return parts[0], (parts[1] if len(parts) > 1 else None)


class ScriptInfo:
    """What the CLI knows about the app it serves: how to load it, and the loaded app."""

    def __init__(
        self,
        app_import_path: str | None = None,
        create_app: Callable[[], Erlen] | None = None,
        set_debug_flag: bool = True,
        load_dotenv_defaults: bool = True,
    ) -> None:
        #: ``module``, ``module:name`` or ``module:factory(args)``; a module may be a file path.
        self.app_import_path = app_import_path
        #: A function returning the app, used instead of ``app_import_path``.
        self.create_app = create_app
        #: Free-form data for custom commands.
        self.data: dict[Any, Any] = {}
        #: Whether loading sets ``app.debug`` from ``ERLEN_DEBUG`` (or ``FLASK_DEBUG``).
        self.set_debug_flag = set_debug_flag
        #: Whether ``.env``, ``.erlenenv`` and ``.flaskenv`` are loaded (``ERLEN_SKIP_DOTENV=1``
        #: or ``FLASK_SKIP_DOTENV=1`` turns it off).
        self.load_dotenv_defaults = get_load_dotenv(load_dotenv_defaults)
        self._loaded_app: Erlen | None = None
        self._discovered_module: str | None = None

    def load_app(self) -> Erlen:
        """Load the app once and return it; raise :class:`NoAppException` if it is not found."""
        if self._loaded_app is not None:
            return self._loaded_app
        app: Erlen | None = None
        if self.create_app is not None:
            app = self.create_app()
            if not isinstance(app, Erlen):
                raise NoAppException(
                    f"create_app returned {type(app).__name__}, not an Erlen application."
                )
        elif self.app_import_path:
            path, name = _split_import_path(self.app_import_path)
            app = locate_app(prepare_import(path), name)
        else:
            for filename in DEFAULT_APP_FILES:
                stem = filename[:-3]
                if not (
                    os.path.isfile(filename) or os.path.isfile(os.path.join(stem, "__init__.py"))
                ):
                    continue
                module_name = prepare_import(filename)
                app = locate_app(module_name, None, raise_if_not_found=False)
                if app is not None:
                    self._discovered_module = module_name
                    break
        if app is None:
            raise NoAppException(f"Could not locate an Erlen application. {_app_hint()}")
        if self.set_debug_flag:
            # Through the property, so settings tied to debug mode follow it.
            app.debug = get_debug_flag()
        self._loaded_app = app
        return app


def _current_app_or_none() -> Erlen | None:
    ctx = _cv_app.get(None)
    return None if ctx is None else ctx.app


def _current_app() -> Erlen:
    app = _current_app_or_none()
    if app is None:
        raise RuntimeError("This command needs an application context.")
    return app


#: Decorate a command callback to receive the current :class:`ScriptInfo` as first argument.
pass_script_info = click.make_pass_decorator(ScriptInfo, ensure=True)


def with_appcontext(f: F) -> F:
    """Run a command callback inside the loaded app's application context.

    Commands on ``app.cli`` and ``bp.cli`` get this automatically.
    """

    @click.pass_context
    def decorator(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        if _current_app_or_none() is None:
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())
        return ctx.invoke(f, *args, **kwargs)

    return update_wrapper(decorator, f)  # type: ignore[return-value]


class AppGroup(click.Group):
    """A click group whose commands run in an app context (``with_appcontext=False`` opts out)."""

    def command(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Command]:
        """Register a command, like :meth:`click.Group.command`, wrapped in an app context."""
        wrap = kwargs.pop("with_appcontext", True)

        def decorator(f: Callable[..., Any]) -> click.Command:
            if wrap:
                f = with_appcontext(f)
            command: click.Command = super(AppGroup, self).command(*args, **kwargs)(f)
            return command

        return decorator

    def group(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Group]:
        """Register a subgroup; it is an :class:`AppGroup` unless ``cls=`` says otherwise."""
        kwargs.setdefault("cls", AppGroup)
        return super().group(*args, **kwargs)  # type: ignore[no-any-return]


# -- the group's own options ---------------------------------------------------------------------


def _set_app(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.ensure_object(ScriptInfo).app_import_path = value
    return value


# Eager, so the app's commands show up in --help.
_app_option = EnvOption(
    ["-A", "--app"],
    metavar="IMPORT",
    help=(
        "The application to load: 'module', 'module:name' or 'module:create_app(args)'."
        " The module may be a dotted name or a file path. Without a name, Erlen looks for"
        " 'app', 'application', or a 'create_app'/'make_app' factory."
        " [env: ERLEN_APP, else FLASK_APP]"
    ),
    is_eager=True,
    expose_value=False,
    callback=_set_app,
)


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool | None) -> bool | None:
    source = ctx.get_parameter_source(param.name or "debug")
    if value is None or source in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        return None
    # Through the environment, so an app factory sees it while it runs (under Flask's
    # name too when run as `flask`, for factories that read FLASK_DEBUG themselves).
    os.environ["ERLEN_DEBUG"] = "1" if value else "0"
    if _flask_flavour():
        os.environ["FLASK_DEBUG"] = os.environ["ERLEN_DEBUG"]
    return value


_debug_option = EnvOption(
    ["--debug/--no-debug"],
    default=None,
    help="Turn debug mode on or off for any command. [env: ERLEN_DEBUG, else FLASK_DEBUG]",
    expose_value=False,
    callback=_set_debug,
)


def _load_env_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        import dotenv  # noqa: F401
    except ImportError:
        if value is not None:
            raise click.BadParameter(
                "python-dotenv must be installed to load an env file (pip install python-dotenv).",
                ctx=ctx,
                param=param,
            ) from None
    info = ctx.ensure_object(ScriptInfo)
    if value is not None or info.load_dotenv_defaults:
        load_dotenv(value, load_defaults=info.load_dotenv_defaults)
    return value


# Eager and first, so variables it sets (ERLEN_APP, ...) are seen by the other options.
_env_file_option = EnvOption(
    ["-e", "--env-file"],
    type=click.Path(exists=True, dir_okay=False),
    help=(
        "Load environment variables from this file; it wins over '.env', '.erlenenv' and"
        " '.flaskenv', and variables already set win over all files. Needs python-dotenv."
    ),
    is_eager=True,
    expose_value=False,
    callback=_load_env_file,
)


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def get_version(ctx: Any, param: click.Parameter | None, value: Any) -> None:
    """Print the versions of Python, Erlen and Werkzeug, then exit (``--version``'s callback).

    Run as ``flask`` (or in compat mode) the lines have Flask's shape, with Erlen's version
    beside the Flask version it answers for: ``Flask 3.1.3 (Erlen 0.1.0)``.
    """
    if not value or ctx.resilient_parsing:
        return
    erlen_version = _dist_version("erlen") or "unknown"
    lines = [f"Python {platform.python_version()}"]
    if _flask_flavour():
        compat = sys.modules.get("erlen.flask_compat")
        flask_version = _dist_version("flask") or getattr(compat, "FLASK_API_VERSION", "")
        flask = f"Flask {flask_version}" if flask_version else "Flask"
        lines.append(f"{flask} (Erlen {erlen_version})")
        lines.append(f"Werkzeug {_dist_version('werkzeug') or 'unknown'}")
    else:
        lines.append(f"Erlen {erlen_version}")
        for dist in ("werkzeug", "click"):
            found = _dist_version(dist)
            if found is not None:
                lines.append(f"{dist.capitalize()} {found}")
    click.echo("\n".join(lines), color=ctx.color)
    ctx.exit()


#: The ``--version`` option of :class:`ErlenGroup` (``add_version_option=False`` leaves it out).
version_option = click.Option(
    ["--version"],
    help="Show the versions of Erlen, Werkzeug, click and Python.",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=get_version,
)


class ErlenGroup(AppGroup):
    """The ``erlen`` command group; make one for a custom entry point (``manage.py``).

    It adds ``--app``, ``--debug``, ``--env-file`` and ``--version``, the built-in
    ``run``, ``shell`` and ``routes`` commands, commands from the ``erlen.commands``
    entry point group (and ``flask.commands`` in compat mode), and the loaded app's own
    commands. ``FlaskGroup`` is this class.

    :param add_default_commands: add ``run``, ``shell`` and ``routes``.
    :param create_app: a function returning the app, used instead of ``--app`` discovery.
    :param add_version_option: add ``--version``.
    :param load_dotenv: load ``.env`` and ``.erlenenv`` (python-dotenv needed).
    :param set_debug_flag: set ``app.debug`` from ``ERLEN_DEBUG`` when the app is loaded.
    """

    def __init__(
        self,
        add_default_commands: bool = True,
        create_app: Callable[[], Erlen] | None = None,
        add_version_option: bool = True,
        load_dotenv: bool = True,
        set_debug_flag: bool = True,
        **extra: Any,
    ) -> None:
        params: list[click.Parameter] = list(extra.pop("params", None) or ())
        params.extend((_env_file_option, _app_option, _debug_option))
        if add_version_option:
            params.append(version_option)
        extra.setdefault("context_settings", {})
        extra["context_settings"].setdefault("auto_envvar_prefix", "ERLEN")
        super().__init__(params=params, **extra)
        self.create_app = create_app
        self.load_dotenv = load_dotenv
        self.set_debug_flag = set_debug_flag
        if add_default_commands:
            self.add_command(run_command)
            self.add_command(shell_command)
            self.add_command(routes_command)
        self._plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        # Flask's group only in compat mode: outside it, a Flask extension's command
        # would import the real Flask next to Erlen. Erlen's come last and win a name.
        groups = ("flask.commands", "erlen.commands") if _compat_active() else ("erlen.commands",)
        for group in groups:
            for entry_point in importlib.metadata.entry_points(group=group):
                self.add_command(entry_point.load(), entry_point.name)
        self._plugins_loaded = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a built-in or plugin command, else one of the loaded app's commands."""
        self._load_plugin_commands()
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        info = ctx.ensure_object(ScriptInfo)
        try:
            app = info.load_app()
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
            return None
        # The app's commands and their option callbacks run in its context.
        if _current_app_or_none() is not app:
            ctx.with_resource(app.app_context())
        found: click.Command | None = app.cli.get_command(ctx, cmd_name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List built-in, plugin and app commands; report (not raise) a failure to load the app."""
        self._load_plugin_commands()
        names = set(super().list_commands(ctx))
        info = ctx.ensure_object(ScriptInfo)
        try:
            names.update(info.load_app().cli.list_commands(ctx))
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
        except Exception:
            click.secho(f"{traceback.format_exc()}\n", err=True, fg="red")
        return sorted(names)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Create the context with a :class:`ScriptInfo` for this group's settings."""
        # An app module that calls app.run() at import time must not start a server
        # in the middle of a CLI command: run_app() checks this. Run as `flask`, Flask's
        # name is set too, for code that reads it.
        os.environ["ERLEN_RUN_FROM_CLI"] = "true"
        root_name = parent.find_root().info_name if parent is not None else info_name
        if _flask_flavour(root_name or ""):
            os.environ["FLASK_RUN_FROM_CLI"] = "true"
        if "obj" not in extra and "obj" not in self.context_settings:
            extra["obj"] = ScriptInfo(
                create_app=self.create_app,
                set_debug_flag=self.set_debug_flag,
                load_dotenv_defaults=self.load_dotenv,
            )
        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Process ``--env-file`` and ``--app`` early when only help will be shown."""
        if (not args and self.no_args_is_help) or (
            len(args) == 1 and args[0] in self.get_help_option_names(ctx)
        ):
            # Help skips option processing; read ERLEN_APP and dotenv files anyway,
            # so the app's own commands are listed.
            _env_file_option.handle_parse_result(ctx, {}, [])
            _app_option.handle_parse_result(ctx, {}, [])
        return super().parse_args(ctx, args)


#: The env files ``load_dotenv`` looks for, the later winning a name: public settings in
#: ``.flaskenv`` (Flask's) and ``.erlenenv``, private ones in ``.env``.
DOTENV_FILES = (".flaskenv", ".erlenenv", ".env")


def load_dotenv(path: str | os.PathLike[str] | None = None, load_defaults: bool = True) -> bool:
    """Set environment variables from ``.flaskenv``, ``.erlenenv``, ``.env`` and *path*.

    Needs python-dotenv (without it, nothing is loaded). Later files win (*path* over
    ``.env`` over ``.erlenenv`` over ``.flaskenv``); variables already in the environment
    are never overwritten. Return whether any variable was read.
    """
    try:
        import dotenv
    except ImportError:
        if path or any(os.path.isfile(name) for name in DOTENV_FILES):
            click.secho(
                " * Tip: there are .env files here. Install python-dotenv to load them.",
                fg="yellow",
                err=True,
            )
        return False

    values: dict[str, str | None] = {}
    if load_defaults:
        for name in DOTENV_FILES:
            found = dotenv.find_dotenv(name, usecwd=True)
            if found:
                values.update(dotenv.dotenv_values(found, encoding="utf-8"))
    if path is not None and os.path.isfile(path):
        values.update(dotenv.dotenv_values(path, encoding="utf-8"))
    for key, value in values.items():
        if value is not None and key not in os.environ:
            os.environ[key] = value
    return bool(values)


_load_dotenv = load_dotenv  # run_app's parameter of the same name hides it


# -- erlen run ----------------------------------------------------------------------------------


class CertParamType(click.ParamType):  # type: ignore[type-arg]
    """``run --cert``: a certificate file, ``adhoc``, or the import name of an ``SSLContext``."""

    name = "path"

    def __init__(self) -> None:
        self.path_type = click.Path(exists=True, dir_okay=False, resolve_path=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Return the file's path, ``"adhoc"`` or the ``ssl.SSLContext`` named by *value*."""
        try:
            import ssl
        except ImportError:
            raise click.BadParameter(
                "Serving HTTPS needs Python's ssl module, which is not available.", ctx, param
            ) from None
        try:
            return self.path_type(value, param, ctx)
        except click.BadParameter:
            pass
        text = click.STRING(value, param, ctx)
        if text.lower() == "adhoc":
            try:
                import cryptography  # noqa: F401
            except ImportError:
                raise click.BadParameter(
                    "An ad hoc certificate needs the cryptography package"
                    " (pip install cryptography).",
                    ctx,
                    param,
                ) from None
            return "adhoc"
        from werkzeug.utils import import_string

        found = import_string(text, silent=True)
        if isinstance(found, ssl.SSLContext):
            return found
        raise click.BadParameter(
            f"{text!r} is not a file, 'adhoc', or the import name of an ssl.SSLContext.",
            ctx,
            param,
        )


def _validate_key(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check ``--key`` against ``--cert`` (processed first: it is eager) and pair them."""
    cert = ctx.params.get("cert")
    is_context = cert is not None and not isinstance(cert, (str, tuple))
    if value is not None:
        if cert is None:
            raise click.BadParameter('"--cert" must also be given.', ctx, param)
        if cert == "adhoc":
            raise click.BadParameter('"--key" cannot be used with "--cert adhoc".', ctx, param)
        if is_context:
            raise click.BadParameter('"--key" cannot be used with an SSLContext.', ctx, param)
        ctx.params["cert"] = (cert, value)
    elif isinstance(cert, str) and cert != "adhoc":
        raise click.BadParameter('Required when using "--cert".', ctx, param)
    return value


class SeparatedPathType(click.Path):
    """A list of paths in one value, separated by ``os.pathsep`` (``:``, ``;`` on Windows)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Split *value* and check each item as a :class:`click.Path`."""
        if isinstance(value, (list, tuple)):
            items: list[Any] = list(value)
        else:
            items = list(self.split_envvar_value(value))
        return [super(SeparatedPathType, self).convert(item, param, ctx) for item in items]


@click.command("run", short_help="Serve the app with uvicorn (development server).")
@click.option(
    "--host", "-h", cls=EnvOption, default="127.0.0.1", show_default=True, help="Interface to bind."
)
@click.option(
    "--port", "-p", cls=EnvOption, default=5000, show_default=True, type=int, help="Port to bind."
)
@click.option(
    "--cert",
    cls=EnvOption,
    type=CertParamType(),
    is_eager=True,
    help="Serve HTTPS with this certificate file (with --key), 'adhoc', or an SSLContext's"
    " import name.",
)
@click.option(
    "--key",
    cls=EnvOption,
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    callback=_validate_key,
    expose_value=False,
    help="The private key file of --cert.",
)
@click.option(
    "--reload/--no-reload",
    cls=EnvOption,
    default=None,
    help="Restart when Python files or templates change. On by default in debug mode.",
)
@click.option(
    "--debug/--no-debug",
    cls=EnvOption,
    default=None,
    help="Debug mode: the debugging page on errors, template auto-reload, reloading.",
)
@click.option(
    "--debugger/--no-debugger",
    cls=EnvOption,
    default=None,
    help="Show the debugging page on errors. On by default in debug mode.",
)
@click.option(
    "--with-threads/--without-threads",
    cls=EnvOption,
    default=True,
    help="Accepted for Flask's sake: uvicorn serves requests concurrently either way.",
)
@click.option(
    "--workers",
    "-w",
    cls=EnvOption,
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of worker processes (not with --reload).",
)
@click.option(
    "--extra-files",
    cls=EnvOption,
    default=None,
    type=SeparatedPathType(),
    help=f"More files whose changes restart the server, separated by {os.path.pathsep!r}.",
)
@click.option(
    "--exclude-patterns",
    cls=EnvOption,
    default=None,
    type=SeparatedPathType(),
    help="fnmatch patterns of files whose changes do not restart the server, separated by"
    f" {os.path.pathsep!r}.",
)
@pass_script_info
def run_command(
    info: ScriptInfo,
    host: str,
    port: int,
    reload: bool | None,
    debug: bool | None,
    workers: int,
    cert: Any = None,
    debugger: bool | None = None,
    with_threads: bool = True,
    extra_files: list[str] | None = None,
    exclude_patterns: list[str] | None = None,
) -> None:
    """Serve the app through its ASGI door on uvicorn.

    HTTP, WebSockets and async views all work. With --debug, an unhandled error shows
    a page with the traceback, source and local variables, to clients on this machine
    only. This server is fine for development; see the deployment docs for production.
    """
    if debug is not None:
        os.environ["ERLEN_DEBUG"] = "1" if debug else "0"
    else:
        debug = get_debug_flag()
    if reload and workers > 1:
        raise click.UsageError("--reload and --workers cannot be used together.")
    if reload is None:
        reload = debug and workers == 1
    if debugger is None:
        debugger = debug

    try:
        _uvicorn()
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None
    options = _tls_options(cert)
    # Load here even when other processes will serve: a missing app or a broken import
    # is reported at once, not from inside a worker.
    app = info.load_app()
    app.debug = debug
    _show_banner(app.name, debug, reload, workers)
    if not (reload or workers > 1):
        _serve_in_process(app, host=host, port=port, debug=debug, debugger=debugger, **options)
        return

    # The same source load_app() used: the group's create_app first, then --app.
    if info.create_app is not None:
        import_path = _import_string_for_function(info.create_app)
        if import_path is None:
            raise click.UsageError(
                "--reload and --workers start fresh processes that must import the app;"
                " this group's create_app cannot be imported (a lambda or a nested"
                " function). Define it at module level."
            )
    else:
        import_path = info.app_import_path or info._discovered_module or _import_string_for_app(app)
    reload_dirs = _reload_dirs_for(import_path, app.root_path)
    if reload:
        for path in extra_files or ():
            folder = os.path.dirname(os.path.realpath(path))
            if folder not in reload_dirs:
                reload_dirs.append(folder)
        if extra_files:
            options["reload_includes"] = [os.path.basename(path) for path in extra_files]
        if exclude_patterns:
            options["reload_excludes"] = list(exclude_patterns)
    if not debugger:
        # Worker processes import the app afresh: tell them to leave the page out.
        os.environ["ERLEN_NO_DEBUGGER"] = "1"
    _serve_in_subprocesses(
        import_path,
        host=host,
        port=port,
        debug=debug,
        reload=reload,
        workers=workers,
        reload_dirs=reload_dirs,
        **options,
    )


def _tls_options(cert: Any) -> dict[str, Any]:
    """Turn ``run --cert``'s value into uvicorn's ``ssl_certfile``/``ssl_keyfile`` options."""
    if cert is None:
        return {}
    if isinstance(cert, tuple):
        return {"ssl_certfile": cert[0], "ssl_keyfile": cert[1]}
    if cert == "adhoc":
        import tempfile

        from werkzeug.serving import make_ssl_devcert

        base = os.path.join(tempfile.mkdtemp(prefix="erlen-adhoc-"), "adhoc")
        certfile, keyfile = make_ssl_devcert(base, host="localhost")
        return {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    raise click.UsageError(
        "uvicorn reads TLS certificates from files and cannot use an SSLContext object:"
        " pass '--cert cert.pem --key key.pem' (or '--cert adhoc')."
    )


def run_app(
    app: Erlen,
    host: str | None = None,
    port: int | None = None,
    debug: bool | None = None,
    load_dotenv: bool = True,
    *,
    reload: bool | None = None,
    workers: int = 1,
    debug_allow: str | Sequence[str] | None = None,
    **options: Any,
) -> None:
    """Serve *app* with uvicorn: what ``app.run()`` does.

    *host* and *port* default to ``ERLEN_RUN_HOST``/``ERLEN_RUN_PORT`` (else Flask's
    ``FLASK_RUN_HOST``/``FLASK_RUN_PORT``), then the host and port of
    ``SERVER_NAME`` (as Flask's ``app.run``), then ``127.0.0.1:5000``. *debug* sets ``app.debug`` (otherwise it is
    left alone); *reload* defaults to debug mode. *debug_allow* lists addresses (besides
    loopback) that may see the debugging page. Flask's ``use_reloader``, ``processes`` and
    ``threaded`` are understood; other keyword arguments go to ``uvicorn.run``. Nothing
    happens when called while ``erlen run`` (or ``flask run``) imports the app.
    """
    if "true" in (os.environ.get("ERLEN_RUN_FROM_CLI"), os.environ.get("FLASK_RUN_FROM_CLI")):
        return
    # Flask's names for the same settings, so ported app.run() calls keep working.
    if "use_reloader" in options:
        use_reloader = options.pop("use_reloader")
        reload = reload if use_reloader is None else bool(use_reloader)
    if "processes" in options:
        workers = int(options.pop("processes") or 1)
    options.pop("threaded", None)  # uvicorn serves requests concurrently anyway
    if load_dotenv:
        _load_dotenv()
        if debug is None and ("ERLEN_DEBUG" in os.environ or "FLASK_DEBUG" in os.environ):
            debug = get_debug_flag()
    if debug is not None:
        app.debug = debug
    debug = app.debug
    server_name = app.config.get("SERVER_NAME") or ""
    sn_host, _, sn_port = server_name.partition(":")
    host = host or environ_get("RUN_HOST") or sn_host or "127.0.0.1"
    if port is None:
        env_port = environ_get("RUN_PORT")
        port = int(env_port or (sn_port if sn_port.isdigit() else 5000))
    if reload is None:
        reload = debug and workers == 1
    if reload and workers > 1:
        raise ValueError("reload and workers cannot be used together.")
    if debug_allow is not None and not isinstance(debug_allow, str):
        debug_allow = ",".join(debug_allow)

    if reload or workers > 1:
        import_path = _import_string_for_app(app)
        _show_banner(app.name, debug, reload, workers)
        _serve_in_subprocesses(
            import_path,
            host=host,
            port=port,
            debug=debug,
            reload=reload,
            workers=workers,
            reload_dirs=_reload_dirs_for(import_path, app.root_path),
            debug_allow=debug_allow,
            **options,
        )
        return
    _show_banner(app.name, debug, False, 1)
    _serve_in_process(app, host=host, port=port, debug=debug, debug_allow=debug_allow, **options)


def show_server_banner(debug: bool | None, app_import_path: str | None) -> None:
    """Print which app is served and whether debug mode is on (``None`` leaves a line out)."""
    if app_import_path is not None:
        click.echo(f" * Serving Erlen app '{app_import_path}'")
    if debug is not None:
        click.echo(f" * Debug mode: {'on' if debug else 'off'}")


def _show_banner(name: str, debug: bool, reload: bool, workers: int) -> None:
    show_server_banner(debug, name)
    if reload:
        click.echo(" * Reloading on changes to Python files and templates")
    if workers > 1:
        click.echo(f" * Workers: {workers}")


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise RuntimeError(
            "Serving needs uvicorn, which is not installed: pip install 'erlen[server]'"
            " (or: pip install 'uvicorn[standard]')."
        ) from None
    return uvicorn


def _serve_in_process(
    app: Erlen,
    *,
    host: str,
    port: int,
    debug: bool,
    debug_allow: str | None = None,
    debugger: bool | None = None,
    **options: Any,
) -> None:
    uvicorn = _uvicorn()
    target: Any = app
    if debug if debugger is None else debugger:
        from .middleware.debug import DebugMiddleware

        target = DebugMiddleware(app, allow=debug_allow)
    options.setdefault("log_level", "debug" if debug else "info")
    uvicorn.run(target, host=host, port=port, interface="asgi3", **options)


def _serve_in_subprocesses(
    import_path: str | None,
    *,
    host: str,
    port: int,
    debug: bool,
    reload: bool,
    workers: int,
    reload_dirs: list[str],
    debug_allow: str | None = None,
    **options: Any,
) -> None:
    uvicorn = _uvicorn()
    # Worker and reloader processes import the app afresh; they learn how from these.
    if import_path is not None:
        os.environ["ERLEN_APP"] = import_path
    os.environ["ERLEN_DEBUG"] = "1" if debug else "0"
    if debug_allow is not None:
        os.environ["ERLEN_DEBUG_ALLOW"] = debug_allow
    # An app module that calls app.run() unguarded must not start servers of its own
    # when a worker imports it.
    os.environ["ERLEN_RUN_FROM_CLI"] = "true"
    if reload:
        options["reload_dirs"] = reload_dirs
        extra_includes = options.pop("reload_includes", None) or []
        if _have_watchfiles():
            # Without watchfiles uvicorn polls *.py only, and warns about includes.
            options["reload_includes"] = [*RELOAD_PATTERNS, *extra_includes]
    options.setdefault("log_level", "debug" if debug else "info")
    uvicorn.run(
        "erlen.cli:_load_app_for_server",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers if workers > 1 else None,
        interface="asgi3",
        **options,
    )


def _have_watchfiles() -> bool:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return False
    return True


def _load_app_for_server() -> Any:
    """Load the app in a uvicorn worker or reloader process (``ERLEN_APP``, ``ERLEN_DEBUG``)."""
    app = ScriptInfo(app_import_path=os.environ.get("ERLEN_APP") or None).load_app()
    if not app.debug or os.environ.get("ERLEN_NO_DEBUGGER") == "1":
        return app
    from .middleware.debug import DebugMiddleware

    return DebugMiddleware(app)


def _reload_dirs_for(import_path: str | None, *extra: str) -> list[str]:
    dirs = [os.getcwd()]
    if import_path is not None:
        module = _split_import_path(import_path)[0]
        if module.endswith(".py") or os.sep in module or "/" in module:
            dirs.append(os.path.dirname(os.path.realpath(module)))
    dirs.extend(os.path.realpath(d) for d in extra if d)
    unique: list[str] = []
    for d in dirs:
        if d not in unique and not any(d.startswith(u + os.sep) for u in unique):
            unique.append(d)
    return unique


def _module_spec_for(module_name: str) -> str | None:
    """Return how a fresh process imports *module_name*: its name, or its file for ``__main__``."""
    if module_name not in ("__main__", "__mp_main__"):
        return module_name
    filename: str | None = getattr(sys.modules.get(module_name), "__file__", None)
    if not filename:
        return None
    return os.path.realpath(filename)


def _import_string_for_function(func: Callable[..., Any]) -> str | None:
    module_name: str | None = getattr(func, "__module__", None)
    qualname: str = getattr(func, "__qualname__", "")
    if module_name is None or not qualname.isidentifier():
        return None
    spec = _module_spec_for(module_name)
    return None if spec is None else f"{spec}:{qualname}"


def _import_string_for_app(app: Erlen) -> str:
    for module_name in dict.fromkeys((app.import_name, "__main__")):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        spec = _module_spec_for(module_name)
        if spec is None:
            continue
        for name, value in vars(module).items():
            if value is app:
                return f"{spec}:{name}"
        if any(inspect.isfunction(getattr(module, n, None)) for n in FACTORY_NAMES):
            return spec
    raise RuntimeError(
        "app.run(reload=True) and app.run(workers=N) start fresh processes that import the app,"
        f" but no module-level name refers to {app.name!r}. Define it at module level"
        " (app = Erlen(__name__)) or use 'erlen --app module:name run'."
    )


# -- erlen shell ---------------------------------------------------------------------------------


@click.command("shell", short_help="Start a Python shell in the app's context.")
@with_appcontext
def shell_command() -> None:
    """Start an interactive Python shell in the app's context.

    The namespace holds 'app', 'g' and the names from the app's shell context
    processors. PYTHONSTARTUP is run first, as in the plain Python shell.
    """
    app = _current_app()
    banner = (
        f"Python {sys.version} on {sys.platform}\nApp: {app.name}\nInstance: {app.instance_path}"
    )
    namespace: dict[str, Any] = {}
    startup = os.environ.get("PYTHONSTARTUP")
    if startup and os.path.isfile(startup):
        with open(startup, encoding="utf-8") as f:
            exec(compile(f.read(), startup, "exec"), namespace)
    namespace.update(app.make_shell_context())

    # Python >= 3.13 sets up completion and history in this hook; call it as `python` would.
    hook = getattr(sys, "__interactivehook__", None)
    if hook is not None and sys.stdin.isatty():
        try:
            import readline
            from rlcompleter import Completer
        except ImportError:
            pass
        else:
            hook()
            readline.set_completer(Completer(namespace).complete)
    code.interact(banner=banner, local=namespace, exitmsg="")


# -- erlen routes --------------------------------------------------------------------------------


@click.command("routes", short_help="Show the routes of the app.")
@click.option(
    "--sort",
    "-s",
    type=click.Choice(("endpoint", "methods", "domain", "rule", "match")),
    default="endpoint",
    show_default=True,
    help="Order by this column; 'match' is the order in which rules were added.",
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS as well.")
@with_appcontext
def routes_command(sort: str, all_methods: bool) -> None:
    """Show every route: endpoint, methods (WEBSOCKET for WebSocket routes) and rule."""
    app = _current_app()
    rules = list(app.url_map.iter_rules())
    if not rules:
        click.echo("No routes were registered.")
        return

    hidden = set() if all_methods else {"HEAD", "OPTIONS"}

    def methods_of(rule: Any) -> str:
        if getattr(rule, "websocket", False):
            return "WEBSOCKET"
        if rule.methods is None:
            return "(any)"
        return ", ".join(sorted(set(rule.methods) - hidden))

    host_matching = bool(app.url_map.host_matching)
    show_domain = any((rule.host if host_matching else rule.subdomain) for rule in rules)

    def domain_of(rule: Any) -> str:
        return str((rule.host if host_matching else rule.subdomain) or "")

    rows = [(str(rule.endpoint), methods_of(rule), domain_of(rule), rule.rule) for rule in rules]
    column = {"endpoint": 0, "methods": 1, "domain": 2, "rule": 3}
    if sort in column:
        # A stable sort on the column alone: rows that tie keep the order the rules were added
        # in, as Flask's `flask routes` lists them.
        index = column[sort]
        rows.sort(key=lambda row: row[index])

    headers = ("Endpoint", "Methods", "Host" if host_matching else "Subdomain", "Rule")
    keep = [0, 1, 2, 3] if show_domain else [0, 1, 3]
    table = [tuple(headers[i] for i in keep)] + [tuple(row[i] for i in keep) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(keep))]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(line, widths, strict=True)
        ).rstrip()

    click.echo(fmt(table[0]))
    click.echo(fmt(["-" * width for width in widths]))
    for line in table[1:]:
        click.echo(fmt(line))


@click.command("openapi", short_help="Print or write the app's OpenAPI document.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the document to this file instead of standard output.",
)
@click.option("--indent", type=int, default=2, show_default=True, help="JSON indentation.")
@with_appcontext
def openapi_command(output: str | None, indent: int) -> None:
    """Print the OpenAPI 3.1 document of the app's routes as JSON (``-o FILE`` writes it).

    Typed views (``erlen.typed``) contribute their parameters, bodies and responses; an
    ``OpenAPI`` extension on the app contributes its title, version and servers.
    """
    import json

    try:
        from .typed import openapi_document
    except RuntimeError as e:  # pragma: no cover - Pydantic missing
        raise click.ClickException(str(e)) from e
    app = _current_app()
    extension = app.extensions.get("erlen.openapi")
    document = extension.document(app) if extension is not None else openapi_document(app)
    text = json.dumps(document, indent=indent or None, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    click.echo(f"Wrote the OpenAPI document to {output}", err=True)


# -- entry points --------------------------------------------------------------------------------

#: The ``erlen`` command: a group with the built-in commands that loads the app on demand.
cli = ErlenGroup(
    name="erlen",
    help="""\
A general utility script for Erlen applications.

An application to load must be given with the '--app' option, the 'ERLEN_APP'
(or Flask's 'FLASK_APP') environment variable, or with a 'wsgi.py' or 'app.py' file
in the current directory.
""",
)

cli.add_command(openapi_command)

#: Flask's name for the group; ``flask.cli.FlaskGroup(create_app=...)`` makes an ErlenGroup.
FlaskGroup = ErlenGroup


def main() -> None:
    """Run the command line: ``erlen``, ``python -m erlen``, and ``flask`` in compat mode.

    Usage lines and errors name the program as it was typed (click reads ``sys.argv``).
    """
    cli.main()


__all__ = [
    "AppGroup",
    "CertParamType",
    "EnvOption",
    "ErlenGroup",
    "FlaskGroup",
    "NoAppException",
    "ScriptInfo",
    "SeparatedPathType",
    "cli",
    "environ_get",
    "find_app_by_string",
    "find_best_app",
    "get_version",
    "load_dotenv",
    "locate_app",
    "main",
    "openapi_command",
    "pass_script_info",
    "prepare_import",
    "routes_command",
    "run_app",
    "run_command",
    "shell_command",
    "show_server_banner",
    "version_option",
    "with_appcontext",
]
