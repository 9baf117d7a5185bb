"""The per-application plugin manager and the per-tenant hook facade.

Plugins come only from the ``scim_gateway`` entry-point group, the built-in ones too
(``pyproject.toml`` declares them), so every run proves the path a third-party package
takes. Each plugin module may set two flags:

* ``ENABLED_BY_DEFAULT = True``: runs for tenants whose settings do not mention it
  (built-ins do; third-party plugins are opt-in per tenant);
* ``ESSENTIAL = True``: cannot be disabled for a tenant, because the core needs its
  answer (attribute mapping, role assignment, deprovisioning). Other plugins may still
  answer first: the built-ins are ``trylast``.

A tenant's settings look like ``{"plugins": {"uniqueness": {"enabled": true,
"options": {"require_email": false}}}}``. :class:`TenantHooks` is the core's only way to
call hooks: one typed method per hook over ``subset_hook_caller`` without the tenant's
disabled plugins, cached per (tenant, settings version).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import pluggy
from marshmallow import Schema, ValidationError

from . import hookspecs
from .errors import InternalError, ScimError
from .policy import (
    DEPROVISION_ACTIONS,
    Change,
    DeprovisionEvent,
    GroupInfo,
    Retention,
    RoleGrant,
    RoleInfo,
    TenantContext,
    UserInfo,
)

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "scim_gateway"
CACHE_SIZE = 1024


class SettingsError(Exception):
    """Tenant settings that cannot be saved; ``messages`` maps a field path to its errors."""

    def __init__(self, messages: dict):
        self.messages = messages
        super().__init__(str(messages))


@dataclass(frozen=True)
class PluginInfo:
    """What the manager knows about one registered plugin."""

    name: str
    enabled_by_default: bool
    essential: bool
    hooks: tuple[str, ...]
    version: str | None


def _is_essential(name: str) -> bool:
    """True if the installed plugin ``name`` declares ``ESSENTIAL = True``.

    Asked only for plugins being blocked; one that cannot even be imported is not
    essential (blocking it is how an operator keeps a broken plugin out).
    """
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            return bool(getattr(entry_point.load(), "ESSENTIAL", False))
        except Exception:
            log.exception("Blocked plugin %r cannot be imported", name)
    return False


def _options_schema(value) -> Schema | None:
    if value is None:
        return None
    return value() if isinstance(value, type) else value


class PluginManager:
    """Loads plugins for one application and hands out per-tenant :class:`TenantHooks`."""

    def __init__(self, blocked: tuple[str, ...] = (), trace: bool = False):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        for name in blocked:
            if _is_essential(name):
                raise RuntimeError(f"Plugin {name!r} is essential and cannot be blocked.")
            self.pm.set_blocked(name)
        self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        self.pm.check_pending()
        if trace:
            self.pm.add_hookcall_monitoring(self._trace_before, self._trace_after)
        self._cache: dict[tuple, TenantHooks] = {}
        self._lock = threading.Lock()

    # -- registry ----------------------------------------------------------------------

    def register(self, plugin, name: str) -> None:
        """Register ``plugin`` under ``name`` (tests, embedding); clears cached hook sets.

        A plugin that pluggy refuses (unknown hook, unknown argument) is not left behind.
        """
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            raise
        finally:
            self._cache.clear()

    def unregister(self, name: str) -> None:
        """Remove the plugin registered as ``name``; clears cached hook sets."""
        self.pm.unregister(name=name)
        self._cache.clear()

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with its flags, hooks and distribution version."""
        versions = {
            self.pm.get_name(plugin): dist.version for plugin, dist in self.pm.list_plugin_distinfo()
        }
        return sorted(
            (
                PluginInfo(
                    name=name,
                    enabled_by_default=bool(getattr(plugin, "ENABLED_BY_DEFAULT", False)),
                    essential=bool(getattr(plugin, "ESSENTIAL", False)),
                    hooks=tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ())),
                    version=versions.get(name),
                )
                for name, plugin in self.pm.list_name_plugin()
                if plugin is not None
            ),
            key=lambda info: info.name,
        )

    def option_schemas(self) -> dict[str, Schema]:
        """``{plugin name: options schema}`` from every ``scim_plugin_options`` impl."""
        schemas = {}
        for impl in self.pm.hook.scim_plugin_options.get_hookimpls():
            schema = _options_schema(impl.function())
            if schema is not None:
                schemas[impl.plugin_name] = schema
        return schemas

    # -- settings ----------------------------------------------------------------------

    def validate_settings(self, settings: Any) -> dict:
        """Check tenant settings and return them normalised; raise :class:`SettingsError`."""
        if not isinstance(settings, dict):
            raise SettingsError({"settings": ["Must be a JSON object."]})
        unknown = set(settings) - {"plugins"}
        if unknown:
            raise SettingsError({key: ["Unknown setting."] for key in sorted(unknown)})
        plugins = settings.get("plugins", {})
        if not isinstance(plugins, dict):
            raise SettingsError({"plugins": ["Must be an object keyed by plugin name."]})
        known = {info.name: info for info in self.plugins()}
        schemas = self.option_schemas()
        errors: dict[str, list | dict] = {}
        normalised = {}
        for name, entry in plugins.items():
            where = f"plugins.{name}"
            if name not in known:
                errors[where] = [f"No plugin named {name!r} is installed."]
                continue
            if not isinstance(entry, dict) or set(entry) - {"enabled", "options"}:
                errors[where] = ["Must be an object with 'enabled' (boolean) and/or 'options' (object)."]
                continue
            enabled = entry.get("enabled", known[name].enabled_by_default)
            if not isinstance(enabled, bool):
                errors[f"{where}.enabled"] = ["Must be true or false."]
                continue
            if not enabled and known[name].essential:
                errors[f"{where}.enabled"] = [f"{name!r} is essential and cannot be disabled."]
                continue
            options = entry.get("options", {})
            schema = schemas.get(name)
            if options and schema is None:
                errors[f"{where}.options"] = [f"{name!r} takes no options."]
                continue
            if schema is not None:
                try:
                    schema.load(options)
                except ValidationError as error:
                    errors[f"{where}.options"] = error.messages
                    continue
            normalised[name] = {"enabled": enabled, "options": options}
        if errors:
            raise SettingsError(errors)
        return {"plugins": normalised}

    # -- per tenant ----------------------------------------------------------------------

    def for_tenant(self, slug: str, name: str, settings: dict, version: Any,
                   lookup: Callable[[str, str], list[str]] | None = None) -> "TenantHooks":
        """The hook facade for one tenant, cached per (slug, settings version)."""
        key = (slug, version)
        hooks = self._cache.get(key)
        if hooks is None:
            hooks = TenantHooks(self, slug, name, settings or {}, lookup)
            with self._lock:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = hooks
        return hooks

    def enabled_names(self, settings: dict) -> set[str]:
        """Names of the plugins that run for a tenant with ``settings``."""
        chosen = (settings or {}).get("plugins", {})
        return {
            info.name
            for info in self.plugins()
            if chosen.get(info.name, {}).get("enabled", info.enabled_by_default) or info.essential
        }

    # -- diagnostics -------------------------------------------------------------------

    @staticmethod
    def _trace_before(hook_name, hook_impls, kwargs):
        log.info("hook %s -> %s with %s", hook_name, [i.plugin_name for i in hook_impls], sorted(kwargs))

    @staticmethod
    def _trace_after(outcome, hook_name, hook_impls, kwargs):
        log.info("hook %s returned %r", hook_name, outcome.get_result() if outcome.exception is None else outcome.exception)


