"""The pinned context store: contexts come only from pins, never from the network at verify time."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pyld import BUNDLED_CONTEXTS, jsonld

from service.commands import contexts as contexts_command
from service.fetch import FetchPolicy
from service.settings import Settings
from service.verify.contexts import (
    MANIFEST,
    ContextStore,
    DocumentKind,
    Pin,
    PinMismatch,
    Pins,
    SyncOutcome,
    UnknownContext,
    load_pins,
    sync_from_mirror,
    sync_from_network,
)
from tests.fakes.network import FakeNetwork, StaticSite

OB3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
VC2 = "https://www.w3.org/ns/credentials/v2"
DI2 = "https://w3id.org/security/data-integrity/v2"
OB3_VECTOR = "1edtech-openbadges-specification/derived/ob3-ldp-test-vector.signed.json"
OB3_CANON = "1edtech-openbadges-specification/ob_v3p0/impl/test-vectors/obv3p0/document-canon.txt"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any DNS lookup or socket connect is recorded and fails: proves nothing was fetched."""
    attempts: list[object] = []

    def refuse(*args: Any, **_: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.fixture
def mirror(vendor_data: Path) -> Path:
    return vendor_data / "credentials"


@pytest.fixture
def synced(tmp_path: Path, mirror: Path) -> Path:
    store_dir = tmp_path / "contexts"
    report = sync_from_mirror(store_dir, mirror)
    assert report.ok, [e for e in report.entries if e.outcome is not SyncOutcome.STORED]
    return store_dir


def _copy_mirror(mirror: Path, destination: Path) -> Path:
    """A private copy of the mirror's context files (under tmp_path), to tamper with."""
    context_map = json.loads((mirror / "context-map.json").read_text())
    for entry in context_map["contexts"].values():
        target = destination / entry["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / entry["file"], target)
    (destination / "context-map.json").write_text(json.dumps(context_map))
    return destination


def _file_for(mirror: Path, url: str) -> Path:
    context_map = json.loads((mirror / "context-map.json").read_text())
    return mirror / context_map["contexts"][url]["file"]


# --------------------------------------------------------------------------- pins


def test_pins_cover_the_credential_contexts() -> None:
    contexts = load_pins()[DocumentKind.CONTEXT]
    for url in (VC2, OB3, DI2, "https://w3id.org/openbadges/v2", "https://w3id.org/dcc/v1"):
        assert url in contexts, f"{url} must be pinned for the vendor credentials to verify"
    assert load_pins()[DocumentKind.SCHEMA] == {}, "no schema pin is known yet"


def test_pyld_bundle_matches_the_pins() -> None:
    contexts = load_pins()[DocumentKind.CONTEXT]
    for url, path in BUNDLED_CONTEXTS.items():
        if url in contexts:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            assert digest in contexts[url].sha256, f"pyld's {url} changed: re-pin or sync it"


@pytest.mark.vendor_data
def test_every_pinned_byte_form_is_the_same_document(mirror: Path) -> None:
    """Where a URL has two pins (pyld's copy, the published copy), both parse to the same JSON."""
    contexts = load_pins()[DocumentKind.CONTEXT]
    for url, pin in contexts.items():
        if len(pin.sha256) > 1:
            bundled = json.loads(Path(BUNDLED_CONTEXTS[url]).read_bytes())
            assert bundled == json.loads(_file_for(mirror, url).read_bytes()), url


# --------------------------------------------------------------------------- loading


def test_bundled_contexts_load_without_any_sync(tmp_path: Path, no_network: list[object]) -> None:
    store = ContextStore(tmp_path / "empty")
    assert "@context" in store.load(VC2)
    assert store.has(VC2)
    assert VC2 in store.urls()
    assert no_network == []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/my-context.jsonld",
        "http://169.254.169.254/ctx",
        "https://127.0.0.1/ctx",
        "file:///etc/passwd",
        "https://www.w3.org/ns/credentials/v2#",  # near miss of a pinned URL
    ],
)
def test_unknown_context_is_refused_without_network(
    tmp_path: Path, no_network: list[object], url: str
) -> None:
    store = ContextStore(tmp_path / "empty")
    with pytest.raises(UnknownContext, match="not pinned"):
        store.load(url)
    with pytest.raises(jsonld.JsonLdError) as failure:
        store.document_loader()(url, {})
    assert isinstance(failure.value.__cause__, UnknownContext), "pyld error keeps the cause"
    assert not store.has(url)
    assert no_network == [], f"loading {url} touched the network: {no_network}"


