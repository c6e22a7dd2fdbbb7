"""The app's Jinja environment and its loader (imported when templates are first used)."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from types import CodeType
from types import FunctionType as _FunctionType
from types import MethodType as _MethodType
from typing import TYPE_CHECKING, Any

import markupsafe
from jinja2 import BaseLoader, TemplateNotFound, pass_environment, pass_eval_context
from jinja2 import Environment as BaseEnvironment
from jinja2 import Template as BaseTemplate
from jinja2.runtime import Context as BaseContext
from jinja2.utils import internalcode

if TYPE_CHECKING:
    from .app import Erlen
    from .scaffold import Scaffold


def _probe() -> None:
    """Marked with Jinja's public decorators below, to read the marks' values."""


#: The marks ``pass_eval_context`` and ``pass_environment`` put on a function.
_EVAL_CONTEXT_MARK = pass_eval_context(_probe).jinja_pass_arg  # type: ignore[attr-defined]
_ENVIRONMENT_MARK = pass_environment(_probe).jinja_pass_arg  # type: ignore[attr-defined]


class Context(BaseContext):
    """Jinja's render context, with a cheaper call from templates."""

    @internalcode  # hidden from template tracebacks, as Jinja's own call is
    def call(__self, __obj: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``__obj`` from a template, as Jinja does.

        PERF: Jinja asks each callable (and its ``__call__``) whether it wants the
        context, the eval context or the environment first, through two ``hasattr``
        calls and an enum lookup each: a quarter of a page that calls ``loop.cycle`` in
        a loop of ten, each a miss that raises and catches an ``AttributeError``. Here
        the mark of a Python function or bound method is read from the function's
        ``__dict__`` (other callables are asked as Jinja asks them). An unmarked
        callable is called at once, and one that wants the eval context (a macro) or
        the environment gets it here; the ``_loop_vars``/``_block_vars`` the template
        passes are dropped, as Jinja does. One that wants the context goes through
        Jinja's call, which derives it for loop and block variables.
        """
        if __debug__:
            __traceback_hide__ = True
        kind = type(__obj)
        if kind is _MethodType and type(__obj.__func__) is _FunctionType:  # type: ignore[attr-defined]
            # A Python function's marks are in its __dict__ (a bound method reads its
            # function's); the __call__ of either is a slot wrapper, which has none.
            mark = __obj.__func__.__dict__.get("jinja_pass_arg")  # type: ignore[attr-defined]
        elif kind is _FunctionType:
            mark = __obj.__dict__.get("jinja_pass_arg")
        else:
            # A callable object: a mark on its __call__ comes first, and then that
            # method is what is called (a macro's __call__ wants the eval context).
            dunder_call = getattr(__obj, "__call__", None)  # noqa: B004
            if type(dunder_call) is _MethodType and type(dunder_call.__func__) is _FunctionType:
                mark = dunder_call.__func__.__dict__.get("jinja_pass_arg")
            elif dunder_call is not None:
                mark = getattr(dunder_call, "jinja_pass_arg", None)
            else:
                mark = None
            if mark is not None:
                __obj = dunder_call  # type: ignore[assignment]
            else:
                mark = getattr(__obj, "jinja_pass_arg", None)
        if mark is not None:
            if mark is _EVAL_CONTEXT_MARK:
                args = (__self.eval_ctx, *args)
            elif mark is _ENVIRONMENT_MARK:
                args = (__self.environment, *args)
            else:
                return super().call(__obj, *args, **kwargs)
        if kwargs:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )


#: MarkupSafe 3's C escape; ``markupsafe.escape`` is a Python function around it.
_escape_inner: Callable[[str], str] | None = getattr(markupsafe, "_escape_inner", None)
_new_str = str.__new__
_Markup = markupsafe.Markup
_markupsafe_escape = markupsafe.escape


def _escape(s: Any) -> markupsafe.Markup:
    """``markupsafe.escape(s)``, the same ``Markup``, made without ``Markup``'s Python ``__new__``.

    PERF: a template calls this for every ``{{ value }}`` it autoescapes. A plain
    ``str`` is escaped in C and wrapped with ``str.__new__``, as ``Markup()`` ends up
    doing; an ``int`` has nothing to escape, a ``Markup`` is safe already. Anything else
    (``__html__`` objects, subclasses, undefined values) is markupsafe's own.
    """
    kind = type(s)
    if kind is str:
        return _new_str(_Markup, _escape_inner(s))  # type: ignore[misc]
    if kind is int:
        return _new_str(_Markup, str(s))
    if kind is _Markup:
        return _new_str(_Markup, s)  # already safe (a macro's output): a copy, as escape() makes
    return _markupsafe_escape(s)


class Template(BaseTemplate):
    """Jinja's template, with cheaper renders (the same text, from the same context)."""

    @classmethod
    def _from_namespace(
        cls, environment: BaseEnvironment, namespace: Any, globals: Any
    ) -> BaseTemplate:
        # The compiled module autoescapes through the ``escape`` it imported from Jinja's
        # runtime (markupsafe's); it is looked up in the module's namespace on each use.
        if _escape_inner is not None and namespace.get("escape") is _markupsafe_escape:
            namespace["escape"] = _escape
        return super()._from_namespace(environment, namespace, globals)

    def new_context(
        self,
        vars: dict[str, Any] | None = None,
        shared: bool = False,
        locals: Mapping[str, Any] | None = None,
    ) -> BaseContext:
        """Make the context a render starts from: the globals, overlaid by ``vars``.

        PERF: a template's globals are a ``ChainMap`` (its own over the environment's).
        Jinja copies it with ``dict(globals)``, which looks each key up through the
        ``ChainMap`` in Python, an exception raised and caught for every environment
        global: 5 of a small page's 10 µs with an app's dozen globals. The same dict is
        built here with C-level merges, the last map first, so the first map wins as in
        the ``ChainMap``; every global added to the environment still shows in the next
        render. Shared contexts and ``locals`` (imports, includes) keep Jinja's path.
        """
        maps = self.globals.maps if type(self.globals) is ChainMap else None
        if shared or locals or maps is None:
            return super().new_context(vars, shared, locals)
        merged: dict[str, Any] = {}
        for mapping in reversed(maps):
            merged.update(mapping)
        parent = dict(merged, **vars) if vars else merged  # (Jinja only reads it)
        return self.environment.context_class(
            self.environment, parent, self.name, self.blocks, globals=merged
        )


class Environment(BaseEnvironment):
    """A Jinja environment that knows its app (and loads from app and blueprint folders)."""

    template_class = Template
    context_class = Context

    def __init__(self, app: Erlen, **options: Any) -> None:
        if "loader" not in options:
            options["loader"] = app.create_global_jinja_loader()
        super().__init__(**options)
        self.app = app
        #: The compiled code of the sources from_string() was given (see there).
        self._string_code: dict[str, CodeType] = {}

    def from_string(
        self,
        source: str | Any,
        globals: MutableMapping[str, Any] | None = None,
        template_class: type[BaseTemplate] | None = None,
    ) -> BaseTemplate:
        """Make a template from a source string, as Jinja does.

        PERF: the compiled code of a source is kept (up to 128 sources), so a view that
        calls ``render_template_string(SOURCE, ...)`` compiles its template once rather
        than on every request (a compile costs about 3 million instructions for a
        three-line loop; Flask compiles every time). Each call still gets its own
        template object, with the environment's globals as they are now.
        """
        if type(source) is not str:
            return super().from_string(source, globals, template_class)
        code = self._string_code.get(source)
        if code is None:
            code = self.compile(source)
            if len(self._string_code) < 128:
                self._string_code[source] = code
        cls = template_class or self.template_class
        return cls.from_code(self, code, self.make_globals(globals), None)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look up ``obj.attribute`` in a template, as Jinja does.

        PERF: for a plain ``dict`` (a row, a JSON object) and a name that is not a
        ``dict`` attribute, Jinja's ``getattr()`` always fails and the item is taken
        instead; take the item directly, without raising and catching an
        ``AttributeError`` (about a fifth of a loop-heavy render). For any other value
        (dict subclasses and names such as ``items`` too) Jinja's documented order is
        followed here, without a call to Jinja's method: the attribute, else the item,
        else an undefined.
        """
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        try:
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


#: Names a plain dict answers as attributes (methods such as ``items``): those go through Jinja.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class DispatchingJinjaLoader(BaseLoader):
    """Look a template up in the app's folder first, then in each blueprint's."""

    def __init__(self, app: Erlen) -> None:
        self.app = app

    def get_source(
        self, environment: BaseEnvironment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if self.app.config["EXPLAIN_TEMPLATE_LOADING"]:
            return self._get_source_explained(environment, template)
        for _srcobj, loader in self._iter_loaders():
            try:
                return loader.get_source(environment, template)
            except TemplateNotFound:
                continue
        raise TemplateNotFound(template)

    def _get_source_explained(
        self, environment: BaseEnvironment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        """Ask every loader (not just until one has it), then log what each answered."""
        from .debughelpers import explain_template_loading_attempts

        attempts: list[tuple[BaseLoader, Any, Any]] = []
        first = None
        for srcobj, loader in self._iter_loaders():
            try:
                rv = loader.get_source(environment, template)
            except TemplateNotFound:
                rv = None
            if first is None:
                first = rv
            attempts.append((loader, srcobj, rv))
        explain_template_loading_attempts(self.app, template, attempts)
        if first is not None:
            return first
        raise TemplateNotFound(template)

    def _iter_loaders(self) -> Iterator[tuple[Scaffold, BaseLoader]]:
        loader = self.app.jinja_loader
        if loader is not None:
            yield self.app, loader
        for blueprint in self.app.iter_blueprints():
            loader = blueprint.jinja_loader
            if loader is not None:
                yield blueprint, loader

    def list_templates(self) -> list[str]:
        """List the templates of the app and its blueprints."""
        result = set()
        for _, loader in self._iter_loaders():
            result.update(loader.list_templates())
        return sorted(result)


def create_environment(app: Erlen) -> Environment:
    """Create the app's Jinja environment with Flask's defaults and globals."""
    options = dict(app.jinja_options)
    if "autoescape" not in options:
        options["autoescape"] = app.select_jinja_autoescape
    if "auto_reload" not in options:
        auto_reload = app.config["TEMPLATES_AUTO_RELOAD"]
        if auto_reload is None:
            auto_reload = app.debug
        options["auto_reload"] = auto_reload
    env = app.jinja_environment(app, **options)
    from .globals import g, request, session
    from .helpers import get_flashed_messages, url_for

    # The proxies make request, session and g visible to imported templates and
    # macros too, which do not receive the render context.
    env.globals.update(
        url_for=url_for,
        get_flashed_messages=get_flashed_messages,
        config=app.config,
        request=request,
        session=session,
        g=g,
    )
    env.policies["json.dumps_function"] = app.json.dumps
    return env


__all__ = ["DispatchingJinjaLoader", "Environment", "create_environment"]
