"""Plain data that hooks receive and return.

Hooks never see database rows, connections or Flask objects: the core loads what a hook
needs in bounded queries and hands it over as these frozen dataclasses, so a plugin
cannot run a query per user or leak a connection, and the same plugin works on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class TenantContext:
    """The tenant a hook runs for, with every enabled plugin's validated options.

    A plugin reads its own options with ``tenant.options_for(NAME)`` (its entry-point
    name). ``lookup`` answers "which resources match this SCIM filter?" for
    validation plugins (bounded to a few ids, run by the core on its own connection).
    """

    slug: str
    name: str
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lookup: Callable[[str, str], list[str]] | None = field(default=None, compare=False, repr=False)

    def options_for(self, plugin: str) -> Mapping[str, Any]:
        """The validated options of ``plugin`` for this tenant (defaults filled in)."""
        return self.options.get(plugin, {})

    def matching_ids(self, resource_type: str, scim_filter: str) -> list[str]:
        """Ids (at most a handful) of this tenant's ``resource_type`` matching ``scim_filter``."""
        if self.lookup is None:
            return []
        return self.lookup(resource_type, scim_filter)


@dataclass(frozen=True)
class UserInfo:
    """A user as policies see it."""

    id: str
    user_name: str
    active: bool | None
    source: str = "scim"
    disabled_at: dt.datetime | None = None

    @property
    def disabled(self) -> bool:
        """True when the identity provider set ``active`` to false."""
        return self.active is False


@dataclass(frozen=True)
class GroupInfo:
    """A group as policies see it."""

    id: str
    display_name: str


@dataclass(frozen=True)
class RoleInfo:
    """A role of the tenant's catalog."""

    id: str
    name: str
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleGrant:
    """A role a user holds and the groups that grant it (empty: given by hand)."""

    role: RoleInfo
    granted_by: tuple[str, ...] = ()


USER_DEACTIVATED = "user_deactivated"
USER_DELETED = "user_deleted"
GROUP_DELETED = "group_deleted"
MEMBERS_REMOVED = "members_removed"

DEPROVISION_ACTIONS = {
    # event kind -> (allowed actions, what the core does without any answer)
    USER_DEACTIVATED: (("disable", "delete", "tombstone"), "disable"),
    USER_DELETED: (("delete", "tombstone", "disable"), "delete"),
    GROUP_DELETED: (("delete", "delete_and_disable_members"), "delete"),
    MEMBERS_REMOVED: (("keep", "disable"), "keep"),
}


@dataclass(frozen=True)
class DeprovisionEvent:
    """Something an identity provider did that takes access away.

    ``kind`` is one of ``user_deactivated`` (``active`` set to false), ``user_deleted``
    (DELETE /Users/<id>), ``group_deleted`` (DELETE /Groups/<id>) and
    ``members_removed`` (users removed from ``group`` without being deleted).
    """

    kind: str
    user: UserInfo | None = None
    group: GroupInfo | None = None
    user_ids: tuple[str, ...] = ()  # members_removed: who left ``group`` (ids only, any number)


@dataclass(frozen=True)
class Retention:
    """How long deprovisioned users are kept before the sweep removes them (days; None: never)."""

    tombstone_days: int | None = None
    disabled_days: int | None = None


@dataclass(frozen=True)
class Change:
    """A committed change, for ``scim_after_change``.

    ``action``: ``create``, ``replace``, ``patch``, ``delete``, ``disable``,
    ``tombstone``. ``summary`` names what changed (attribute names, member ids added
    and removed), never secrets.
    """

    action: str
    resource_type: str
    resource_id: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    actor: str = ""
