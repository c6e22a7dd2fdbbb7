"""Blueprints: record registrations now, replay them on the app when registered."""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .scaffold import Scaffold, endpoint_from_view_func

if TYPE_CHECKING:
    from .app import Erlen

F = TypeVar("F", bound=Callable[..., Any])
DeferredSetupFunction = Callable[["BlueprintSetupState"], object]

_sentinel: Any = object()


class BlueprintSetupState:
    """What a deferred setup function gets when its blueprint is registered."""

    def __init__(
        self, blueprint: Blueprint, app: Erlen, options: dict[str, Any], first_registration: bool
    ) -> None:
        self.app = app
        self.blueprint = blueprint
        self.options = options
        self.first_registration = first_registration
        subdomain = options.get("subdomain")
        if subdomain is None:
            subdomain = blueprint.subdomain
        self.subdomain: str | None = subdomain
        url_prefix = options.get("url_prefix")
        if url_prefix is None:
            url_prefix = blueprint.url_prefix
        self.url_prefix: str | None = url_prefix
        self.name: str = options.get("name", blueprint.name)
        self.name_prefix: str = options.get("name_prefix", "")
        self.url_defaults: dict[str, Any] = dict(blueprint.url_values_defaults)
        self.url_defaults.update(options.get("url_defaults", ()))

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:
        """Register a rule on the app, with the blueprint's prefix, subdomain and name."""
        if self.url_prefix is not None:
            if rule:
                rule = "/".join((self.url_prefix.rstrip("/"), rule.lstrip("/")))
            else:
                rule = self.url_prefix
        options.setdefault("subdomain", self.subdomain)
        if endpoint is None:
            endpoint = endpoint_from_view_func(view_func)  # type: ignore[arg-type]
        defaults = self.url_defaults
        if "defaults" in options:
            defaults = dict(defaults, **options.pop("defaults"))
        self.app.add_url_rule(
            rule,
            f"{self.name_prefix}.{self.name}.{endpoint}".lstrip("."),
            view_func,
            defaults=defaults,
            **options,
        )


