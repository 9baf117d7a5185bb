"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9).

A :class:`Projection` is parsed once per request. Before anything is read it answers
:meth:`Projection.wants` (``excludedAttributes=members`` means the membership table is
never queried); after rendering, :meth:`Projection.apply` trims the resource. ``id`` and
``schemas`` are always returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .schema import ResourceSchema

ALWAYS_RETURNED = frozenset({"id", "schemas"})


def _path(name: str, schemas: ResourceSchema) -> tuple[str, str | None] | None:
    core = schemas.core.id.lower()
    if name.startswith(core + ":"):
        name = name[len(core) + 1:]
    elif name.startswith("urn:"):
        for extension in schemas.extensions:
            urn = extension.id.lower()
            if name == urn:
                return urn, None
            if name.startswith(urn + ":"):
                return urn, name[len(urn) + 1:].partition(".")[0]
        return None  # a schema this resource type does not have
    top, _, sub = name.partition(".")
    return top, sub or None


def _paths(text: str | None, schemas: ResourceSchema) -> frozenset[tuple[str, str | None]]:
    if not text:
        return frozenset()
    paths = (_path(raw.strip().lower(), schemas) for raw in text.split(",") if raw.strip())
    return frozenset(path for path in paths if path is not None)


@dataclass(frozen=True)
class Projection:
    """The attribute selection of one request, as lower-cased (attribute, sub) pairs."""

    attributes: frozenset[tuple[str, str | None]] = frozenset()
    excluded: frozenset[tuple[str, str | None]] = frozenset()

    @classmethod
    def parse(cls, attributes: str | None, excluded: str | None, schemas: ResourceSchema) -> "Projection":
        """Parse the comma-separated query parameters against a resource's schemas."""
        return cls(_paths(attributes, schemas), _paths(excluded, schemas))

    @property
    def is_default(self) -> bool:
        """True when the request chose no attributes (every default attribute is returned)."""
        return not self.attributes and not self.excluded

    def wants(self, attribute: str) -> bool:
        """Whether ``attribute`` (top level) will be returned at all: decides what to read."""
        key = attribute.lower()
        if self.attributes:
            return any(top == key for top, _ in self.attributes)
        return (key, None) not in self.excluded

    def apply(self, resource: dict) -> dict:
        """``resource`` trimmed to the selection."""
        if not self.attributes and not self.excluded:
            return resource
        result = {}
        for key, value in resource.items():
            lowered = key.lower()
            if lowered in ALWAYS_RETURNED:
                result[key] = value
                continue
            if self.attributes:
                subs = {sub for top, sub in self.attributes if top == lowered}
                if not subs:
                    continue
                result[key] = value if None in subs else _keep(value, subs)
            else:
                subs = {sub for top, sub in self.excluded if top == lowered}
                if None in subs:
                    continue
                result[key] = _drop(value, subs) if subs else value
        return result


def _keep(value: Any, subs: set) -> Any:
    if isinstance(value, list):
        return [_keep(item, subs) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() in subs}
    return value


def _drop(value: Any, subs: set) -> Any:
    if isinstance(value, list):
        return [_drop(item, subs) for item in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() not in subs}
    return value
