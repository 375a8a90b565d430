"""Loaded taxonomies with their search indexes, built once per process and shared.

A taxonomy stored in the database (imported ESCO, O*NET, a tenant's own) is loaded the first
time it is asked for and kept, keyed by the stored version's id, so a re-import is picked up
and a tenant's own taxonomy never leaks to another tenant. The starter taxonomy that ships
with Skillproof is always there, even in an empty database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache

from service.db import SessionFactory
from service.mapping import SkillMapper
from taxonomies.hybrid import HybridIndex, build_searcher
from taxonomies.index import LabelIndex
from taxonomies.model import ConceptKind, Taxonomy
from taxonomies.occupations import TitleSearch

log = logging.getLogger(__name__)

STARTER = "skillproof-starter"
# How long "which stored version does this name mean" is remembered: autocomplete asks on
# every keystroke, and a re-import is still picked up within seconds.
RESOLVE_TTL_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadedTaxonomy:
    taxonomy: Taxonomy
    index: LabelIndex  # lexical: autocomplete and the mapper's first stage
    version_id: str | None = None  # the stored version; None for the bundled starter
    # The skill mapper (lexical + semantic) is built on first use: embedding every label of a
    # large taxonomy takes minutes the first time, and autocomplete never needs it.
    _mapper: list[SkillMapper] = field(default_factory=list, repr=False, compare=False)
    # Job title -> occupations, likewise built on first use.
    _titles: list[LabelIndex | HybridIndex] = field(default_factory=list, repr=False, compare=False)

    def descendants(self, concept_id: str) -> frozenset[str]:
        """Every narrower concept, transitively: evidence for any of them meets `concept_id`."""
        seen: set[str] = set()
        stack = list(self.taxonomy.narrower(concept_id))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.taxonomy.narrower(current))
        return frozenset(seen)


def _build(taxonomy: Taxonomy, version_id: str | None = None) -> LoadedTaxonomy:
    return LoadedTaxonomy(
        taxonomy=taxonomy, index=LabelIndex.build(taxonomy), version_id=version_id
    )


class TaxonomyCatalog:
    def __init__(self, *, cache_dir: Path | None = None, semantic: bool = True) -> None:
        self._cache_dir = cache_dir
        self._semantic = semantic
        self._bundled: dict[str, LoadedTaxonomy] = {}
        self._stored: dict[str, LoadedTaxonomy] = {}
        self._versions: dict[tuple[str | None, str], tuple[float, str | None]] = {}
        # Per (tenant, taxonomy version): the title search with that tenant's choices, kept
        # until a new choice arrives (embedding the choices' titles is the costly part).
        self._title_searches: LRUCache[tuple[str, str], tuple[tuple[int, object], TitleSearch]] = (
            LRUCache(maxsize=256)
        )
        self._lock = asyncio.Lock()

    def add(self, taxonomy: Taxonomy) -> LoadedTaxonomy:
        """Register a taxonomy that ships with the service (used when none is stored)."""
        loaded = _build(taxonomy)
        self._bundled[taxonomy.name] = loaded
        return loaded

    def get(self, name: str) -> LoadedTaxonomy | None:
        return self._bundled.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._bundled))

    async def resolve(
        self, sessions: SessionFactory, *, name: str, tenant_id: str | None
    ) -> LoadedTaxonomy | None:
        """The taxonomy `name` as this tenant sees it: stored (own, then shared), else bundled."""
        from service import taxonomy_store

        now = time.monotonic()
        remembered = self._versions.get((tenant_id, name))
        if remembered is not None and now - remembered[0] < RESOLVE_TTL_SECONDS:
            version_id = remembered[1]
        else:
            version_id = await taxonomy_store.current_version_id(
                sessions, name=name, tenant_id=tenant_id
            )
            self._versions[(tenant_id, name)] = (now, version_id)
        if version_id is None:
            return self._bundled.get(name)
        if (loaded := self._stored.get(version_id)) is not None:
            return loaded
        async with self._lock:
            if (loaded := self._stored.get(version_id)) is None:
                taxonomy = await taxonomy_store.load_taxonomy_by_id(
                    sessions, taxonomy_id=version_id, tenant_id=tenant_id
                )
                # Building the index of a large taxonomy takes seconds: not on the event loop.
                loaded = await asyncio.to_thread(_build, taxonomy, version_id)
                self._stored[version_id] = loaded
        return loaded

    async def mapper(self, loaded: LoadedTaxonomy) -> SkillMapper:
        """The skill mapper of a loaded taxonomy, built once (off the event loop)."""
        if loaded._mapper:
            return loaded._mapper[0]
        async with self._lock:
            if not loaded._mapper:
                loaded._mapper.append(await asyncio.to_thread(self._build_mapper, loaded))
        return loaded._mapper[0]

    async def title_search(
        self, sessions: SessionFactory, loaded: LoadedTaxonomy, *, tenant_id: str
    ) -> TitleSearch:
        """Occupations for job titles in `loaded`, informed by this tenant's earlier choices.

        The choices are read again only when a cheap stamp (count, latest) says they changed.
        """
        from service import taxonomy_store

        if not loaded._titles:
            async with self._lock:
                if not loaded._titles:
                    loaded._titles.append(await asyncio.to_thread(self._build_titles, loaded))
        version_id = loaded.version_id
        if version_id is None:  # the bundled starter: nothing stored, nothing chosen
            stamp: tuple[int, object] = (0, None)
        else:
            stamp = await taxonomy_store.occupation_choices_stamp(
                sessions, tenant_id=tenant_id, taxonomy_id=version_id
            )
        key = (tenant_id, version_id or loaded.taxonomy.key)
        cached = self._title_searches.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        choices = (
            await taxonomy_store.occupation_choices(
                sessions, tenant_id=tenant_id, taxonomy_id=version_id
            )
            if version_id is not None
            else []
        )
        search = await asyncio.to_thread(TitleSearch, loaded._titles[0], choices)
        self._title_searches[key] = (stamp, search)
        return search

    def _build_titles(self, loaded: LoadedTaxonomy) -> LabelIndex | HybridIndex:
        lexical = LabelIndex.build(loaded.taxonomy, kinds={ConceptKind.OCCUPATION})
        searcher, notice = build_searcher(
            lexical,
            loaded.taxonomy,
            cache_dir=self._cache_dir,
            semantic=self._semantic,
            profile="titles",
        )
        if notice:
            log.warning("title search for %s is lexical only: %s", loaded.taxonomy.key, notice)
        return searcher

    def _build_mapper(self, loaded: LoadedTaxonomy) -> SkillMapper:
        searcher, notice = build_searcher(
            loaded.index, loaded.taxonomy, cache_dir=self._cache_dir, semantic=self._semantic
        )
        mapper = SkillMapper(loaded.taxonomy, searcher=searcher)
        mapper.notice = notice
        if notice:
            log.warning("skill mapping for %s is lexical only: %s", loaded.taxonomy.key, notice)
        return mapper

    @classmethod
    def with_starter(
        cls, *, cache_dir: Path | None = None, semantic: bool = True
    ) -> TaxonomyCatalog:
        from taxonomies import starter

        catalog = cls(cache_dir=cache_dir, semantic=semantic)
        catalog.add(starter.load())
        return catalog
