"""Where media may be fetched from: Twilio's media hosts over https, never the hub's own network.

A `MediaUrl` arrives in a signed webhook, but it is still a URL the hub will fetch from inside
its network, so every hop (the first URL and each redirect) is checked before connecting:

- the configured API origin exactly (`HUB_TWILIO_API_URL`: scheme, host and port; a local fake in
  tests) is trusted as it is, and is the only place the account's credentials are sent;
- anything else must be https on one of Twilio's media hosts (`*.twilio.com`, `*.twiliocdn.com`;
  redirects may also go to the storage Twilio serves media from, `*.amazonaws.com`), and every
  address the name resolves to must be public (no private, loopback, link-local, reserved or
  multicast address). The connection then goes to the address that was checked (the TLS name is
  still the host's), so a second DNS answer cannot point it elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from channels.whatsapp.config import WhatsAppSettings

MEDIA_HOSTS = ("twilio.com", "twiliocdn.com")
REDIRECT_HOSTS = (*MEDIA_HOSTS, "amazonaws.com")
MAX_REDIRECTS = 5

Resolver = Callable[[str, int], Awaitable[list[str]]]


class MediaRejected(Exception):
    """The media will not be fetched or kept; the message says why (shown to agents)."""


@dataclass(frozen=True)
class Hop:
    """One request: the URL to connect to, the Host and TLS name, and whether to send credentials."""

    url: str
    host: str | None  # set when `url` is pinned to a checked address
    credentials: bool


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise MediaRejected("the media URL is malformed") from None
    return scheme, (parts.hostname or "").lower(), port


def _on(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def plan_hop(url: str, twilio: WhatsAppSettings, *, redirect: bool, resolver: Resolver = resolve) -> Hop:
    """Check one URL against the rules above; raise `MediaRejected` or say how to connect."""
    scheme, host, port = origin_of(url)
    if (scheme, host, port) == origin_of(twilio.twilio_api_url):
        return Hop(url, None, credentials=twilio.twilio_configured)
    if scheme != "https":
        raise MediaRejected("only https media URLs are fetched")
    if not _on(host, REDIRECT_HOSTS if redirect else MEDIA_HOSTS):
        raise MediaRejected(f"media is only fetched from Twilio, not from {host or 'an unnamed host'}")
    try:
        addresses = await resolver(host, port)
    except OSError:
        raise MediaRejected(f"the media host {host} does not resolve") from None
    if not addresses or not all(is_public(a) for a in addresses):
        raise MediaRejected(f"the media host {host} resolves to a private address")
    pinned = addresses[0]
    netloc = (f"[{pinned}]" if ":" in pinned else pinned) + (f":{port}" if port != 443 else "")
    parts = urlsplit(url)
    return Hop(urlunsplit(("https", netloc, parts.path, parts.query, "")), host, credentials=False)
