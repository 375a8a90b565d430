"""`skillproof taxonomy import|list`: store a taxonomy release in the database and show them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from service.db import SessionFactory, create_engine, session_factory
from service.repositories import tenancy
from service.settings import Settings
from service.taxonomy_store import (
    TaxonomySummary,
    UnstorableTaxonomy,
    import_taxonomy,
    list_taxonomies,
)
from taxonomies.errors import TaxonomyError
from taxonomies.model import Taxonomy
from taxonomies.progress import StderrProgress

FORMATS = ("esco", "onet", "lightcast", "csv", "starter")
USAGE_ERROR = 2


class CommandError(Exception):
    """Stops the command with a message for the user and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "taxonomy",
        help="import skills taxonomies (ESCO, O*NET, Lightcast, CSV, starter) and list them",
        description="Taxonomies live in the database as versions: importing the same name and"
        " version again updates it and marks concepts the release dropped as obsolete.",
    )
    actions = parser.add_subparsers(dest="taxonomy_action", required=True, metavar="ACTION")
    imports = actions.add_parser("import", help="import one release into the database")
    imports.add_argument("format", choices=FORMATS, help="the release's format")
    imports.add_argument(
        "path", nargs="?", type=Path, help="the release's folder or file (none for starter)"
    )
    imports.add_argument("--name", help="store under this name instead of the release's own")
    imports.add_argument("--version", help="store as this version instead of the release's own")
    imports.add_argument(
        "--tenant", metavar="SLUG", help="owned by this tenant (default: shared with every tenant)"
    )
    listing = actions.add_parser("list", help="show stored taxonomy versions")
    listing.add_argument(
        "--tenant", metavar="SLUG", help="also the tenant's own versions and its default"
    )
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.taxonomy_action == "list":
            return asyncio.run(_run_list(args, settings))
        return asyncio.run(_run_import(args, settings))
    except CommandError as exc:
        print(f"skillproof taxonomy {args.taxonomy_action}: {exc}", file=sys.stderr)
        return exc.code


# --- import ---------------------------------------------------------------------------------------


def find_importer(fmt: str) -> Callable[..., Taxonomy]:
    """The `load` function of taxonomies/<fmt>.py; a CommandError (exit 2) when it is missing."""
    module_name = "taxonomies.starter" if fmt == "starter" else f"taxonomies.{fmt}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    loader = getattr(module, "load", None)
    if not callable(loader):
        raise CommandError(
            f"the {fmt} importer is not available in this version of Skillproof"
            f" ({module_name.replace('.', '/')}.py has no load function yet)",
            USAGE_ERROR,
        )
    return loader  # type: ignore[no-any-return]


def read_release(
    fmt: str, path: Path | None, *, name: str | None, version: str | None, progress: Any
) -> Taxonomy:
    """Run the format's importer, passing name/version/progress where it takes them."""
    loader = find_importer(fmt)
    if fmt == "starter":
        if path is not None:
            raise CommandError(
                "the starter taxonomy ships with Skillproof: give no PATH", USAGE_ERROR
            )
        positional: tuple[Path, ...] = ()
    elif path is None:
        raise CommandError(f"give the PATH of the {fmt} release to import", USAGE_ERROR)
    elif not path.exists():
        raise CommandError(f"{path} does not exist", USAGE_ERROR)
    else:
        positional = (path,)
    accepted = inspect.signature(loader).parameters
    wanted = {"name": name, "version": version, "progress": progress}
    keywords = {key: value for key, value in wanted.items() if key in accepted and value}
    for parameter in accepted.values():
        required = parameter.default is inspect.Parameter.empty
        keyword = parameter.kind is inspect.Parameter.KEYWORD_ONLY
        if required and keyword and parameter.name not in keywords:
            option = f"--{parameter.name.replace('_', '-')}"
            raise CommandError(f"the {fmt} importer needs {option}", USAGE_ERROR)
    try:
        taxonomy = loader(*positional, **keywords)
    except (TaxonomyError, OSError, ValueError) as exc:
        raise CommandError(f"cannot read the {fmt} release: {exc}") from exc
    # Importers that take no name or version still honour --name and --version.
    new_name = name if name and "name" not in keywords else taxonomy.name
    new_version = version if version and "version" not in keywords else taxonomy.version
    if (new_name, new_version) != (taxonomy.name, taxonomy.version):
        taxonomy = dataclasses.replace(taxonomy, name=new_name, version=new_version)
    return taxonomy


async def _run_import(args: argparse.Namespace, settings: Settings) -> int:
    bar = StderrProgress()
    try:
        taxonomy = read_release(
            args.format, args.path, name=args.name, version=args.version, progress=bar
        )
        engine = create_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            tenant_id = await _tenant_id(sessions, args.tenant)

            def stored(done: int, total: int) -> None:
                bar("storing in the database", done, total)

            report = await import_taxonomy(sessions, taxonomy, tenant_id=tenant_id, progress=stored)
        except UnstorableTaxonomy as exc:
            raise CommandError(str(exc)) from exc
        except DBAPIError as exc:
            raise CommandError(_database_problem(exc)) from exc
        finally:
            await engine.dispose()
    finally:
        bar.close()
    owner = f"tenant {args.tenant}" if args.tenant else "shared"
    verb = "imported" if report.new_version else "re-imported"
    print(
        f"{verb} {report.key} ({owner}): {report.concepts:,} concepts ({report.added:,} new,"
        f" {report.updated:,} updated, {report.obsoleted:,} now obsolete),"
        f" {report.relations:,} relations, {report.role_templates:,} role templates"
        f" in {report.seconds:.1f} s"
    )
    return 0


# --- list -----------------------------------------------------------------------------------------


async def _run_list(args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        tenant_id = await _tenant_id(sessions, args.tenant)
        summaries = await list_taxonomies(sessions, tenant_id=tenant_id)
    except DBAPIError as exc:
        raise CommandError(_database_problem(exc)) from exc
    finally:
        await engine.dispose()
    if not summaries:
        print("no taxonomies stored yet: try `skillproof taxonomy import starter`")
        return 0
    for line in format_table(summaries):
        print(line)
    return 0


def format_table(summaries: list[TaxonomySummary]) -> list[str]:
    """Aligned columns: name, version, concepts, source, owner, default."""
    header = ("NAME", "VERSION", "CONCEPTS", "SOURCE", "OWNER", "DEFAULT")
    rows = [
        (
            s.name,
            s.version,
            f"{s.concept_count:,}",
            s.source if len(s.source) <= 48 else "..." + s.source[-45:],
            ("shared (shadowed)" if s.shadowed else "shared") if s.shared else "tenant",
            "yes" if s.is_default else "",
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if i == 2 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in (header, *rows)
    ]


# --- shared ---------------------------------------------------------------------------------------


async def _tenant_id(sessions: SessionFactory, slug: str | None) -> str | None:
    if slug is None:
        return None
    async with sessions() as session:
        tenant = await tenancy.tenant_by_slug(session, slug)
    if tenant is None:
        raise CommandError(f"no tenant with slug {slug!r}", USAGE_ERROR)
    return tenant.id


def _database_problem(exc: DBAPIError) -> str:
    first_line = str(exc.orig or exc).splitlines()[0]
    return f"database error: {first_line} (has `skillproof migrate` been run?)"
