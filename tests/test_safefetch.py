"""allsang.safefetch against a real local HTTP server (pytest-httpserver)."""

from __future__ import annotations

import ipaddress
import ssl
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.safefetch import (
    BlockedURL,
    FetchFailed,
    FetchTimeout,
    TooLarge,
    TooManyRedirects,
    UnsupportedType,
    address_allowed,
    fetch,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _path() -> str:
    return f"/{uuid.uuid4().hex}"


async def _fetch(url: str, **kwargs: object) -> object:
    options: dict[str, object] = {
        "max_bytes": 1000,
        "allowed_types": IMAGES,
        "timeout": 5.0,
        "allow_private_networks": True,
    }
    options.update(kwargs)
    return await fetch(url, **options)  # type: ignore[arg-type]


def _requests_to(httpserver: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == path)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.1.1.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
    ],
)
def test_it_refuses_every_non_public_address_by_default(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_it_allows_public_addresses(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fc00::1"])
def test_the_private_network_setting_allows_private_and_loopback_addresses(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private_networks=True)


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "::ffff:169.254.169.254"]
)
def test_link_local_multicast_and_unspecified_stay_refused_with_the_setting(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), allow_private_networks=True)


async def test_it_fetches_an_image_and_reports_the_type_its_bytes_show(
    httpserver: HTTPServer,
) -> None:
    path = _path()
    # Declared as JPEG, but the bytes are a PNG: the identified type is the one reported.
    httpserver.expect_request(path).respond_with_data(PNG, content_type="image/jpeg")
    fetched = await _fetch(httpserver.url_for(path))
    assert fetched.content == PNG  # type: ignore[attr-defined]
    assert fetched.content_type == "image/png"  # type: ignore[attr-defined]


async def test_it_refuses_a_loopback_server_without_the_setting_and_never_connects(
    httpserver: HTTPServer,
) -> None:
    path = _path()
    httpserver.expect_request(path).respond_with_data(PNG, content_type="image/png")
    with pytest.raises(BlockedURL, match="non-public"):
        await _fetch(httpserver.url_for(path), allow_private_networks=False)
    with pytest.raises(BlockedURL, match="non-public"):
        await _fetch(
            httpserver.url_for(path).replace("127.0.0.1", "localhost"),
            allow_private_networks=False,
        )
    assert _requests_to(httpserver, path) == 0


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://example.org/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "gopher://127.0.0.1:70/",
        "http://user:secret@example.org/a.png",
        "not a url at all",
        "http://[::1",
    ],
)
async def test_it_refuses_other_schemes_user_info_and_malformed_addresses(url: str) -> None:
    with pytest.raises(BlockedURL):
        await _fetch(url)


