"""`skillproof verify INPUT...`: verify credential files or URLs and print one result per input."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.fetch import FetchPolicy, GuardedFetcher
from service.settings import Settings
from service.verify import Holder, Outcome, VerificationResult, Verifier, VerifyPolicy
from service.verify.contexts import ContextStore

_MEDIA_BY_SUFFIX = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jwt": "application/jwt",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
}
_MARKS = {Outcome.PASS: "ok  ", Outcome.WARN: "warn", Outcome.FAIL: "FAIL", Outcome.UNKNOWN: "??  "}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify credentials (JSON, JWT, baked PNG/SVG files, or URLs)",
        description="Verify each INPUT (a file path or an https URL) and print its verdict and"
        " every check. Exits 0 when every input was processed, whatever the verdicts.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="credential file or URL")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per line (the result plus input)"
    )
    parser.add_argument(
        "--now",
        type=_instant,
        default=None,
        metavar="ISO8601",
        help="verify as of this instant (default: the current time)",
    )
    parser.add_argument(
        "--holder",
        action="append",
        default=[],
        metavar="EMAIL_OR_DID",
        help="a verified identifier of the candidate (email, DID, URL or phone); repeatable",
    )
    parser.set_defaults(handler=handler)


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def holder_from(values: list[str]) -> Holder | None:
    emails, dids, urls, phones = [], [], [], []
    for value in (v.strip() for v in values if v.strip()):
        if value.startswith("did:"):
            dids.append(value)
        elif value.startswith(("https://", "http://")):
            urls.append(value)
        elif "@" in value:
            emails.append(value.removeprefix("mailto:"))
        else:
            phones.append(value.removeprefix("tel:"))
    if not (emails or dids or urls or phones):
        return None
    return Holder(emails=tuple(emails), dids=tuple(dids), urls=tuple(urls), phones=tuple(phones))


def handler(args: argparse.Namespace, settings: Settings) -> int:
    files: dict[str, bytes] = {}
    for item in args.inputs:
        if item.startswith(("https://", "http://")):
            continue
        try:
            files[item] = Path(item).read_bytes()
        except OSError as exc:
            print(f"cannot read {item}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    now = args.now or datetime.now(UTC)
    policy = VerifyPolicy(clock_skew=timedelta(seconds=settings.clock_skew_seconds))
    results = asyncio.run(
        _verify_all(args.inputs, files, settings, now, holder_from(args.holder), policy)
    )
    for item, result in zip(args.inputs, results, strict=True):
        if args.json:
            print(json.dumps({**result.to_json(), "input": item}, ensure_ascii=False))
        else:
            _print_human(item, result)
    return 0


async def _verify_all(
    inputs: list[str],
    files: dict[str, bytes],
    settings: Settings,
    now: datetime,
    holder: Holder | None,
    policy: VerifyPolicy,
) -> list[VerificationResult]:
    async with GuardedFetcher(FetchPolicy.from_settings(settings)) as fetcher:
        verifier = Verifier(
            contexts=ContextStore.from_settings(settings),
            fetcher=fetcher,
            max_input_bytes=settings.max_credential_bytes,
            status_stale_if_error=settings.status_stale_if_error_seconds,
        )
        results = []
        for item in inputs:
            if item in files:
                media = _MEDIA_BY_SUFFIX.get(Path(item).suffix.lower())
                result = await verifier.verify(
                    files[item], now=now, holder=holder, policy=policy, media_type=media
                )
            else:
                result = await verifier.verify_url(item, now=now, holder=holder, policy=policy)
            results.append(result)
        return results


def _print_human(item: str, result: VerificationResult) -> None:
    issuer = result.issuer.name or result.issuer.id or "unknown issuer"
    print(f"{item}: {str(result.verdict).upper()} ({result.format}, issued by {issuer})")
    for check in result.checks:
        print(f"  {_MARKS[check.outcome]} {check.id:<16} {check.detail}")
    for achievement in result.achievements:
        print(f"  achievement: {achievement.name}")
    for nested in result.nested:
        print(f"  nested: {nested.verdict} ({nested.format}) {nested.credential_id or ''}")
