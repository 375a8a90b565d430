"""The connectors package's public surface and its one-way dependency rule."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import connectors
import connectors.base
import connectors.errors

PACKAGE = Path(connectors.__file__).parent


def test_exported_members_match_all() -> None:
    public = {
        name
        for name, value in vars(connectors).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name != "annotations"  # from __future__
    }
    assert public == set(connectors.__all__), "connectors/__init__ exports exactly __all__"


def test_every_name_in_all_exists() -> None:
    for module in (connectors, connectors.base, connectors.errors):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"{module.__name__}.__all__ names missing objects: {missing}"


def test_connectors_import_nothing_from_service() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.relative_to(PACKAGE)}: {n}" for n in names if n.split(".")[0] == "service"
            ]
    assert offenders == [], f"connectors must not import service: {offenders}"


def test_error_tree() -> None:
    from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError

    for cls in (TransientError, AuthError, PermanentError):
        assert issubclass(cls, ConnectorError)
    assert not issubclass(TransientError, PermanentError)
