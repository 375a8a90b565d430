"""`skillproof tenant create|list` and `skillproof keys issue|list|revoke`: onboard an employer.

    skillproof tenant create "Acme Corp" [--slug acme] [--json]
    skillproof keys issue --tenant acme [--role admin|hr|recruiter] [--expires-days N] [--json]
    skillproof keys list --tenant acme [--json]
    skillproof keys revoke KEY_ID --tenant acme

A new API key is printed once: only its prefix and a keyed hash are stored. Revoking a key also
ends every browser session opened with it (sessions check their key on every request).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import unicodedata
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from service.commands.common import (
    CLI_ACTOR,
    CommandError,
    emit_json,
    find_tenant,
    open_database,
    print_table,
    report,
    when,
)
from service.db import unit_of_work
from service.models import ApiKey, Tenant
from service.repositories import audit, tenancy
from service.security import apikeys
from service.settings import Settings

ROLES = ("admin", "hr", "recruiter")
SLUG_MAX = 64
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `tenant` and `keys` commands."""
    tenant = subparsers.add_parser("tenant", help="create and list tenants (employers)")
    tenant_actions = tenant.add_subparsers(dest="tenant_action", required=True, metavar="ACTION")
    create = tenant_actions.add_parser("create", help="create a tenant and print its id")
    create.add_argument("name", metavar="NAME", help="the employer's name, e.g. 'Acme Corp'")
    create.add_argument("--slug", help="short unique handle (default: derived from NAME)")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    listing = tenant_actions.add_parser("list", help="show every tenant")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    tenant.set_defaults(handler=handle_tenant)

    keys = subparsers.add_parser("keys", help="issue, list and revoke a tenant's API keys")
    key_actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    issue = key_actions.add_parser("issue", help="issue an API key; it is printed only once")
    _tenant_option(issue)
    issue.add_argument("--role", choices=ROLES, default="admin", help="what the key may do")
    issue.add_argument(
        "--expires-days", type=_positive, metavar="N", help="expire after N days (default: never)"
    )
    issue.add_argument("--name", default="issued from the CLI", help="a note saying what for")
    issue.add_argument("--json", action="store_true", help="print one JSON object")
    key_list = key_actions.add_parser("list", help="show the tenant's keys (never the keys)")
    _tenant_option(key_list)
    key_list.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = key_actions.add_parser("revoke", help="revoke a key and the sessions opened with it")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (see `keys list`)")
    _tenant_option(revoke)
    revoke.add_argument("--json", action="store_true", help="print one JSON object")
    keys.set_defaults(handler=handle_keys)


def _tenant_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, metavar="T", help="the tenant's slug or id")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of days >= 1, not {value!r}")
    return number


