"""Loopback stand-ins for the internet: fake DNS, a throwaway CA, HTTPS fakes and a static site.

Production URLs carry no port (https://issuer.example/badge). `FakeResolver` answers a mapped
name with 127.0.0.1 *and the fake's port*: aiohttp's TCPConnector connects to the port the
resolver returns, so real https URLs reach a fake on a random loopback port without root.

Typical use::

    async with FakeNetwork() as net:
        site = StaticSite({"/badge": (b"{}", "application/json")})
        await net.serve(site.app(), "issuer.example")
        async with net.fetcher() as fetcher:        # loopback allowed, fake CA trusted
            doc = await fetcher.fetch("https://issuer.example/badge")
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import socket
import ssl
import tempfile
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.fetch import FetchPolicy, GuardedFetcher

LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- DNS


class FakeResolver(AbstractResolver):
    """Answers only the names it was given; anything else fails like NXDOMAIN, never real DNS."""

    def __init__(self, hosts: Mapping[str, int | tuple[str, int]] | None = None) -> None:
        self._hosts: dict[str, list[tuple[str, int]]] = {}
        self.lookups: list[str] = []
        for name, target in (hosts or {}).items():
            if isinstance(target, int):
                self.add(name, target)
            else:
                self.add(name, target[1], address=target[0])

    def add(
        self, name: str, port: int, *, address: str = LOOPBACK, also: Iterable[str] = ()
    ) -> None:
        """Map `name` to address:port, plus `also` addresses (a multi-address answer).

        Port 0 keeps the port from the URL.
        """
        answers = [(address, port), *((extra, port) for extra in also)]
        self._hosts[name.lower().rstrip(".")] = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        try:
            answers = self._hosts[host.lower().rstrip(".")]
        except KeyError:
            raise OSError(socket.EAI_NONAME, f"fake DNS has no entry for {host}") from None
        return [
            {
                "hostname": host,
                "host": address,
                "port": mapped_port or port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address, mapped_port in answers
        ]

    async def close(self) -> None:
        return None


# --------------------------------------------------------------------------- TLS


class FakeCA:
    """A throwaway certificate authority made at test time; nothing is written to the repo."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Skillproof test CA")])
        now = dt.datetime.now(dt.UTC)
        self._name = name
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA."""
        pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=pem)

    def server_context(self, hostnames: Iterable[str]) -> ssl.SSLContext:
        """A server context with a certificate for `hostnames` and 127.0.0.1."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = list(dict.fromkeys(hostnames))
        alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
        alt_names.append(x509.IPAddress(ipaddress.ip_address(LOOPBACK)))
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else LOOPBACK)]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # ssl can only load a chain from files: write them to a private temporary folder.
        with tempfile.TemporaryDirectory() as folder:
            cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            context.load_cert_chain(cert_path, key_path)
        return context


def make_tls_pair(hostnames: Iterable[str]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) for a fresh CA and a certificate for `hostnames`."""
    authority = FakeCA()
    return authority.server_context(hostnames), authority.client_context()


# --------------------------------------------------------------------------- servers


@asynccontextmanager
async def serve_https(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Run `app` on 127.0.0.1 on a random port (TLS when a context is given); yields the port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=ssl_context)
    try:
        await site.start()
        address = runner.addresses[0]
        yield int(address[1])
    finally:
        await runner.cleanup()


class FakeNetwork:
    """A set of loopback HTTPS fakes behind production host names, with one CA and one resolver."""

    def __init__(self) -> None:
        self.ca = FakeCA()
        self.resolver = FakeResolver()
        self._servers: list[web.AppRunner] = []

    async def __aenter__(self) -> FakeNetwork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def serve(self, app: web.Application, *hostnames: str, tls: bool = True) -> int:
        """Start `app` on a loopback port reachable as https://<hostname>/; returns the port."""
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        self._servers.append(runner)
        ssl_context = self.ca.server_context(hostnames) if tls else None
        site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=ssl_context)
        await site.start()
        port = int(runner.addresses[0][1])
        for name in hostnames:
            self.resolver.add(name, port)
        return port

    def loopback_policy(self, **overrides: Any) -> FetchPolicy:
        """A policy exempting 127.0.0.0/8 (so fakes on random ports are reachable)."""
        overrides.setdefault("allow_networks", (ipaddress.ip_network("127.0.0.0/8"),))
        return FetchPolicy(**overrides)

    def fetcher(self, policy: FetchPolicy | None = None) -> GuardedFetcher:
        """A GuardedFetcher that resolves through the fake DNS and trusts the fake CA."""
        return GuardedFetcher(
            policy or self.loopback_policy(),
            resolver=self.resolver,
            ssl_context=self.ca.client_context(),
        )

    async def aclose(self) -> None:
        while self._servers:
            await self._servers.pop().cleanup()


