"""Validity periods: VC 2.0 validFrom/validUntil, VC 1.1 issuanceDate/expirationDate, OB 2.0."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.verify.result import CheckId, CheckResult, Outcome


def parse_datetime(value: Any) -> datetime | None:
    """An xsd:dateTime as an aware UTC datetime; a missing zone is read as UTC; else None."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidityPeriod:
    valid_from: datetime | None
    valid_until: datetime | None
    check: CheckResult


def check_validity(
    document: Mapping[str, Any],
    *,
    now: datetime,
    clock_skew: timedelta,
    start_keys: tuple[str, ...] = ("validFrom", "issuanceDate"),
    end_keys: tuple[str, ...] = ("validUntil", "expirationDate"),
) -> ValidityPeriod:
    """Is `now` inside the credential's validity period (with `clock_skew` of tolerance)?"""

    def result(
        outcome: Outcome, detail: str, start: datetime | None, end: datetime | None
    ) -> ValidityPeriod:
        return ValidityPeriod(
            valid_from=start,
            valid_until=end,
            check=CheckResult(id=CheckId.VALIDITY_PERIOD, outcome=outcome, detail=detail),
        )

    starts = [(key, document[key]) for key in start_keys if document.get(key) is not None]
    ends = [(key, document[key]) for key in end_keys if document.get(key) is not None]
    parsed_starts = [(key, raw, parse_datetime(raw)) for key, raw in starts]
    parsed_ends = [(key, raw, parse_datetime(raw)) for key, raw in ends]
    for key, raw, parsed in parsed_starts + parsed_ends:
        if parsed is None:
            return result(Outcome.FAIL, f"{key} {raw!r} is not a valid date-time", None, None)
    start = max((p for _, _, p in parsed_starts if p), default=None)
    end = min((p for _, _, p in parsed_ends if p), default=None)
    if start is not None and end is not None and end < start:
        return result(
            Outcome.FAIL,
            f"the credential ends ({end.isoformat()}) before it starts ({start.isoformat()})",
            start,
            end,
        )
    if start is not None and now + clock_skew < start:
        return result(Outcome.FAIL, f"not yet valid: valid from {start.isoformat()}", start, end)
    if end is not None and now - clock_skew > end:
        return result(Outcome.FAIL, f"expired on {end.isoformat()}", start, end)
    detail = "valid, with no expiry date" if end is None else f"valid until {end.isoformat()}"
    if start is not None:
        detail += f" (from {start.isoformat()})"
    return result(Outcome.PASS, detail, start, end)
