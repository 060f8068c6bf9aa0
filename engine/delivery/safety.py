"""Refusing webhook URLs that lead into the deployment's own network (SSRF), when added and at each send."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """The URL is malformed, not http(s), or resolves to an address closeloop must not call."""


# The NAT64 prefix that carries an IPv4 address in its last 32 bits (RFC 6052): 64:ff9b::7f00:1 reaches 127.0.0.1
# through the gateway, though Python counts the prefix as global; and the prefix for local use only (RFC 8215).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one is judged as itself: ::ffff:127.0.0.1 is loopback too, and so are
        # the 6to4, Teredo and NAT64 forms of a private address.
        if ip in _NAT64_LOCAL:
            return True
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None) or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if inner is not None and (not inner.is_global or inner.is_multicast):
            return True
        ip = ip.ipv4_mapped or ip
    return not ip.is_global or ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeURL unless ``url`` is http(s) with a host whose every address is public (or private is allowed).

    Every address the name resolves to is checked, not only the first: a name with one public and one
    private record would otherwise reach the private one on some attempts.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise UnsafeURL("the URL must not carry a user name or password")
    if not allow_private:
        public_addresses(parts.hostname, port)


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now; UnsafeURL if it does not resolve or any of them is not public."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnsafeURL(f"the host {host!r} does not resolve: {exc}") from None
    addresses = []
    for info in infos:
        address = str(info[4][0])
        if _forbidden(address):
            raise UnsafeURL(f"the host {host!r} resolves to {address}, a loopback, private or reserved "
                            "address (set CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS=1 to allow it)")
        if address not in addresses:
            addresses.append(address)
    return addresses
