"""The pages' static files, read once from service/web/static and served under versioned URLs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

# Chosen here rather than guessed from the system's MIME table: with `nosniff`, a browser drops
# a stylesheet whose type is not exactly text/css, and the pages would lose every style.
CONTENT_TYPES = {".css": "text/css"}

# A URL carries its file's digest (`?v=`), so a changed file is a new URL: the browser may keep
# what it fetched for a year. Without the current digest it must ask again each time.
CACHE_FOREVER = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"


@dataclass(frozen=True, kw_only=True, slots=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    digest: str

    @property
    def url(self) -> str:
        return f"/static/{self.name}?v={self.digest}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Assets:
    """Every static file by name; templates link them with `asset_url(name)`."""

    by_name: Mapping[str, Asset]

    @classmethod
    def load(cls) -> Assets:
        folder = resources.files("service.web") / "static"
        found = {}
        for entry in folder.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if not entry.is_file() or suffix not in CONTENT_TYPES:
                continue
            body = entry.read_bytes()
            found[entry.name] = Asset(
                name=entry.name,
                body=body,
                content_type=CONTENT_TYPES[suffix],
                digest=hashlib.sha256(body).hexdigest()[:16],
            )
        return cls(by_name=found)

    def get(self, name: str) -> Asset | None:
        return self.by_name.get(name)

    def url(self, name: str) -> str:
        """The versioned URL of a file; a misspelt name fails the render rather than link a 404."""
        return self.by_name[name].url