def plugin_of(error: BaseException, impls) -> str:
    """The name of the plugin whose code raised ``error`` (from its traceback)."""
    codes = {impl.function.__code__: impl.plugin_name for impl in impls}
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if frame.f_code in codes:
            return codes[frame.f_code]
    return "unknown plugin"


class TenantHooks:
    """The hooks as they run for one tenant: only its enabled plugins, its options."""

    def __init__(self, manager: PluginManager, slug: str, name: str, settings: dict,
                 lookup: Callable[[str, str], list[str]] | None):
        self.manager = manager
        enabled = manager.enabled_names(settings)
        chosen = settings.get("plugins", {})
        schemas = manager.option_schemas()
        options = {}
        for plugin in sorted(enabled & set(schemas)):
            try:
                options[plugin] = dict(schemas[plugin].load(chosen.get(plugin, {}).get("options", {})))
            except ValidationError as error:
                log.error("Tenant %r has invalid options for plugin %r: %s", slug, plugin, error.messages)
                raise InternalError(
                    f"This tenant's options for the plugin {plugin!r} are invalid ({error.messages}); "
                    "an administrator must fix the tenant's settings."
                ) from None
        self.context = TenantContext(slug=slug, name=name, options=options, lookup=lookup)
        disabled = [plugin for n, plugin in manager.pm.list_name_plugin() if n not in enabled and plugin]
        self._callers = {
            hook: manager.pm.subset_hook_caller(hook, remove_plugins=disabled) for hook in hookspecs.HOOK_NAMES
        }
        self.enabled = frozenset(enabled)
        self.memo: dict = {}  # values derived from this tenant's hooks (e.g. its schemas)

    def _call(self, hook: str, **kwargs):
        caller = self._callers[hook]
        try:
            return caller(tenant=self.context, **kwargs)
        except ScimError:
            raise
        except Exception as error:
            plugin = plugin_of(error, caller.get_hookimpls())
            log.exception("Plugin %r failed in %s for tenant %r", plugin, hook, self.context.slug)
            raise InternalError(
                f"A provisioning policy failed ({plugin}, {hook}); nothing was changed. "
                "The server log has the details."
            ) from error

    def stored_attributes(self, resource_type: str) -> list[str]:
        """The attribute paths this tenant stores for ``resource_type``."""
        return list(self._call("scim_stored_attributes", resource_type=resource_type) or [])

    def map_resource(self, resource_type: str, resource: dict, stored_attributes: list[str]) -> dict:
        """The document to store for an inbound ``resource``."""
        mapped = self._call("scim_map_resource", resource_type=resource_type, resource=resource,
                            stored_attributes=stored_attributes)
        return resource if mapped is None else mapped

    def schema_extensions(self, resource_type: str) -> list:
        """Extension schemas the tenant's plugins contribute for ``resource_type``."""
        results = self._call("scim_schema_extensions", resource_type=resource_type)
        return [schema for result in results or [] for schema in (result or [])]

    def validate(self, resource_type: str, resource: dict, current: dict | None) -> None:
        """Run every validation plugin; the first to raise a ScimError rejects the write."""
        self._call("scim_validate_resource", resource_type=resource_type, resource=resource, current=current)

    def effective_roles(self, user: UserInfo, groups: list[GroupInfo], group_roles: dict[str, list[RoleInfo]],
                        manual_roles: list[RoleInfo]) -> list[RoleGrant]:
        """The roles ``user`` holds now (no plugin answering: none)."""
        grants = self._call("scim_effective_roles", user=user, groups=groups, group_roles=group_roles,
                            manual_roles=manual_roles)
        return list(grants or [])

    def check_manual_roles(self, user: UserInfo, roles: list[RoleInfo]) -> None:
        """Raise a ScimError (409) if ``roles`` may not be given to ``user`` by hand."""
        self._call("scim_check_manual_roles", user=user, roles=roles)

    def deprovision(self, event: DeprovisionEvent) -> str:
        """The action for ``event``: the first plugin's answer, checked, or the default."""
        allowed, default = DEPROVISION_ACTIONS[event.kind]
        action = self._call("scim_deprovision", event=event)
        if action is None:
            return default
        if action not in allowed:
            plugins = [impl.plugin_name for impl in self._callers["scim_deprovision"].get_hookimpls()]
            log.error("scim_deprovision (plugins %s) answered %r for %s; allowed: %s",
                      plugins, action, event.kind, allowed)
            raise InternalError(f"A deprovisioning policy answered an unknown action for {event.kind}; "
                                "nothing was changed.")
        return action

    def retention(self) -> Retention:
        """How long tombstoned and disabled users are kept."""
        return self._call("scim_retention") or Retention()

    def rate_limit(self) -> str | None:
        """The tenant's request rate (``limits`` notation), or ``None`` for unlimited."""
        if "rate_limit" not in self.memo:
            self.memo["rate_limit"] = self._call("scim_rate_limit")
        return self.memo["rate_limit"]

    def after_change(self, change: Change) -> None:
        """Notify plugins of a committed change; their failures are logged, never raised."""
        caller = self._callers["scim_after_change"]
        try:
            caller(tenant=self.context, change=change)
        except Exception as error:  # the change is committed; a listener cannot undo it
            log.exception("Plugin %r failed in scim_after_change for tenant %r",
                          plugin_of(error, caller.get_hookimpls()), self.context.slug)


def from_environment() -> PluginManager:
    """A manager honouring ``SCIM_GATEWAY_DISABLED_PLUGINS`` (comma-separated names) and
    ``SCIM_GATEWAY_TRACE_HOOKS`` (log every hook call)."""
    blocked = tuple(n.strip() for n in os.environ.get("SCIM_GATEWAY_DISABLED_PLUGINS", "").split(",") if n.strip())
    trace = os.environ.get("SCIM_GATEWAY_TRACE_HOOKS", "").lower() in ("1", "true", "yes")
    return PluginManager(blocked=blocked, trace=trace)

