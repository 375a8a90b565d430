"""Loaded taxonomies with their search indexes, built once per process and shared."""

from __future__ import annotations

from dataclasses import dataclass

from taxonomies.index import LabelIndex
from taxonomies.model import Taxonomy

STARTER = "skillproof-starter"


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadedTaxonomy:
    taxonomy: Taxonomy
    index: LabelIndex

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


class TaxonomyCatalog:
    def __init__(self) -> None:
        self._loaded: dict[str, LoadedTaxonomy] = {}

    def add(self, taxonomy: Taxonomy) -> LoadedTaxonomy:
        loaded = LoadedTaxonomy(taxonomy=taxonomy, index=LabelIndex.build(taxonomy))
        self._loaded[taxonomy.name] = loaded
        return loaded

    def get(self, name: str) -> LoadedTaxonomy | None:
        return self._loaded.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._loaded))

    @classmethod
    def with_starter(cls) -> TaxonomyCatalog:
        from taxonomies import starter

        catalog = cls()
        catalog.add(starter.load())
        return catalog
