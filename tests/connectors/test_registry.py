"""The connector registry: built-ins, explicit registrations and entry-point plugins."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from connectors import registry
from connectors.ats.sandbox import SandboxAtsConnector
from connectors.registry import ConnectorRegistry


def test_the_sandbox_is_built_in() -> None:
    assert "sandbox" in registry.kinds()
    assert registry.get_factory("sandbox") is SandboxAtsConnector


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match="sandbox"):
        registry.get_factory("no-such-ats")


def test_registration_wins_and_duplicates_are_refused() -> None:
    own = ConnectorRegistry(builtins={}, group="skillproof.tests.none")

    @own.register("fake")
    class FakeConnector(SandboxAtsConnector):
        kind = "fake"

    assert own.get_factory("fake") is FakeConnector
    assert own.kinds() == ("fake",)
    with pytest.raises(ValueError, match="already registered"):
        own.register("fake")(SandboxAtsConnector)
    own.register("fake", replace=True)(SandboxAtsConnector)
    assert own.get_factory("fake") is SandboxAtsConnector


def test_plugins_are_found_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = "skillproof.tests.connectors"
    (tmp_path / "acme_ats_plugin.py").write_text(
        '"""Plugin."""\nfrom connectors.ats.sandbox import SandboxAtsConnector as AcmeConnector\n'
    )
    dist = tmp_path / "acme_ats_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ats-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{group}]\nacme = acme_ats_plugin:AcmeConnector\nsandbox = acme_ats_plugin:Nope\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_ats_plugin", raising=False)
    plugins = ConnectorRegistry(group=group)
    assert set(plugins.kinds()) == {"acme", "sandbox"}
    assert plugins.get_factory("acme") is SandboxAtsConnector
    assert plugins.get_factory("sandbox") is SandboxAtsConnector, (
        "a plugin cannot shadow a built-in"
    )
