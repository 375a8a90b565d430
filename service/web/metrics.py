"""Prometheus metrics, on a registry owned by the app (no process-global state)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True, kw_only=True)
class Metrics:
    requests: Counter
    latency: Histogram
    credentials: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            requests=Counter(
                "skillproof_http_requests",
                "HTTP requests served",
                ["method", "route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "skillproof_http_request_seconds",
                "HTTP request latency",
                ["route"],
                registry=registry,
            ),
            credentials=Counter(
                "skillproof_credentials_verified",
                "Credentials verified, by verdict",
                ["verdict"],
                registry=registry,
            ),
        )