def test_credential_with_unknown_context_fails_in_pyld_without_network(
    tmp_path: Path, no_network: list[object]
) -> None:
    credential = {
        "@context": [VC2, "http://169.254.169.254/latest/meta-data/ctx"],
        "type": ["VerifiableCredential"],
    }
    loader = ContextStore(tmp_path / "empty").document_loader()
    with pytest.raises(jsonld.JsonLdError):
        jsonld.expand(credential, {"documentLoader": loader})
    assert no_network == []


def test_pinned_but_not_provisioned_asks_for_sync(tmp_path: Path) -> None:
    with pytest.raises(UnknownContext, match="contexts sync"):
        ContextStore(tmp_path / "empty").load(OB3)


@pytest.mark.vendor_data
def test_load_known_context_after_sync(synced: Path, no_network: list[object]) -> None:
    store = ContextStore(synced)
    document = store.load(OB3)
    assert document["@context"]["OpenBadgeCredential"], "OB 3.0 terms are defined"
    document["@context"] = "mutated by a careless caller"
    assert isinstance(store.load(OB3)["@context"], dict), "each load returns a fresh copy"
    assert set(store.urls()) == set(load_pins()[DocumentKind.CONTEXT])
    manifest = json.loads((synced / MANIFEST).read_text())
    for url, entry in manifest.items():
        data = (synced / entry["file"]).read_bytes()
        assert entry["file"] == f"{hashlib.sha256(data).hexdigest()}.json", url
        assert {"kind", "sha256", "source", "synced_at"} <= entry.keys()
    assert no_network == []


@pytest.mark.vendor_data
def test_load_is_memoised(synced: Path) -> None:
    store = ContextStore(synced)
    store.load(OB3)
    for document in synced.glob("*.json"):
        if document.name != MANIFEST:
            document.unlink()
    assert store.load(OB3), "a verified document is kept in memory"


@pytest.mark.vendor_data
def test_tampered_store_file_is_refused_on_load(synced: Path) -> None:
    manifest = json.loads((synced / MANIFEST).read_text())
    stored = synced / manifest[OB3]["file"]
    stored.write_bytes(stored.read_bytes().replace(b"OpenBadgeCredential", b"EvilCredential", 1))
    with pytest.raises(PinMismatch, match=OB3):
        ContextStore(synced).load(OB3)
    with pytest.raises(jsonld.JsonLdError) as failure:
        ContextStore(synced).document_loader()(OB3, None)
    assert isinstance(failure.value.__cause__, PinMismatch)


