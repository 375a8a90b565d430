"""The process-wide objects every role needs, opened once and closed together.

The web app keeps one Runtime under an AppKey (created in cleanup_ctx); the scheduler and the
CLI open their own. Tests inject a fetcher (loopback resolver, test TLS) and an HTTP session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import AtsConnector, ConnectorConfig
from connectors.registry import get_factory
from service.catalog import TaxonomyCatalog
from service.db import SessionFactory, create_engine, session_factory
from service.fetch import FetchPolicy, GuardedFetcher
from service.models import Connection
from service.security.links import LinkSigner
from service.security.secrets import SecretBox
from service.settings import Settings
from service.verify import Verifier
from service.verify.contexts import ContextStore


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    fetcher: GuardedFetcher
    verifier: Verifier
    catalog: TaxonomyCatalog
    links: LinkSigner
    secrets: SecretBox
    http: aiohttp.ClientSession  # for connectors: trusted, configured base URLs only

    def connector_for(self, connection: Connection) -> AtsConnector:
        """Build the connector for a stored connection, with its secrets decrypted."""
        secrets: dict[str, str] = {}
        if connection.secret_ciphertext is not None and connection.secret_key_id is not None:
            secrets = self.secrets.open(
                connection.secret_ciphertext,
                key_id=connection.secret_key_id,
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
            )
        factory = get_factory(connection.provider)
        config = ConnectorConfig(
            base_url=connection.base_url, secrets=secrets, options=dict(connection.options)
        )
        connector = factory(config, self.http)
        assert isinstance(connector, AtsConnector)  # noqa: S101 - registry contract
        return connector


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    fetcher: GuardedFetcher | None = None,
    http: aiohttp.ClientSession | None = None,
    catalog: TaxonomyCatalog | None = None,
) -> AsyncIterator[Runtime]:
    engine = create_engine(settings.database_url)
    own_fetcher = fetcher is None
    own_http = http is None
    fetcher = fetcher or GuardedFetcher(FetchPolicy.from_settings(settings))
    http = http or aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30, sock_connect=5), trust_env=False
    )
    secret = settings.secret_key.get_secret_value()
    try:
        yield Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            fetcher=fetcher,
            verifier=Verifier(
                contexts=ContextStore.from_settings(settings),
                fetcher=fetcher,
                status_stale_if_error=settings.status_stale_if_error_seconds,
            ),
            catalog=catalog
            or TaxonomyCatalog.with_starter(
                cache_dir=settings.cache_path / "embeddings", semantic=settings.semantic_mapping
            ),
            links=LinkSigner([secret]),
            secrets=SecretBox([secret]),
            http=http,
        )
    finally:
        if own_http:
            await http.close()
        if own_fetcher:
            await fetcher.aclose()
        await engine.dispose()
