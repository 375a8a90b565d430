"""ATS connectors, one module per system, plus the built-in sandbox ATS and its server."""

from __future__ import annotations

from connectors.ats.sandbox import SandboxAtsConnector

__all__ = ["SandboxAtsConnector"]
