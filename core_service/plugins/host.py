"""Builds the plugin manager and offers the typed facade the core calls hooks through.

One function, :func:`build_plugin_manager`, adds the specs, loads the ``kippu``
entry-point group, registers the built-in plugins that entry points did not bring, and
runs ``check_pending()`` so that a misspelt hook name fails at start. Core code calls
:meth:`PluginHost.for_facility` and then one typed method per hook; only the plugins the
facility enabled are called ("installed is not enabled").
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable
from typing import Any, cast

import pluggy

from core_service.plugins import hookspecs
from core_service.plugins.values import (
    PROJECT_NAME,
    AvailabilityMarker,
    CheckoutField,
    FacilityContext,
    FieldError,
    OptionField,
    PaidOrder,
    Redemption,
)

log = logging.getLogger(__name__)

#: Built-in plugins, by plugin name. They ship in ``plugins/`` and are also declared as
#: entry points; this list registers them when the distribution metadata is missing
#: (e.g. running from a source tree).
DEFAULT_PLUGINS: dict[str, str] = {
    "consent": "kippu_plugins.consent",
    "availability": "kippu_plugins.availability",
    "demo_payments": "kippu_plugins.demo_payments",
    "stripe_payments": "kippu_plugins.stripe_payments",
    "paypay_payments": "kippu_plugins.paypay_payments",
    "paidy_payments": "kippu_plugins.paidy_payments",
}


def build_plugin_manager(extra: Iterable[tuple[str, object]] = ()) -> pluggy.PluginManager:
    """Create the manager with specs, entry-point plugins, defaults and ``extra``."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(PROJECT_NAME)
    for name, module_path in DEFAULT_PLUGINS.items():
        if pm.get_plugin(name) is None:
            pm.register(importlib.import_module(module_path), name=name)
    for name, plugin in extra:
        pm.register(plugin, name=name)
    pm.check_pending()
    return pm


async def resolve(value: Any) -> Any:
    """Await ``value`` if a hook implementation returned an awaitable."""
    return await value if inspect.isawaitable(value) else value


class PluginHost:
    """The application's plugin manager, with a per-facility view."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def installed(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin() if name)

    def option_fields(self) -> dict[str, list[OptionField]]:
        """The options each installed plugin declares (``plugin_options``), by plugin name."""
        declared: dict[str, list[OptionField]] = {}
        for impl in self.pm.hook.plugin_options.get_hookimpls():
            # pluggy's hookimpls are untyped; the spec promises a list of fields.
            declared[impl.plugin_name] = list(cast(list[OptionField], impl.function()))
        return declared

    def route_handlers(self) -> list[Any]:
        """Route handlers of every installed plugin (mounted once, at start)."""
        return [handler for handlers in self.pm.hook.register_routes() for handler in handlers]

    def for_facility(self, facility: FacilityContext, enabled: Iterable[str]) -> FacilityPlugins:
        return FacilityPlugins(self.pm, facility, frozenset(enabled))


class FacilityPlugins:
    """Typed calls of every hook, restricted to one facility's enabled plugins."""

    def __init__(
        self, pm: pluggy.PluginManager, facility: FacilityContext, enabled: frozenset[str]
    ) -> None:
        self._pm = pm
        self.facility = facility
        self.enabled = enabled
        disabled = [plugin for name, plugin in pm.list_name_plugin() if name not in enabled]
        self._disabled = disabled
        self._callers: dict[str, Any] = {}

    def _caller(self, hook_name: str) -> Any:
        # Built once per hook: a cached tenant (tenant_cache) lives for many requests, and
        # plugins are registered at start, so the subset never changes afterwards.
        caller = self._callers.get(hook_name)
        if caller is None:
            caller = self._callers[hook_name] = self._pm.subset_hook_caller(
                hook_name, remove_plugins=self._disabled
            )
        return caller

    def checkout_fields(self, channel: str) -> list[CheckoutField]:
        results = self._caller("checkout_fields")(facility=self.facility, channel=channel)
        return [f for fields in results for f in fields]

    def validate_checkout(self, channel: str, answers: dict[str, Any]) -> list[FieldError]:
        results = self._caller("validate_checkout")(
            facility=self.facility, channel=channel, answers=answers
        )
        return [e for errors in results for e in errors]

    def availability_marker(
        self, remaining: int | None, capacity: int | None
    ) -> AvailabilityMarker | None:
        result: AvailabilityMarker | None = self._caller("availability_marker")(
            facility=self.facility, remaining=remaining, capacity=capacity
        )
        return result

    def payment_provider_classes(self) -> list[type[Any]]:
        results = self._caller("register_payment_providers")()
        return [cls for classes in results for cls in classes]

    async def order_paid(self, order: PaidOrder) -> None:
        await self._notify("order_paid", order=order)

    async def ticket_redeemed(self, redemption: Redemption) -> None:
        await self._notify("ticket_redeemed", redemption=redemption)

    async def _notify(self, hook_name: str, **kwargs: Any) -> None:
        # Notifications run after the commit: a broken plugin must not undo a sale or an
        # admission, so each implementation is isolated and its failure only logged.
        kwargs["facility"] = self.facility
        for impl in self._caller(hook_name).get_hookimpls():
            # pluggy lets an implementation take a subset of the spec's arguments.
            accepted = {name: kwargs[name] for name in impl.argnames}
            try:
                await resolve(impl.function(**accepted))
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)
