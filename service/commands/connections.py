"""`skillproof connections add|list|disable`: a tenant's ATS connections, secrets sealed.

    printf %s "$ATS_KEY" | skillproof connections add --tenant acme --kind KIND --base-url URL
    skillproof connections add --tenant acme --kind KIND --base-url URL --secret-env ATS_KEY
    skillproof connections list --tenant acme [--json]
    skillproof connections disable CONNECTION_ID --tenant acme

The ATS API key never comes from the command line, where `ps` shows it to every user of the
host: it is read from stdin (without echo on a terminal) or from the environment variable that
--secret-env names, and stored sealed with AES-GCM, bound to the tenant and the connection.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit

from connectors.registry import kinds
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
from service.models import Connection
from service.repositories import audit, tenancy
from service.security.secrets import SecretBox
from service.settings import Settings

ATS = "ats"
# The name the ATS connectors read their key under (ConnectorConfig.secrets).
SECRET_NAME = "api_key"  # noqa: S105 - a key name, not a secret


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "connections", help="add, list and disable a tenant's ATS connections"
    )
    actions = parser.add_subparsers(dest="connections_action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="connect an ATS; its API key is read from stdin or --secret-env, never argv"
    )
    _tenant_option(add)
    add.add_argument("--kind", required=True, choices=kinds(), help="which ATS connector")
    add.add_argument("--base-url", required=True, metavar="URL", help="the ATS API's base URL")
    add.add_argument("--name", help="a label for the connection (default: the kind)")
    add.add_argument(
        "--secret-env",
        metavar="VAR",
        help="read the ATS API key from this environment variable instead of stdin",
    )
    add.add_argument("--json", action="store_true", help="print one JSON object")
    listing = actions.add_parser("list", help="show the tenant's connections (no secrets)")
    _tenant_option(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    disable = actions.add_parser("disable", help="stop syncing and pushing through a connection")
    disable.add_argument("connection_id", metavar="ID", help="the connection's id")
    _tenant_option(disable)
    disable.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handler)


def _tenant_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, metavar="T", help="the tenant's slug or id")


def handler(args: argparse.Namespace, settings: Settings) -> int:
    actions = {"add": _add, "list": _list, "disable": _disable}
    try:
        return asyncio.run(actions[args.connections_action](args, settings))
    except CommandError as exc:
        return report(f"connections {args.connections_action}", exc)


def read_secret(env_var: str | None) -> str:
    """The ATS API key from the named environment variable, else from stdin; never empty."""
    if env_var is not None:
        secret = os.environ.get(env_var, "").strip()
        if not secret:
            raise CommandError(f"the environment variable {env_var} is not set or is empty")
        return secret
    if sys.stdin.isatty():
        secret = getpass.getpass("ATS API key (not echoed): ").strip()
    else:
        secret = sys.stdin.read().strip()
    if not secret:
        raise CommandError("no ATS API key on stdin: pipe it in, or name a variable --secret-env")
    return secret


def _base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise CommandError(f"--base-url must be an http(s) URL, not {value!r}")
    if parts.username or parts.password:
        raise CommandError("--base-url must not carry credentials: pass the key on stdin")
    return value.strip().rstrip("/")


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    base_url = _base_url(args.base_url)
    secret = read_secret(args.secret_env)
    box = SecretBox([settings.secret_key.get_secret_value()])
    now = datetime.now(UTC)
    async with open_database(settings) as sessions:
        tenant = await find_tenant(sessions, args.tenant)
        async with unit_of_work(sessions) as session:
            connection = await tenancy.add_connection(
                session,
                Connection(
                    tenant_id=tenant.id,
                    kind=ATS,
                    provider=args.kind,
                    name=(args.name or args.kind)[:200],
                    base_url=base_url,
                ),
            )
            # Sealed once the row has its id: the ciphertext is bound to tenant and connection.
            connection.secret_ciphertext, connection.secret_key_id = box.seal(
                {SECRET_NAME: secret}, tenant_id=tenant.id, connection_id=connection.id
            )
            session.add(connection)
            await audit.append(
                session,
                tenant_id=tenant.id,
                actor=CLI_ACTOR,
                action="add_connection",
                object_type="connection",
                object_id=connection.id,
                details={"provider": connection.provider, "base_url": connection.base_url},
                at=now,
            )
    if args.json:
        emit_json(_connection_json(connection))
    else:
        print(connection.id)
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings) as sessions:
        tenant = await find_tenant(sessions, args.tenant)
        async with sessions() as session:
            connections = await tenancy.list_connections(session, tenant_id=tenant.id)
    if args.json:
        for connection in connections:
            emit_json(_connection_json(connection))
    elif not connections:
        print(f"tenant {tenant.slug} has no connections: try `skillproof connections add ...`")
    else:
        print_table(
            ("ID", "KIND", "PROVIDER", "NAME", "BASE URL", "ENABLED", "STATUS", "CREATED"),
            [
                (
                    c.id,
                    c.kind,
                    c.provider,
                    c.name,
                    c.base_url,
                    "yes" if c.enabled else "no",
                    c.status,
                    when(c.created_at) or "",
                )
                for c in connections
            ],
        )
    return 0


async def _disable(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings) as sessions:
        tenant = await find_tenant(sessions, args.tenant)
        async with unit_of_work(sessions) as session:
            connection = await tenancy.get_connection(
                session, tenant_id=tenant.id, connection_id=args.connection_id
            )
            if connection is None:
                raise CommandError(f"tenant {tenant.slug} has no connection {args.connection_id!r}")
            changed = connection.enabled
            if changed:
                connection.enabled = False
                session.add(connection)
                await audit.append(
                    session,
                    tenant_id=tenant.id,
                    actor=CLI_ACTOR,
                    action="disable_connection",
                    object_type="connection",
                    object_id=connection.id,
                    details={"provider": connection.provider},
                    at=datetime.now(UTC),
                )
    if args.json:
        emit_json(_connection_json(connection))
    else:
        verb = "disabled" if changed else "was already disabled:"
        print(f"{verb} connection {connection.id} ({connection.provider}, {connection.base_url})")
    return 0


def _connection_json(connection: Connection) -> dict[str, object]:
    return {
        "id": connection.id,
        "tenant_id": connection.tenant_id,
        "kind": connection.kind,
        "provider": connection.provider,
        "name": connection.name,
        "base_url": connection.base_url,
        "enabled": connection.enabled,
        "status": connection.status,
        "created_at": when(connection.created_at),
    }
