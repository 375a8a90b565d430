"""Errors raised by the taxonomies package.

TaxonomyError                 anything wrong with taxonomy data
├── InvalidTaxonomyError      the data loaded but breaks an invariant (ids, references, cycles)
└── TaxonomySourceError       a source file is missing or not in the expected format
"""

from __future__ import annotations


class TaxonomyError(Exception):
    """Base class for taxonomy problems."""


class InvalidTaxonomyError(TaxonomyError):
    """The taxonomy breaks an invariant; `problems` lists every one found."""

    def __init__(self, name: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"taxonomy {name} is invalid: {shown}{more}")
        self.problems = tuple(problems)


class TaxonomySourceError(TaxonomyError):
    """A source file is missing, unreadable or lacks the columns the importer needs."""
