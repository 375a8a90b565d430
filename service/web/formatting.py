"""Jinja filters that turn stored values into what a person reads; the JSON API keeps ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime

import jinja2


def human_time(value: datetime | str | None) -> str:
    """`2026-11-22 14:02 UTC`: minutes are as precise as a reader needs, and the zone is named.

    The read models hand the templates ISO strings (the API's shape), so those are parsed back.
    A naive value is one the database gave back without its zone: it was stored as UTC.
    """
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def install(templates: jinja2.Environment) -> None:
    templates.filters["human_time"] = human_time