@pytest.mark.vendor_data
def test_manifest_cannot_point_outside_the_store(synced: Path) -> None:
    manifest = json.loads((synced / MANIFEST).read_text())
    manifest[OB3]["sha256"] = "../../../etc/passwd"
    (synced / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(PinMismatch):
        ContextStore(synced).load(OB3)


@pytest.mark.vendor_data
def test_pyld_expands_and_canonicalises_an_ob3_credential_offline(
    synced: Path, vendor_data: Path, no_network: list[object]
) -> None:
    credentials = vendor_data / "credentials"
    credential = json.loads((credentials / OB3_VECTOR).read_text())
    credential.pop("proof")
    loader = ContextStore(synced).document_loader()
    expanded = jsonld.expand(credential, {"documentLoader": loader})
    types = expanded[0]["@type"]
    assert "https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential" in types
    canonical = jsonld.normalize(
        credential,
        {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader},
    )
    assert canonical == (credentials / OB3_CANON).read_text(), "differs from the spec vector"
    assert no_network == []


# --------------------------------------------------------------------------- sync


@pytest.mark.vendor_data
def test_sync_from_mirror_stores_what_pyld_does_not_bundle(tmp_path: Path, mirror: Path) -> None:
    report = sync_from_mirror(tmp_path / "store", mirror.parent)  # a vendor-data root works too
    assert report.ok
    assert {e.url for e in report.with_outcome(SyncOutcome.BUNDLED)} >= {VC2}
    assert OB3 in {e.url for e in report.with_outcome(SyncOutcome.STORED)}
    again = sync_from_mirror(tmp_path / "store", mirror)
    assert again.with_outcome(SyncOutcome.STORED) == (), "a second sync has nothing to do"
    assert again.ok


@pytest.mark.vendor_data
def test_tampered_mirror_file_is_refused_and_not_stored(tmp_path: Path, mirror: Path) -> None:
    copy = _copy_mirror(mirror, tmp_path / "mirror")
    tampered = _file_for(copy, OB3)
    tampered.write_bytes(
        tampered.read_bytes().replace(b'"@protected": true', b'"@protected": false')
    )
    store_dir = tmp_path / "store"
    report = sync_from_mirror(store_dir, copy)
    assert not report.ok
    assert [e.url for e in report.with_outcome(SyncOutcome.MISMATCH)] == [OB3]
    assert OB3 not in json.loads((store_dir / MANIFEST).read_text())
    bad_digest = hashlib.sha256(tampered.read_bytes()).hexdigest()
    assert not (store_dir / f"{bad_digest}.json").exists(), "refused bytes were written"
    with pytest.raises(UnknownContext):
        ContextStore(store_dir).load(OB3)


def test_schemas_use_the_same_pinned_store(tmp_path: Path) -> None:
    schema = b'{"$schema": "https://json-schema.org/draft/2019-09/schema", "type": "object"}\n'
    url = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
    pins: Pins = {
        DocumentKind.CONTEXT: {},
        DocumentKind.SCHEMA: {
            url: Pin(
                url=url,
                kind=DocumentKind.SCHEMA,
                sha256=frozenset({hashlib.sha256(schema).hexdigest()}),
                location=url,
            )
        },
    }
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "ob3.json").write_bytes(schema)
    (mirror / "context-map.json").write_text(json.dumps({"schemas": {url: {"file": "ob3.json"}}}))
    report = sync_from_mirror(tmp_path / "store", mirror, pins=pins)
    assert report.ok, report
    store = ContextStore(tmp_path / "store", pins=pins)
    assert store.load_schema(url)["type"] == "object"
    assert store.has_schema(url)
    with pytest.raises(UnknownContext):
        store.load(url)  # a schema is not a context
    with pytest.raises(UnknownContext, match="not pinned"):
        ContextStore(tmp_path / "store").load_schema(url)


# --------------------------------------------------------------------------- network sync

REDIRECTED_DI2 = "/vc-data-integrity/contexts/data-integrity/v2"


@pytest.fixture
async def publishers(mirror: Path) -> AsyncIterator[tuple[FakeNetwork, dict[str, StaticSite]]]:
    """Loopback HTTPS fakes for every context publisher, serving the mirror's bytes."""
    context_map = json.loads((mirror / "context-map.json").read_text())["contexts"]
    sites: dict[str, StaticSite] = {}
    for url, entry in context_map.items():
        pin = load_pins()[DocumentKind.CONTEXT][url]
        host, path = _split(pin.location)
        site = sites.setdefault(host, StaticSite())
        site.add(path, (mirror / entry["file"]).read_bytes(), "application/ld+json")
    # w3id.org really answers with a redirect to the publisher; follow one like it.
    sites.setdefault("w3c.github.io", StaticSite()).add(
        REDIRECTED_DI2, (_file_for(mirror, DI2)).read_bytes(), "application/json"
    )
    sites["w3id.org"].redirect(_split(DI2)[1], f"https://w3c.github.io{REDIRECTED_DI2}")
    async with FakeNetwork() as network:
        for host, site in sites.items():
            await network.serve(site.app(), host)
        yield network, sites


def _split(url: str) -> tuple[str, str]:
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    return host, "/" + path


