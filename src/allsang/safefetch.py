"""Fetch a URL given by someone else (a post's image, a link to preview) without SSRF risk.

``fetch`` is the only way server code should download an address that came from a post, a
form or another untrusted source. Its contract:

* only ``http`` and ``https`` URLs without user info are fetched;
* the host is resolved once per hop and *every* address it resolves to must be public
  (not private, loopback, link-local, multicast, unspecified, reserved or shared address
  space; IPv4 addresses embedded in IPv6 are checked as IPv4); the connection then goes to
  the address that was checked, so a DNS answer that changes between the check and the
  connection (DNS rebinding) cannot reach another host;
* redirects are followed by hand, at most ``max_redirects`` of them, each one checked again;
* the body is streamed and the download stops as soon as it exceeds ``max_bytes``;
* the response's media type must be in ``allowed_types`` (``image/png`` or ``image/*``);
  an image is also identified by its first bytes, the identified type must be allowed too,
  and it is the type reported back (SVG is never identified as an image: it can carry
  scripts);
* the whole fetch, redirects included, ends after ``timeout`` seconds.

Every refusal is a subclass of :class:`FetchError`. ``allow_private_networks=True`` (the
setting ``fetch_allow_private_networks``) additionally allows private and loopback addresses
for intranet installs and tests; link-local (cloud metadata at 169.254.169.254), multicast,
unspecified and reserved addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Collection
from dataclasses import dataclass

import anyio
import httpx

USER_AGENT = "Allsang/0.1 (+https://allsang.example/docs/wall)"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """The URL was not fetched; the message says why in one line."""


class BlockedURL(FetchError):
    """The URL's scheme, user info, host or resolved address is not allowed."""


class TooManyRedirects(FetchError):
    """The server redirected more often than allowed."""


class TooLarge(FetchError):
    """The body is larger than ``max_bytes``."""


class UnsupportedType(FetchError):
    """The media type (declared or identified from the bytes) is not allowed."""


class FetchTimeout(FetchError):
    """The fetch, redirects included, took longer than ``timeout``."""


class FetchFailed(FetchError):
    """The server could not be reached or answered with an error status."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A downloaded body. ``content_type`` is the bare media type (identified for images)."""

    url: str
    content_type: str
    content: bytes
    charset: str | None = None

    @property
    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 when none or unknown)."""
        try:
            return self.content.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: IPAddress, *, allow_private_networks: bool = False) -> bool:
    """Whether a connection to ``address`` is allowed under the policy in the module doc."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not address_allowed(
            embedded, allow_private_networks=allow_private_networks
        ):
            return False
    if address.is_loopback:  # checked first: Python counts ::1 as reserved (::/8)
        return allow_private_networks
    if (
        address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    ):
        return False
    if address.is_global:
        return True
    return allow_private_networks and (address.is_private or address in _SHARED_SPACE)


_SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchFailed(f"cannot resolve {host}: {exc}") from None
    # Strip an IPv6 scope id ("fe80::1%eth0"); it is link-local and refused anyway.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def _checked_addresses(url: httpx.URL, allow_private_networks: bool) -> list[IPAddress]:
    if url.scheme not in ("http", "https"):
        raise BlockedURL(f"scheme {url.scheme or '(none)'!r} is not fetched")
    if url.userinfo:
        raise BlockedURL("addresses with user info are not fetched")
    if not url.host:
        raise BlockedURL("the address has no host")
    addresses = await _resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
    if not addresses:
        raise FetchFailed(f"{url.host} has no address")
    refused = [
        a
        for a in addresses
        if not address_allowed(a, allow_private_networks=allow_private_networks)
    ]
    if refused:
        raise BlockedURL(f"{url.host} resolves to a non-public address ({refused[0]})")
    return list(dict.fromkeys(addresses))


