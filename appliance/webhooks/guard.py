"""The SSRF guard: a delivery goes only to addresses a site administrator would expect a webhook to
reach. Loopback, link-local, private and other non-global addresses are refused unless the runtime
setting `webhooks.allow_private_addresses` allows them; cloud metadata endpoints are refused always."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Instance metadata services (AWS, GCP, Azure, OpenStack at 169.254.169.254; AWS over IPv6; Alibaba).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))


class AddressRefused(Exception):
    """The hook's URL resolves to an address deliveries may not go to; the message says which."""


class BadHookUrl(ValueError):
    pass


def check_url_form(url: str) -> None:
    """An http(s) URL with a host; raises BadHookUrl with what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadHookUrl(f"url is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadHookUrl("url must be an http:// or https:// URL with a host")
    if port == 0:
        raise BadHookUrl("url has port 0")


def _why_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_global:
        return None
    if address.is_multicast or address.is_unspecified:
        return "not a unicast address"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    return "a private address"


def resolve(url: str, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for `url` (resolved once, so the delivery connects to what was
    checked and a DNS answer that changes in between cannot point it elsewhere)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise AddressRefused(f"could not resolve {parts.hostname}: {error.strerror}") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        why = _why_refused(address, allow_private)
        if why:
            hint = "" if why in ("a cloud metadata address", "not a unicast address") else (
                " (a site administrator can allow it: webhooks.allow_private_addresses)")
            raise AddressRefused(f"{parts.hostname} resolves to {address}, {why}{hint}")
        addresses.append(str(address))
    return addresses