def slug_for(name: str) -> str:
    """'Ácme Corp.' -> 'acme-corp'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")[:SLUG_MAX].strip("-")


# --- tenant -----------------------------------------------------------------------------------


def handle_tenant(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.tenant_action == "create":
            return asyncio.run(_create_tenant(args, settings))
        return asyncio.run(_list_tenants(args, settings))
    except CommandError as exc:
        return report(f"tenant {args.tenant_action}", exc)


async def _create_tenant(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name.strip()
    slug = slug_for(args.slug if args.slug is not None else name)
    if not name or not slug:
        raise CommandError("give a NAME with letters or digits (or a --slug)")
    async with open_database(settings) as sessions:
        try:
            async with unit_of_work(sessions) as session:
                for existing in await tenancy.list_tenants(session):
                    if existing.slug == slug or existing.name.casefold() == name.casefold():
                        raise CommandError(
                            f"a tenant named {existing.name!r} with slug {existing.slug!r}"
                            f" already exists (id {existing.id})"
                        )
                tenant = await tenancy.add_tenant(session, slug=slug, name=name[:200])
        except IntegrityError as exc:  # created at the same moment by someone else
            raise CommandError(f"a tenant with slug {slug!r} already exists") from exc
    if args.json:
        emit_json(_tenant_json(tenant))
    else:
        print(tenant.id)
    return 0


async def _list_tenants(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings) as sessions, sessions() as session:
        tenants = await tenancy.list_tenants(session)
    if args.json:
        for tenant in tenants:
            emit_json(_tenant_json(tenant))
    elif not tenants:
        print('no tenants yet: try `skillproof tenant create "Employer name"`')
    else:
        print_table(
            ("ID", "SLUG", "NAME", "CREATED"),
            [(t.id, t.slug, t.name, when(t.created_at) or "") for t in tenants],
        )
    return 0


def _tenant_json(tenant: Tenant) -> dict[str, object]:
    return {
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "created_at": when(tenant.created_at),
    }


# --- keys -------------------------------------------------------------------------------------


def handle_keys(args: argparse.Namespace, settings: Settings) -> int:
    actions = {"issue": _issue_key, "list": _list_keys, "revoke": _revoke_key}
    try:
        return asyncio.run(actions[args.keys_action](args, settings))
    except CommandError as exc:
        return report(f"keys {args.keys_action}", exc)


async def _issue_key(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=args.expires_days) if args.expires_days else None
    new_key = apikeys.generate(pepper=settings.secret_key.get_secret_value())
    async with open_database(settings) as sessions:
        tenant = await find_tenant(sessions, args.tenant)
        async with unit_of_work(sessions) as session:
            key = await tenancy.add_api_key(
                session,
                tenant_id=tenant.id,
                name=args.name[:200],
                prefix=new_key.prefix,
                key_hash=new_key.key_hash,
                role=args.role,
                expires_at=expires_at,
            )
            await audit.append(
                session,
                tenant_id=tenant.id,
                actor=CLI_ACTOR,
                action="issue_api_key",
                object_type="api_key",
                object_id=key.id,
                details={"prefix": key.prefix, "role": key.role, "expires_at": when(expires_at)},
                at=now,
            )
    if args.json:
        emit_json({**_key_json(key), "key": new_key.token})
    else:
        print(f"issued {key.role} key {key.id} ({key.prefix}...) for tenant {tenant.slug},")
        print(f"expires {when(expires_at) or 'never'}. Store it now: it will not be shown again.")
        print(new_key.token)
    return 0


async def _list_keys(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings) as sessions:
        tenant = await find_tenant(sessions, args.tenant)
        async with sessions() as session:
            keys = await tenancy.list_api_keys(session, tenant_id=tenant.id)
    if args.json:
        for key in keys:
            emit_json(_key_json(key))
    elif not keys:
        print(f"tenant {tenant.slug} has no API keys: try `skillproof keys issue --tenant ...`")
    else:
        print_table(
            ("ID", "PREFIX", "ROLE", "NAME", "CREATED", "EXPIRES", "REVOKED"),
            [
                (
                    k.id,
                    k.prefix,
                    k.role,
                    k.name,
                    when(k.created_at) or "",
                    when(k.expires_at) or "never",
                    when(k.revoked_at) or "",
                )
                for k in keys
            ],
        )
    return 0


async def _revoke_key(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    async with open_database(settings) as sessions:
        tenant = await find_tenant(sessions, args.tenant)
        async with unit_of_work(sessions) as session:
            key = await tenancy.api_key_by_id(session, args.key_id)
            if key is None or key.tenant_id != tenant.id:
                # Another tenant's key reads as missing: the id alone reveals nothing.
                raise CommandError(f"tenant {tenant.slug} has no API key {args.key_id!r}")
            already = key.revoked_at is not None
            if not already:
                key.revoked_at = now
                session.add(key)
                await audit.append(
                    session,
                    tenant_id=tenant.id,
                    actor=CLI_ACTOR,
                    action="revoke_api_key",
                    object_type="api_key",
                    object_id=key.id,
                    details={"prefix": key.prefix},
                    at=now,
                )
    if args.json:
        emit_json(_key_json(key))
    elif already:
        print(f"key {key.id} ({key.prefix}...) was already revoked at {when(key.revoked_at)}")
    else:
        print(f"revoked key {key.id} ({key.prefix}...) and the sessions opened with it")
    return 0


def _key_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "tenant_id": key.tenant_id,
        "prefix": key.prefix,
        "role": key.role,
        "name": key.name,
        "created_at": when(key.created_at),
        "expires_at": when(key.expires_at),
        "revoked_at": when(key.revoked_at),
    }