class Blueprint(Scaffold):
    """A group of routes, hooks, templates and static files registered on an app later.

    ``Blueprint("admin", __name__, url_prefix="/admin")``; register it with
    ``app.register_blueprint(bp)``, possibly several times under other names.
    """

    _got_registered_once = False

    def __init__(
        self,
        name: str,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        url_prefix: str | None = None,
        subdomain: str | None = None,
        url_defaults: dict[str, Any] | None = None,
        root_path: str | None = None,
        cli_group: str | None = _sentinel,
    ) -> None:
        super().__init__(
            import_name=import_name,
            static_folder=static_folder,
            static_url_path=static_url_path,
            template_folder=template_folder,
            root_path=root_path,
        )
        if not name:
            raise ValueError("'name' may not be empty.")
        if "." in name:
            raise ValueError("'name' may not contain a dot '.' character.")
        self.name = name
        self.url_prefix = url_prefix
        self.subdomain = subdomain
        self.deferred_functions: list[DeferredSetupFunction] = []
        self.url_values_defaults = url_defaults or {}
        self.cli_group = cli_group
        self._blueprints: list[tuple[Blueprint, dict[str, Any]]] = []
        self._cli: Any = None

    @property
    def cli(self) -> Any:
        """A click group for this blueprint's commands (``erlen <bp-name> <command>``)."""
        if self._cli is None:
            from .cli import AppGroup

            self._cli = AppGroup(self.name)
        return self._cli

    def _check_setup_finished(self, f_name: str) -> None:
        # Every setup method starts here: refuse changes that would not reach the
        # apps this blueprint was already registered on.
        if self._got_registered_once:
            raise AssertionError(
                f"The setup method '{f_name}' can no longer be called on the blueprint"
                f" '{self.name}'. It has already been registered at least once, any"
                " changes will not be applied consistently.\n"
                "Make sure all imports, decorators, functions, etc. needed to set up"
                " the blueprint are done before registering it."
            )

    def record(self, func: DeferredSetupFunction) -> None:
        """Run ``func(state)`` each time the blueprint is registered."""
        self._check_setup_finished("record")
        self.deferred_functions.append(func)

    def record_once(self, func: DeferredSetupFunction) -> None:
        """Run ``func(state)`` only the first time the blueprint is registered."""

        def wrapper(state: BlueprintSetupState) -> None:
            if state.first_registration:
                func(state)

        self.record(functools.update_wrapper(wrapper, func))

    def make_setup_state(
        self, app: Erlen, options: dict[str, Any], first_registration: bool = False
    ) -> BlueprintSetupState:
        """Create the state passed to deferred setup functions."""
        return BlueprintSetupState(self, app, options, first_registration)

    def register_blueprint(self, blueprint: Blueprint, **options: Any) -> None:
        """Nest a blueprint: it is registered when this one is (``parent.child.view``)."""
        if blueprint is self:
            raise ValueError("Cannot register a blueprint on itself")
        self._check_setup_finished("register_blueprint")
        self._blueprints.append((blueprint, options))

    def register(self, app: Erlen, options: dict[str, Any]) -> None:
        """Replay the recorded setup on ``app`` (called by ``app.register_blueprint``)."""
        name_prefix = options.get("name_prefix", "")
        self_name = options.get("name", self.name)
        name = f"{name_prefix}.{self_name}".lstrip(".")
        if name in app.blueprints:
            bp_desc = "this" if app.blueprints[name] is self else "a different"
            existing_at = f" '{name}'" if self_name != name else ""
            raise ValueError(
                f"The name '{self_name}' is already registered for {bp_desc} blueprint"
                f"{existing_at}. Use 'name=' to provide a unique name."
            )
        first_bp_registration = not any(bp is self for bp in app.blueprints.values())
        first_name_registration = name not in app.blueprints
        app.blueprints[name] = self
        self._got_registered_once = True
        state = self.make_setup_state(app, options, first_bp_registration)
        if self.has_static_folder:
            state.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                view_func=self.send_static_file,
                endpoint="static",
            )
        if first_bp_registration or first_name_registration:
            self._merge_blueprint_funcs(app, name)
        for deferred in self.deferred_functions:
            deferred(state)
        self._register_cli(app, options)
        for blueprint, bp_options in self._blueprints:
            bp_options = bp_options.copy()
            bp_url_prefix = bp_options.get("url_prefix")
            bp_subdomain = bp_options.get("subdomain")
            if bp_subdomain is None:
                bp_subdomain = blueprint.subdomain
            if state.subdomain is not None and bp_subdomain is not None:
                bp_options["subdomain"] = bp_subdomain + "." + state.subdomain
            elif bp_subdomain is not None:
                bp_options["subdomain"] = bp_subdomain
            elif state.subdomain is not None:
                bp_options["subdomain"] = state.subdomain
            if bp_url_prefix is None:
                bp_url_prefix = blueprint.url_prefix
            if state.url_prefix is not None and bp_url_prefix is not None:
                bp_options["url_prefix"] = (
                    state.url_prefix.rstrip("/") + "/" + bp_url_prefix.lstrip("/")
                )
            elif bp_url_prefix is not None:
                bp_options["url_prefix"] = bp_url_prefix
            elif state.url_prefix is not None:
                bp_options["url_prefix"] = state.url_prefix
            bp_options["name_prefix"] = name
            blueprint.register(app, bp_options)
        app._changed()

    def _register_cli(self, app: Erlen, options: dict[str, Any]) -> None:
        if self._cli is None or not self._cli.commands:
            return
        group = options.get("cli_group", self.cli_group)
        if group is None:
            app.cli.commands.update(self._cli.commands)
        else:
            self._cli.name = self.name if group is _sentinel else group
            app.cli.add_command(self._cli)

    def _merge_blueprint_funcs(self, app: Erlen, name: str) -> None:
        def extend(
            bp_dict: dict[str | None, list[Any]], parent_dict: dict[str | None, list[Any]]
        ) -> None:
            for key, values in bp_dict.items():
                target = name if key is None else f"{name}.{key}"
                parent_dict.setdefault(target, []).extend(values)

        for key, value in self.error_handler_spec.items():
            target = name if key is None else f"{name}.{key}"
            app.error_handler_spec[target] = defaultdict(
                dict, {code: dict(handlers) for code, handlers in value.items()}
            )
        app.view_functions.update(self.view_functions)
        extend(self.before_request_funcs, app.before_request_funcs)
        extend(self.after_request_funcs, app.after_request_funcs)
        extend(self.teardown_request_funcs, app.teardown_request_funcs)
        extend(self.url_default_functions, app.url_default_functions)
        extend(self.websocket_before_funcs, app.websocket_before_funcs)
        extend(self.url_value_preprocessors, app.url_value_preprocessors)
        extend(self.template_context_processors, app.template_context_processors)

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Record a rule; it is added to the app, prefixed, when the blueprint is registered."""
        self._check_setup_finished("add_url_rule")
        if endpoint and "." in endpoint:
            raise ValueError("'endpoint' may not contain a dot '.' character.")
        if view_func is not None and "." in getattr(view_func, "__name__", ""):
            raise ValueError("'view_func' name may not contain a dot '.' character.")
        self.record(
            lambda s: s.add_url_rule(
                rule,
                endpoint,
                view_func,
                provide_automatic_options=provide_automatic_options,
                **options,
            )
        )

    # -- app-wide registrations ------------------------------------------------------

    def app_template_filter(self, name: str | None = None) -> Callable[[F], F]:
        """Register a Jinja filter available in every template of the app."""

        def decorator(f: F) -> F:
            self.add_app_template_filter(f, name=name)
            return f

        return decorator

    def add_app_template_filter(self, f: Callable[..., Any], name: str | None = None) -> None:
        """Register an app-wide Jinja filter."""
        self.record_once(lambda s: s.app.add_template_filter(f, name=name))

    def app_template_test(self, name: str | None = None) -> Callable[[F], F]:
        """Register a Jinja test available in every template of the app."""

        def decorator(f: F) -> F:
            self.add_app_template_test(f, name=name)
            return f

        return decorator

    def add_app_template_test(self, f: Callable[..., bool], name: str | None = None) -> None:
        """Register an app-wide Jinja test."""
        self.record_once(lambda s: s.app.add_template_test(f, name=name))

    def app_template_global(self, name: str | None = None) -> Callable[[F], F]:
        """Register a Jinja global available in every template of the app."""

        def decorator(f: F) -> F:
            self.add_app_template_global(f, name=name)
            return f

        return decorator

    def add_app_template_global(self, f: Callable[..., Any], name: str | None = None) -> None:
        """Register an app-wide Jinja global."""
        self.record_once(lambda s: s.app.add_template_global(f, name=name))

    def before_app_request(self, f: F) -> F:
        """Run ``f()`` before every request of the app, not only this blueprint's."""
        self.record_once(lambda s: s.app.before_request(f))
        return f

    def after_app_request(self, f: F) -> F:
        """Run ``f(response)`` after every request of the app."""
        self.record_once(lambda s: s.app.after_request(f))
        return f

    def teardown_app_request(self, f: F) -> F:
        """Run ``f(error)`` at the teardown of every request of the app."""
        self.record_once(lambda s: s.app.teardown_request(f))
        return f

    def app_context_processor(self, f: F) -> F:
        """Add a context processor for every template of the app."""
        self.record_once(lambda s: s.app.context_processor(f))
        return f

    def app_errorhandler(self, code: type[Exception] | int) -> Callable[[F], F]:
        """Register an error handler for the whole app."""

        def decorator(f: F) -> F:
            self.record_once(lambda s: s.app.register_error_handler(code, f))
            return f

        return decorator

    def app_url_value_preprocessor(self, f: F) -> F:
        """Register a URL value preprocessor for the whole app."""
        self.record_once(lambda s: s.app.url_value_preprocessor(f))
        return f

    def app_url_defaults(self, f: F) -> F:
        """Register a URL defaults function for the whole app."""
        self.record_once(lambda s: s.app.url_defaults(f))
        return f


__all__ = ["Blueprint", "BlueprintSetupState"]
