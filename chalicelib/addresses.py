"""IP address canonicalisation and classification; pure, no I/O.

Two jobs share one canonical form:

* ``canonical_ip`` / ``parse_networks`` / ``ip_allowed`` serve source-IP allowlists (API Gateway's
  ``requestContext.identity.sourceIp``), where an IPv4 client may show up as ``::ffff:a.b.c.d``.
* ``is_public`` is the SSRF block set the egress guard applies to every resolved address
  (reliability.md 2.1 + 2.5: Smokescreen's rules plus Svix's extra IPv4 ranges).

``is_public`` is driven by the explicit tables below rather than by ``ipaddress``'s ``is_global``:
``is_global`` changed between CPython 3.11, 3.12 and 3.13, says ``True`` for NAT64 / 6to4 / Teredo
embeddings of private addresses, and (before 3.13) mis-classifies IPv4-mapped loopback. The tables
are a superset of every version's non-global set, and ``is_global`` is still consulted as a second
opinion, so a future Python can only ever block more, never less.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = [
    "BLOCKED_IPV4",
    "BLOCKED_IPV6",
    "AddressError",
    "canonical_ip",
    "ip_allowed",
    "is_public",
    "parse_networks",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class AddressError(ValueError):
    """A string is not a plain IP address or network (junk, zone id, bad prefix)."""


BLOCKED_IPV4: tuple[IPv4Network, ...] = tuple(
    IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT shared space: is_private is False for it
        "127.0.0.0/8",  # loopback, incl. the Lambda Runtime API
        "169.254.0.0/16",  # link-local: IMDS 169.254.169.254, ECS 169.254.170.2
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. the limited broadcast 255.255.255.255
    )
)

# Only 2000::/3 is allocated as global unicast, so anything outside it is refused outright (this
# also catches ranges IANA adds later). The list names the well-known special ranges anyway, both
# inside and outside 2000::/3, so a reader and the tests can see each one decided explicitly.
_IPV6_GLOBAL_UNICAST = IPv6Network("2000::/3")
BLOCKED_IPV6: tuple[IPv6Network, ...] = tuple(
    IPv6Network(cidr)
    for cidr in (
        "::/96",  # IPv4-compatible (deprecated), :: and ::1; refused whole, nothing legitimate lives there
        "64:ff9b::/96",  # NAT64: embeds any IPv4, e.g. 64:ff9b::a9fe:a9fe -> 169.254.169.254
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32 (embeds an IPv4)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds an IPv4, e.g. 2002:a9fe:a9fe::1
        "3fff::/20",  # documentation (RFC 9637)
        "fc00::/7",  # unique local, incl. the IPv6 IMDS fd00:ec2::254
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)

_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")


def canonical_ip(value: str) -> IPv4Address | IPv6Address:
    """Parse one IP address, strip ``[]``, refuse zone ids and junk, unwrap IPv4-mapped IPv6."""
    if not isinstance(value, str):
        raise AddressError(f"not an IP address: {value!r}")
    text = value
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    # A zone id ("fe80::1%eth0") names a local interface: meaningless for a remote peer, and
    # ipaddress would otherwise accept it (3.9+).
    if "%" in text:
        raise AddressError(f"zone ids are not accepted: {value!r}")
    try:
        address = ip_address(text)
    except ValueError as exc:
        raise AddressError(f"not an IP address: {value!r}") from exc
    return _unwrap(address)


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(cidrs: Iterable[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    """Parse CIDR strings (host bits allowed) into networks; IPv4-mapped ones become IPv4."""
    if isinstance(cidrs, str):
        # A bare string is an iterable of characters; that is always a caller mistake.
        raise AddressError("expected a list of CIDR strings, got one string")
    networks: list[IPNetwork] = []
    for entry in cidrs:
        if not isinstance(entry, str):
            raise AddressError(f"not a CIDR string: {entry!r}")
        text = entry.strip()
        if not text or "%" in text:
            raise AddressError(f"not a network: {entry!r}")
        try:
            network = ip_network(text, strict=False)
        except ValueError as exc:
            raise AddressError(f"not a network: {entry!r}") from exc
        networks.append(_unwrap_network(network))
    return tuple(networks)


def _unwrap_network(network: IPNetwork) -> IPNetwork:
    # ::ffff:10.0.0.0/104 means 10.0.0.0/8; canonical_ip turns the candidate into IPv4, so the
    # network must be IPv4 too or it would never match.
    if isinstance(network, IPv6Network) and network.prefixlen >= 96 and network.subnet_of(_IPV4_MAPPED):
        low32 = int(network.network_address) & 0xFFFFFFFF
        return IPv4Network((low32, network.prefixlen - 96))
    return network


def ip_allowed(ip: str, networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    """True when ``ip`` (canonicalised) lies in one of ``networks``; junk is never allowed."""
    try:
        address = canonical_ip(ip)
    except AddressError:
        return False
    # Membership across versions is simply False in ipaddress, not an error.
    return any(address in network for network in networks)


def is_public(ip: str | IPv4Address | IPv6Address) -> bool:
    """True only for a globally routable unicast address outside every SSRF-blocked range."""
    if isinstance(ip, str):
        try:
            address = canonical_ip(ip)
        except AddressError:
            return False
    elif isinstance(ip, IPv4Address | IPv6Address):
        if isinstance(ip, IPv6Address) and ip.scope_id:
            return False
        address = _unwrap(ip)
    else:
        return False
    if isinstance(address, IPv4Address):
        if any(address in network for network in BLOCKED_IPV4):
            return False
    else:
        if address not in _IPV6_GLOBAL_UNICAST:
            return False
        if any(address in network for network in BLOCKED_IPV6):
            return False
    # Second opinion only: the tables above already cover every range is_global rejects on
    # 3.11-3.13, so this can make the answer stricter on a future Python, never looser.
    return address.is_global