# --------------------------------------------------------------------------- static site


@functools.cache
def gzipped_zeros(size: int) -> bytes:
    """`size` zero bytes as a gzip stream, built in blocks so the zeros never sit in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(min(size, 1_000_000))
    parts = [compressor.compress(block) for _ in range(size // max(len(block), 1))]
    parts.append(compressor.compress(bytes(size - len(block) * (size // max(len(block), 1)))))
    parts.append(compressor.flush())
    return b"".join(parts)


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    host: str
    headers: Mapping[str, str]


@dataclass(kw_only=True, slots=True)
class _Route:
    handler: Callable[[web.Request], Any]
    hits: int = field(default=0)


class StaticSite:
    """An aiohttp app serving fixed bytes per path, with hostile behaviours on demand.

    Every request is recorded in `requests` before it is answered, so a test can prove that
    nothing reached the site. Routes may be added after the site is serving (ports known then).
    """

    def __init__(self, files: Mapping[str, tuple[bytes, str]] | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, _Route] = {}
        for path, (body, content_type) in (files or {}).items():
            self.add(path, body, content_type)

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/json",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Serve `body` at `path` with this status, media type and extra headers."""

        async def handler(_: web.Request) -> web.StreamResponse:
            response = web.Response(body=body, status=status, headers=dict(headers or {}))
            response.content_type = content_type
            return response

        self._routes[path] = _Route(handler=handler)

    def status(self, path: str, status: int, *, headers: Mapping[str, str] | None = None) -> None:
        """Answer `path` with a bare status (410 revoked, 500, 429 with Retry-After...)."""
        self.add(path, f"{status}\n".encode(), "text/plain", status=status, headers=headers)

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Redirect `path` to `location` (absolute or relative)."""
        self.add(path, b"", "text/plain", status=status, headers={"Location": location})

    def gzip_bomb(
        self, path: str, *, size: int = 50_000_000, content_type: str = "application/json"
    ) -> None:
        """Serve `size` zero bytes gzip-compressed (about 1000:1) as Content-Encoding: gzip."""
        self.add(path, gzipped_zeros(size), content_type, headers={"Content-Encoding": "gzip"})

    def slow_drip(
        self,
        path: str,
        *,
        interval: float = 0.2,
        chunks: int = 100,
        content_type: str = "application/json",
    ) -> None:
        """Send one byte every `interval` seconds: each read is quick, the whole is very slow."""

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": content_type})
            await response.prepare(request)
            try:
                for _ in range(chunks):
                    await response.write(b" ")
                    await asyncio.sleep(interval)
            except ConnectionError:
                pass  # the client gave up, which is what the test wants
            return response

        self._routes[path] = _Route(handler=handler)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                host=request.host,
                headers=dict(request.headers),
            )
        )
        route = self._routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found\n")
        route.hits += 1
        response: web.StreamResponse = await route.handler(request)
        return response


# --------------------------------------------------------------------------- tripwire


def forbid_external_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make any socket connect to a non-loopback address fail; returns the refused addresses.

    A last line of defence for SSRF tests: should the guard under test fail, the attempt is
    stopped here instead of sending packets to a private or public address.
    """
    refused: list[Any] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def outside_loopback(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        try:
            parsed = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        except ValueError:
            return True
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        return not parsed.is_loopback

    def connect(sock: socket.socket, address: Any) -> None:
        if outside_loopback(sock, address):
            refused.append(address)
            raise ConnectionRefusedError(f"test tripwire: no traffic to {address!r}")
        original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if outside_loopback(sock, address):
            refused.append(address)
            raise ConnectionRefusedError(f"test tripwire: no traffic to {address!r}")
        return original_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return refused
