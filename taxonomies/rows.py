"""Delimited source files read strictly: a row cut short or a quote left open is an error.

csv's defaults forgive both: an unterminated quote swallows every following row into one
field, and a file cut mid-row gives a short last row. Either would import a partial release
as if complete, and a re-import would then retire the concepts it lost.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, TextIO

from taxonomies.errors import TaxonomySourceError
from taxonomies.progress import Progress, counted


class StrictRows:
    """The rows of one delimited file as dicts; raises TaxonomySourceError on a malformed row."""

    def __init__(
        self,
        handle: TextIO,
        path: Path,
        *,
        delimiter: str = ",",
        quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
    ) -> None:
        self._path = path
        self._reader = csv.DictReader(handle, delimiter=delimiter, quoting=quoting, strict=True)
        try:
            self.fieldnames: list[str] = list(self._reader.fieldnames or ())
        except csv.Error as exc:
            raise self._error(str(exc)) from exc

    def __iter__(self) -> Iterator[dict[str, str]]:
        width = len(self.fieldnames)
        try:
            for row in self._reader:
                if None in row or any(value is None for value in row.values()):
                    raise self._error(
                        f"the row does not have the header's {width} fields: the file is cut"
                        " short or malformed"
                    )
                yield row
        except csv.Error as exc:
            raise self._error(f"{exc}: the file is cut short or malformed") from exc

    def _error(self, detail: str) -> TaxonomySourceError:
        return TaxonomySourceError(f"{self._path}: line {self._reader.line_num}: {detail}")


def read_rows(
    path: Path,
    stage: str,
    progress: Progress,
    *,
    delimiter: str = ",",
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
) -> Iterator[dict[str, str]]:
    """Stream a UTF-8 (BOM or not) delimited file strictly, counting rows into `progress`."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from counted(
            StrictRows(handle, path, delimiter=delimiter, quoting=quoting), stage, progress
        )
