"""Which factory builds a connector of a given kind: built-ins, registrations and entry points.

Third-party connectors are found through the ``skillproof.connectors`` entry-point group,
for example in their pyproject.toml::

    [project.entry-points."skillproof.connectors"]
    acme_ats = "acme_skillproof.ats:AcmeConnector"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar, cast

from connectors.base import ConnectorFactory

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConnectorRegistry",
    "default_registry",
    "get_factory",
    "kinds",
    "register",
]

ENTRY_POINT_GROUP = "skillproof.connectors"

# Imported on first use, so listing kinds does not import every connector.
BUILTINS: dict[str, str] = {
    "sandbox": "connectors.ats.sandbox:SandboxAtsConnector",
}

F = TypeVar("F", bound=ConnectorFactory)


def _load(target: str) -> ConnectorFactory:
    module_name, _, attribute = target.partition(":")
    return cast(ConnectorFactory, getattr(importlib.import_module(module_name), attribute))


class ConnectorRegistry:
    """Maps a connector kind to its factory. Explicit registrations win over built-ins, which
    win over entry points, so an installed plugin cannot silently replace a built-in."""

    def __init__(self, *, builtins: dict[str, str] | None = None, group: str = ENTRY_POINT_GROUP):
        self._builtins = dict(BUILTINS if builtins is None else builtins)
        self._group = group
        self._registered: dict[str, ConnectorFactory] = {}

    def register(self, kind: str, *, replace: bool = False) -> Callable[[F], F]:
        """Decorator registering a factory (or connector class) under `kind`."""

        def decorator(factory: F) -> F:
            if not replace and kind in self._registered:
                raise ValueError(f"connector kind {kind!r} is already registered")
            self._registered[kind] = factory
            return factory

        return decorator

    def _entry_points(self) -> dict[str, str]:
        return {ep.name: ep.value for ep in entry_points(group=self._group)}

    def get_factory(self, kind: str) -> ConnectorFactory:
        """The factory for `kind`.

        :raises LookupError: if no connector of that kind is known
        """
        if kind in self._registered:
            return self._registered[kind]
        if kind in self._builtins:
            return _load(self._builtins[kind])
        for ep in entry_points(group=self._group):
            if ep.name == kind:
                return cast(ConnectorFactory, ep.load())
        raise LookupError(f"no connector of kind {kind!r}; known kinds: {', '.join(self.kinds())}")

    def kinds(self) -> tuple[str, ...]:
        """Every kind that `get_factory` can build, sorted."""
        return tuple(sorted({*self._registered, *self._builtins, *self._entry_points()}))


default_registry = ConnectorRegistry()


def register(kind: str, *, replace: bool = False) -> Callable[[F], F]:
    """Register a factory in the default registry (see `ConnectorRegistry.register`)."""
    return default_registry.register(kind, replace=replace)


def get_factory(kind: str) -> ConnectorFactory:
    """The factory for `kind` from the default registry."""
    return default_registry.get_factory(kind)


def kinds() -> tuple[str, ...]:
    """The kinds the default registry knows."""
    return default_registry.kinds()