async def test_it_follows_a_redirect_and_checks_the_target_again(httpserver: HTTPServer) -> None:
    start, target = _path(), _path()
    httpserver.expect_request(start).respond_with_data("", status=302, headers={"Location": target})
    httpserver.expect_request(target).respond_with_data(PNG, content_type="image/png")
    fetched = await _fetch(httpserver.url_for(start))
    assert fetched.url.endswith(target)  # type: ignore[attr-defined]

    metadata = _path()
    httpserver.expect_request(metadata).respond_with_data(
        "", status=301, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(BlockedURL, match=r"169\.254\.169\.254"):
        await _fetch(httpserver.url_for(metadata))

    to_file = _path()
    httpserver.expect_request(to_file).respond_with_data(
        "", status=307, headers={"Location": "file:///etc/passwd"}
    )
    with pytest.raises(BlockedURL, match="scheme"):
        await _fetch(httpserver.url_for(to_file))


async def test_it_stops_after_the_allowed_number_of_redirects(httpserver: HTTPServer) -> None:
    path = _path()
    httpserver.expect_request(path).respond_with_data("", status=302, headers={"Location": path})
    with pytest.raises(TooManyRedirects):
        await _fetch(httpserver.url_for(path), max_redirects=3)
    assert _requests_to(httpserver, path) == 4


async def test_it_refuses_a_body_larger_than_the_limit_declared_or_streamed(
    httpserver: HTTPServer,
) -> None:
    declared = _path()
    httpserver.expect_request(declared).respond_with_data(
        PNG + b"\x00" * 2000, content_type="image/png"
    )
    with pytest.raises(TooLarge):
        await _fetch(httpserver.url_for(declared))

    streamed = _path()
    stopped = threading.Event()

    def endless(request: Request) -> Response:
        def chunks():  # type: ignore[no-untyped-def]
            yield PNG
            while not stopped.is_set():
                yield b"\x00" * 1000

        return Response(chunks(), content_type="image/png")  # no Content-Length

    httpserver.expect_request(streamed).respond_with_handler(endless)
    try:
        # A fetch that read to the end would never finish and end in FetchTimeout instead.
        with pytest.raises(TooLarge):
            await _fetch(httpserver.url_for(streamed))
    finally:
        stopped.set()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><script>alert(1)</script></html>"),
        ("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'),
        ("image/png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'),
        ("image/png", b"<html>not an image</html>"),
        ("", PNG),
    ],
)
async def test_it_refuses_types_not_allowed_and_images_whose_bytes_are_not_images(
    httpserver: HTTPServer, content_type: str, body: bytes
) -> None:
    path = _path()
    httpserver.expect_request(path).respond_with_data(body, content_type=content_type or None)
    with pytest.raises(UnsupportedType):
        await _fetch(httpserver.url_for(path))


async def test_allowed_types_accept_a_wildcard_and_text_keeps_its_charset(
    httpserver: HTTPServer,
) -> None:
    path = _path()
    httpserver.expect_request(path).respond_with_data(
        "<title>Blåbär</title>".encode("iso-8859-1"),
        content_type="text/html; charset=ISO-8859-1",
    )
    fetched = await _fetch(httpserver.url_for(path), allowed_types=("text/*",))
    assert fetched.content_type == "text/html"  # type: ignore[attr-defined]
    assert fetched.text == "<title>Blåbär</title>"  # type: ignore[attr-defined]


async def test_error_statuses_and_slow_servers_are_typed_errors(httpserver: HTTPServer) -> None:
    missing = _path()
    httpserver.expect_request(missing).respond_with_data("gone", status=404)
    with pytest.raises(FetchFailed, match="404"):
        await _fetch(httpserver.url_for(missing))

    slow = _path()
    released = threading.Event()

    def stall(request: Request) -> Response:
        def chunks():  # type: ignore[no-untyped-def]
            yield PNG
            released.wait(10)
            yield b"\x00"

        return Response(chunks(), content_type="image/png")

    httpserver.expect_request(slow).respond_with_handler(stall)
    try:
        with pytest.raises(FetchTimeout):
            await _fetch(httpserver.url_for(slow), timeout=0.3)
    finally:
        released.set()


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for ``name``: (cert file, key file, PEM to trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem


@pytest.mark.parametrize("certified", ["localhost", "other.test"])
async def test_https_checks_the_certificate_against_the_host_name_not_the_pinned_address(
    tmp_path: Path, certified: str
) -> None:
    cert_file, key_file, pem = _certificate(tmp_path, certified)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    server = HTTPServer(host="127.0.0.1", ssl_context=server_context)
    server.expect_request("/logo.png").respond_with_data(PNG, content_type="image/png")
    server.start()
    try:
        url = f"https://localhost:{server.port}/logo.png"
        trust = ssl.create_default_context(cadata=pem.decode())
        if certified == "localhost":
            fetched = await _fetch(url, verify=trust)
            assert fetched.content == PNG  # type: ignore[attr-defined]
        else:
            with pytest.raises(FetchFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await _fetch(url, verify=trust)
    finally:
        server.clear()
        server.stop()
