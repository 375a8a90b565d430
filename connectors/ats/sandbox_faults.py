"""Scripted faults for the sandbox ATS: what a flaky real ATS does, on demand, per route.

A `FaultPlan` holds, per route (``"METHOD /canonical/path"``, for example
``"POST /v1/applications/{id}/notes"``), the faults to serve to the next requests, in order:

* an HTTP status such as ``500``, ``503``, ``429`` (with Retry-After) or ``422``; a 2xx status
  lets the request through untouched;
* ``"timeout"``: the request IS applied, but the answer comes only after `hang_seconds`, later
  than the client waits; the ambiguous case idempotent pushes must survive;
* ``"reset"``: the connection is aborted before the request is applied;
* ``"malformed"``: a 200 whose body is not JSON.

Once a route's script is used up, requests are served normally.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["Fault", "FaultPlan", "apply_fault"]

Fault = int | Literal["timeout", "reset", "malformed"]
_NAMED = frozenset({"timeout", "reset", "malformed"})


@dataclass(kw_only=True)
class FaultPlan:
    """Faults to inject, per route, in order. Mutable: tests add to it while the server runs."""

    hang_seconds: float = 1.0
    retry_after: int = 1
    scripts: dict[str, deque[Fault]] = field(default_factory=dict)
    served: list[tuple[str, Fault]] = field(default_factory=list)

    def add(self, route: str, *faults: Fault) -> FaultPlan:
        """Queue `faults` for `route` ("GET /v1/applications"); returns the plan for chaining."""
        method, _, path = route.partition(" ")
        if not method.isupper() or not path.startswith("/"):
            raise ValueError(f"route must look like 'GET /v1/jobs', not {route!r}")
        for fault in faults:
            if isinstance(fault, str) and fault not in _NAMED:
                raise ValueError(f"unknown fault {fault!r}")
            if isinstance(fault, int) and not 200 <= fault <= 599:
                raise ValueError(f"fault status out of range: {fault}")
        self.scripts.setdefault(route, deque()).extend(faults)
        return self

    def take(self, route: str) -> Fault | None:
        """The next fault scripted for `route`, if any (consumed)."""
        script = self.scripts.get(route)
        if not script:
            return None
        fault = script.popleft()
        self.served.append((route, fault))
        return fault

    def pending(self, route: str | None = None) -> int:
        """How many scripted faults have not been served yet."""
        if route is not None:
            return len(self.scripts.get(route, ()))
        return sum(len(s) for s in self.scripts.values())


def _status_response(request: web.Request, status: int, plan: FaultPlan) -> web.Response:
    headers: dict[str, str] = {}
    body: dict[str, object] = {"message": f"Injected fault {status}"}
    if status == 429:
        headers["Retry-After"] = str(plan.retry_after)
    if status == 422:
        # Some APIs echo the request in validation errors; so does this one, so that tests
        # prove connectors redact what comes back.
        body["request"] = {
            "authorization": request.headers.get("Authorization", ""),
            "query": request.query_string,
        }
    return web.json_response(body, status=status, headers=headers)


async def apply_fault(
    request: web.Request, fault: Fault, plan: FaultPlan, handler: Handler
) -> web.StreamResponse:
    """Serve `request` the way `fault` says."""
    if isinstance(fault, int):
        if 200 <= fault < 300:
            return await handler(request)
        return _status_response(request, fault, plan)
    if fault == "reset":
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone
    if fault == "malformed":
        return web.Response(text='{"truncated": [', status=200, content_type="application/json")
    response = await handler(request)
    await asyncio.sleep(plan.hang_seconds)
    return response
