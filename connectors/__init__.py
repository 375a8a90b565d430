"""Skillproof connectors: one module per external system, behind the Protocols in `base`."""

from __future__ import annotations

from connectors.base import (
    ApplicationRef,
    AtsConnector,
    CandidateRef,
    ConnectorConfig,
    ConnectorFactory,
    CredentialSource,
    JobRef,
    MatchUpdate,
    Page,
    PushReceipt,
    RawCredential,
)
from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from connectors.registry import ConnectorRegistry, get_factory, kinds, register

__all__ = [
    "ApplicationRef",
    "AtsConnector",
    "AuthError",
    "CandidateRef",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorFactory",
    "ConnectorRegistry",
    "CredentialSource",
    "JobRef",
    "MatchUpdate",
    "Page",
    "PermanentError",
    "PushReceipt",
    "RawCredential",
    "TransientError",
    "get_factory",
    "kinds",
    "register",
]