def _media_type(header: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in header.split(";")]
    charset = None
    for param in parts[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value:
            charset = value.strip().strip('"').lower()
    return parts[0].lower(), charset


def type_allowed(media_type: str, allowed_types: Collection[str]) -> bool:
    """Whether ``media_type`` matches one of ``allowed_types`` (exact or ``major/*``)."""
    major = media_type.split("/", 1)[0]
    return any(
        media_type == allowed or (allowed.endswith("/*") and allowed[:-2] == major)
        for allowed in allowed_types
    )


def sniff_image(head: bytes) -> str | None:
    """The raster image type identified from a body's first bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    return None


async def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"the body is {declared} bytes, more than {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _get(
    client: httpx.AsyncClient,
    url: httpx.URL,
    addresses: list[IPAddress],
    *,
    max_bytes: int,
    allowed_types: Collection[str],
) -> Fetched | httpx.URL:
    """One hop: the fetched body, or the (unchecked) URL it redirects to. The addresses are
    tried in order until one accepts the connection (``localhost`` may be ::1 or 127.0.0.1)."""
    headers = {"Host": url.netloc.decode("ascii"), "User-Agent": USER_AGENT}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    for n, address in enumerate(addresses):
        pinned = url.copy_with(host=str(address))
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            response = await client.send(request, stream=True)
            break
        except httpx.ConnectError as exc:
            if n + 1 == len(addresses):
                raise FetchFailed(f"cannot connect to {url.host}: {exc}") from None
        except httpx.TimeoutException:
            raise FetchTimeout(f"{url.host} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"cannot fetch {url.host}: {exc.__class__.__name__}") from None
    try:
        if response.status_code in _REDIRECT_CODES:
            location = response.headers.get("location")
            if not location:
                raise FetchFailed(f"redirect {response.status_code} without a Location")
            try:
                return url.join(location)
            except httpx.InvalidURL:
                raise BlockedURL("redirect to an invalid address") from None
        if response.status_code != 200:
            raise FetchFailed(f"{url.host} answered {response.status_code}")
        media_type, charset = _media_type(response.headers.get("content-type", ""))
        if not type_allowed(media_type, allowed_types):
            raise UnsupportedType(f"type {media_type or '(none)'!r} is not allowed")
        try:
            content = await _read_limited(response, max_bytes)
        except httpx.TimeoutException:
            raise FetchTimeout(f"{url.host} did not send the body in time") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"reading from {url.host}: {exc.__class__.__name__}") from None
    finally:
        await response.aclose()
    if media_type.startswith("image/"):
        identified = sniff_image(content[:32])
        if identified is None or not type_allowed(identified, allowed_types):
            raise UnsupportedType(f"the bytes are not an allowed image (declared {media_type})")
        media_type, charset = identified, None
    return Fetched(url=str(url), content_type=media_type, content=content, charset=charset)


async def fetch(
    url: str,
    *,
    max_bytes: int,
    allowed_types: Collection[str],
    timeout: float,  # noqa: ASYNC109 - one deadline over every hop, part of the contract
    max_redirects: int = 5,
    allow_private_networks: bool = False,
    verify: ssl.SSLContext | bool = True,
) -> Fetched:
    """Download ``url`` under the rules in the module doc; raise a :class:`FetchError` else.

    ``verify`` is httpx's: certificates are checked against the URL's host name (sent as SNI)
    even though the connection goes to the checked address; pass a context to trust a
    private CA."""
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BlockedURL(f"not a valid address: {exc}") from None
    try:
        with anyio.fail_after(timeout):
            async with httpx.AsyncClient(
                trust_env=False, follow_redirects=False, timeout=timeout, verify=verify
            ) as client:
                for _hop in range(max_redirects + 1):
                    addresses = await _checked_addresses(current, allow_private_networks)
                    result = await _get(
                        client,
                        current,
                        addresses,
                        max_bytes=max_bytes,
                        allowed_types=allowed_types,
                    )
                    if isinstance(result, Fetched):
                        return result
                    current = result
    except TimeoutError:
        raise FetchTimeout(f"no answer within {timeout:g} s") from None
    raise TooManyRedirects(f"more than {max_redirects} redirects")
