"""Where webhooks may be sent: http(s) URLs whose host resolves only to public addresses.

Checked when an endpoint is created or its URL changed, and again before every attempt, when the
request is pinned to the addresses just checked (``Host`` and TLS SNI keep the name), so a DNS
answer that changes between the check and the connection (rebinding) cannot redirect a delivery
to a private address. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = frozenset({"http", "https"})
_RESOLVE_TIMEOUT = 5.0


class TargetRefused(Exception):
    """The URL may not be sent to (its message says why, for the client or the attempt log)."""


def check_url(url: str) -> str:
    """Syntax only: absolute http(s) URL with a host, no credentials, no fragment."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ValueError(f"not a valid URL: {error}") from None
    if parsed.scheme not in SCHEMES:
        raise ValueError("the URL must use http or https")
    if not parsed.host:
        raise ValueError("the URL must name a host")
    if parsed.userinfo:
        raise ValueError("the URL cannot carry credentials")
    if parsed.fragment:
        raise ValueError("the URL cannot have a fragment")
    return url


def address_kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (None if it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-global"


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    addresses: tuple[IPAddress, ...]

    def pinned(self, address: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """The URL to connect to ``address``, with the Host header and TLS SNI of the name."""
        host = self.url.raw_host.decode("ascii")
        headers = {"Host": self.url.netloc.decode("ascii")}
        extensions = {"sni_hostname": host} if self.url.scheme == "https" else {}
        return self.url.copy_with(host=str(address)), headers, extensions


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host; refuse it if any address is not public (unless allowed)."""
    parsed = httpx.URL(check_url(url))
    host = parsed.raw_host.decode("ascii")
    addresses = await _addresses(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not allow_private:
        for address in addresses:
            kind = address_kind(address)
            if kind is not None:
                article = "an" if kind[0] in "aeiou" else "a"
                shown = host if _is_literal(host) else f"{host} resolves to {address}, which"
                raise TargetRefused(
                    f"{shown} is {article} {kind} address; webhooks need public targets"
                )
    return Target(parsed, addresses)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _addresses(host: str, port: int) -> tuple[IPAddress, ...]:
    if _is_literal(host):
        return (ipaddress.ip_address(host),)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(_RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as error:
        raise TargetRefused(f"{host} does not resolve ({error})") from None
    found: dict[IPAddress, None] = {}
    for _, _, _, _, sockaddr in infos:
        found.setdefault(ipaddress.ip_address(sockaddr[0]), None)
    if not found:
        raise TargetRefused(f"{host} does not resolve")
    return tuple(found)
