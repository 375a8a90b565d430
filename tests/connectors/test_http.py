"""Shared HTTP plumbing: Retry-After parsing, the token bucket, retries, status rules, redaction."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web

from connectors.base import ConnectorConfig
from connectors.errors import AuthError, PermanentError, TransientError
from connectors.http import (
    HttpConnector,
    RetryPolicy,
    TokenBucket,
    error_for_status,
    make_session,
    parse_retry_after,
)
from connectors.redaction import REDACTED, redact
from tests.fakes.ats import ServerFactory, SleepRecorder

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECRET = "s3cr3t-api-key-0042"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=90), usegmt=True)}, 90.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=90), usegmt=True)}, 0.0),
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 12)}, 12.0),
        ({"X-RateLimit-Reset": "5"}, 5.0),
        ({"Retry-After": "2", "X-RateLimit-Reset": "60"}, 2.0),
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Reset": "later"}, None),
        ({}, None),
    ],
    ids=[
        "seconds",
        "lowercase-zero",
        "http-date",
        "past-date",
        "reset-epoch",
        "reset-delta",
        "retry-after-first",
        "garbage",
        "reset-garbage",
        "absent",
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay


async def test_token_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 3, clock=clock, sleep=clock.sleep)
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0], "burst of 3"
    assert bucket.try_acquire() == pytest.approx(0.5), "next token in 1/rate seconds"
    await bucket.acquire()
    assert clock.now == pytest.approx(100.5), "acquire waited for the token"
    clock.now += 60
    assert bucket.available == 3, "never more than the burst"


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)


def test_full_jitter_backoff_stays_under_a_capped_ceiling() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=4.0)
    assert [policy.ceiling(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(3, None, lambda: 0.5) == 2.0, "a random share of the ceiling"
    assert policy.delay(3, 7.0, lambda: 0.5) == 7.0, "the server's Retry-After wins"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (408, TransientError),
        (425, TransientError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
        (401, AuthError),
        (403, AuthError),
        (400, PermanentError),
        (404, PermanentError),
        (409, PermanentError),
        (422, PermanentError),
    ],
)
def test_status_translation_follows_the_retriable_fatal_rule(status: int, kind: type) -> None:
    error = error_for_status(status, {"Retry-After": "4"}, "body", what="GET /x", now=NOW)
    assert type(error) is kind
    assert error.status == status
    if isinstance(error, TransientError):
        assert error.retry_after == 4.0


def test_redact_removes_secrets_in_every_wire_form() -> None:
    basic = base64.b64encode(f"{SECRET}:".encode()).decode()
    text = (
        f"key={SECRET} header=Basic {basic} "
        '{"authorization": "Bearer abcdefghijklmnopqrstuvwxyz", "access_token": "tok-999"} '
        "Authorization: Digest username=x\r\nurl=https://x.example/?api_key=qwerty123&page=2"
    )
    cleaned = redact(text, [SECRET])
    for leaked in (SECRET, basic, "abcdefghijklmnopqrstuvwxyz", "tok-999", "qwerty123"):
        assert leaked not in cleaned, f"{leaked!r} survived: {cleaned}"
    assert "username=x" not in cleaned, "the whole Authorization header value goes"
    assert "page=2" in cleaned, "ordinary parameters stay readable"
    assert REDACTED in cleaned


def test_redact_keeps_ordinary_prose() -> None:
    prose = "The token expired; authorization failed for job 12 (Basic plan)."
    assert redact(prose, ["ab", ""]) == prose, "short or empty secrets are not applied"


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {"path": request.path}, headers={"Link": '<http://evil.example/x>; rel="next"'}
    )


class _Plain(HttpConnector):
    kind = "plain"


async def test_make_session_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with make_session(total_timeout=3, connect_timeout=1) as session:
        assert session.trust_env is False
        assert session.timeout.total == 3


async def test_links_to_another_origin_are_refused(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    app = web.Application()
    app.router.add_get("/api/v1/jobs", _echo)
    server = await aiohttp_server(app)
    connector = _Plain(ConnectorConfig(base_url=str(server.make_url("/api/")), secrets={}), session)
    response = await connector.request("GET", "/v1/jobs")
    assert response.body == {"path": "/api/v1/jobs"}, "paths are joined under the base path"
    with pytest.raises(PermanentError, match="refusing"):
        await connector.request("GET", response.links["next"])


async def test_oversized_responses_are_refused(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    async def big(request: web.Request) -> web.Response:
        return web.json_response({"blob": "x" * 5000})

    app = web.Application()
    app.router.add_get("/big", big)
    server = await aiohttp_server(app)
    connector = _Plain(
        ConnectorConfig(
            base_url=str(server.make_url("/")), secrets={}, options={"max_response_bytes": 1000}
        ),
        session,
    )
    with pytest.raises(PermanentError, match="exceeds"):
        await connector.request_json("GET", "/big")


async def test_a_post_is_not_repeated_after_an_ambiguous_failure(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    calls: list[str] = []

    async def flaky(request: web.Request) -> web.Response:
        calls.append(request.method)
        return web.json_response({"message": "upstream"}, status=502)

    app = web.Application()
    app.router.add_post("/notes", flaky)
    app.router.add_get("/notes", flaky)
    server = await aiohttp_server(app)
    sleep = SleepRecorder()
    connector = _Plain(
        ConnectorConfig(base_url=str(server.make_url("/")), secrets={}), session, sleep=sleep
    )
    with pytest.raises(TransientError):
        await connector.request("POST", "/notes", json={"body": "x"})
    assert calls == ["POST"], "a POST that may have landed is left to the caller to reconcile"
    with pytest.raises(TransientError):
        await connector.request("GET", "/notes")
    assert calls.count("GET") == 3, "a GET is retried up to max_attempts"


async def test_a_long_retry_after_is_left_to_the_outbox(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response({}, status=429, headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_get("/busy", busy)
    server = await aiohttp_server(app)
    sleep = SleepRecorder()
    connector = _Plain(
        ConnectorConfig(base_url=str(server.make_url("/")), secrets={}), session, sleep=sleep
    )
    with pytest.raises(TransientError) as caught:
        await connector.request("GET", "/busy")
    assert caught.value.retry_after == 3600.0
    assert sleep.delays == [], "never block a call for an hour"


async def test_the_client_bucket_paces_requests(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/ok", ok)
    server = await aiohttp_server(app)
    config = ConnectorConfig(
        base_url=str(server.make_url("/")),
        secrets={},
        options={"requests_per_second": 1, "burst": 2},
    )
    from_options = _Plain(config, session)
    assert from_options.bucket is not None
    assert (from_options.bucket.rate, from_options.bucket.burst) == (1.0, 2)
    clock = FakeClock()
    connector = _Plain(config, session, bucket=TokenBucket(1, 2, clock=clock, sleep=clock.sleep))
    for _ in range(3):
        await connector.request("GET", "/ok")
    assert clock.now == pytest.approx(101.0), "the third request waited one token interval"


def test_a_relative_base_url_is_refused() -> None:
    with pytest.raises(PermanentError, match="absolute"):
        _Plain(ConnectorConfig(base_url="/api", secrets={}), None)  # type: ignore[arg-type]


def test_config_repr_hides_secrets() -> None:
    config = ConnectorConfig(base_url="https://ats.example", secrets={"api_key": SECRET})
    assert SECRET not in repr(config)