@pytest.mark.vendor_data
async def test_sync_from_network_through_the_guarded_fetcher(
    tmp_path: Path, publishers: tuple[FakeNetwork, dict[str, StaticSite]]
) -> None:
    network, sites = publishers
    async with network.fetcher() as fetcher:
        report = await sync_from_network(tmp_path / "store", fetcher)
    assert report.ok, [e for e in report.entries if e.outcome is SyncOutcome.UNAVAILABLE]
    assert DI2 in {e.url for e in report.with_outcome(SyncOutcome.STORED)}
    assert sites["w3c.github.io"].paths == [REDIRECTED_DI2], "the redirect was followed"
    assert "/ns/credentials/v2" not in sites["www.w3.org"].paths, "bundled ones are not fetched"
    assert ContextStore(tmp_path / "store").load(OB3)


@pytest.mark.vendor_data
async def test_network_sync_refuses_altered_bytes(
    tmp_path: Path, mirror: Path, publishers: tuple[FakeNetwork, dict[str, StaticSite]]
) -> None:
    network, sites = publishers
    host, path = _split(OB3)
    sites[host].add(path, _file_for(mirror, OB3).read_bytes() + b" ", "application/ld+json")
    sites["w3id.org"].status("/dcc/v1", 404)
    async with network.fetcher() as fetcher:
        report = await sync_from_network(tmp_path / "store", fetcher)
    assert not report.ok
    assert [e.url for e in report.with_outcome(SyncOutcome.MISMATCH)] == [OB3]
    assert [e.url for e in report.with_outcome(SyncOutcome.UNAVAILABLE)] == [
        "https://w3id.org/dcc/v1"
    ]
    with pytest.raises(UnknownContext):
        ContextStore(tmp_path / "store").load(OB3)


@pytest.mark.vendor_data
async def test_network_sync_uses_the_production_guard(
    tmp_path: Path, publishers: tuple[FakeNetwork, dict[str, StaticSite]]
) -> None:
    """With the production policy the loopback fakes are refused, so nothing is stored."""
    network, sites = publishers
    async with network.fetcher(FetchPolicy()) as fetcher:
        report = await sync_from_network(tmp_path / "store", fetcher)
    assert not report.ok
    assert report.with_outcome(SyncOutcome.STORED) == ()
    assert all(site.requests == [] for site in sites.values())


# --------------------------------------------------------------------------- CLI


def _run_cli(argv: list[str], store_dir: Path) -> int:
    parser = argparse.ArgumentParser(prog="skillproof")
    contexts_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    settings = Settings(env="development", contexts_dir=store_dir)  # type: ignore[arg-type]
    result: int = args.handler(args, settings)
    return result


@pytest.mark.vendor_data
def test_cli_sync_and_list(
    tmp_path: Path, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir = tmp_path / "store"
    assert _run_cli(["contexts", "sync", "--from", str(mirror)], store_dir) == 0
    out = capsys.readouterr().out
    digest = hashlib.sha256(_file_for(mirror, OB3).read_bytes()).hexdigest()
    assert f"stored       context  {digest[:12]} {OB3}" in out
    assert _run_cli(["contexts", "list"], store_dir) == 0
    listing = capsys.readouterr().out
    assert OB3 in listing
    assert VC2 in listing
    assert "missing" not in listing


@pytest.mark.vendor_data
def test_cli_sync_fails_on_a_tampered_mirror(
    tmp_path: Path, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy_mirror(mirror, tmp_path / "mirror")
    _file_for(copy, DI2).write_bytes(b"{}")
    assert _run_cli(["contexts", "sync", "--from", str(copy)], tmp_path / "store") == 1
    captured = capsys.readouterr()
    assert "mismatch" in captured.err
    assert DI2 in captured.err


def test_cli_list_on_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["contexts", "list"], tmp_path / "store") == 0
    listing = capsys.readouterr().out
    assert "pyld" in listing, "bundled contexts are usable before any sync"
    assert "missing: run `skillproof contexts sync`" in listing


def test_cli_sync_from_a_folder_without_a_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_cli(["contexts", "sync", "--from", str(tmp_path)], tmp_path / "store") == 2
    assert "context-map.json" in capsys.readouterr().err
