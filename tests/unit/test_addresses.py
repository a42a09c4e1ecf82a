"""Address canonicalisation, allowlists and the SSRF block set (reliability.md 2.1, 2.4, 2.5)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.addresses import (
    BLOCKED_IPV4,
    BLOCKED_IPV6,
    AddressError,
    canonical_ip,
    ip_allowed,
    is_public,
    parse_networks,
)

# --- canonical_ip ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("203.0.113.7", IPv4Address("203.0.113.7")),
        ("::ffff:1.2.3.4", IPv4Address("1.2.3.4")),
        ("[::ffff:1.2.3.4]", IPv4Address("1.2.3.4")),
        ("::FFFF:7F00:1", IPv4Address("127.0.0.1")),
        ("[2001:DB8::1]", IPv6Address("2001:db8::1")),
        ("2606:4700::1111", IPv6Address("2606:4700::1111")),
    ],
)
def test_canonical_ip_strips_brackets_and_unwraps_ipv4_mapped(raw: str, expected: object) -> None:
    assert canonical_ip(raw) == expected


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "1.2.3",
        "127.1",
        "0x7f000001",
        "2130706433",
        "127.000.000.001",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4/32",
        "[1.2.3.4",
        "example.com",
        "::ffff:1.2.3.4.5",
    ],
)
def test_canonical_ip_refuses_zone_ids_and_junk(junk: str) -> None:
    with pytest.raises(AddressError):
        canonical_ip(junk)


def test_canonical_ip_refuses_non_strings() -> None:
    with pytest.raises(AddressError):
        canonical_ip(2130706433)  # type: ignore[arg-type]


# --- parse_networks / ip_allowed -------------------------------------------------------------------


def test_parse_networks_accepts_host_bits_and_canonicalises_ipv4_mapped() -> None:
    networks = parse_networks(["10.1.2.3/8", " 192.0.2.1 ", "::ffff:10.0.0.0/104", "2001:db8::/32"])
    assert networks == (
        IPv4Network("10.0.0.0/8"),
        IPv4Network("192.0.2.1/32"),
        IPv4Network("10.0.0.0/8"),
        IPv6Network("2001:db8::/32"),
    )


@pytest.mark.parametrize("entry", ["", "10.0.0.0/33", "banana", "fe80::/64%eth0", "1.2.3.4/-1"])
def test_parse_networks_names_the_bad_entry(entry: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_networks(["10.0.0.0/8", entry])
    assert repr(entry) in str(caught.value)


def test_parse_networks_refuses_a_bare_string() -> None:
    with pytest.raises(AddressError):
        parse_networks("10.0.0.0/8")


@pytest.mark.parametrize(
    "ip, allowed",
    [
        ("192.30.252.10", True),
        ("::ffff:192.30.252.10", True),  # API Gateway may report the IPv4 client mapped into IPv6
        ("[::ffff:c01e:fc0a]", True),
        ("192.30.251.255", False),
        ("2001:db8::42", True),
        ("2001:db9::42", False),
        ("fe80::1%eth0", False),
        ("not an ip", False),
        ("", False),
    ],
)
def test_ip_allowed(ip: str, allowed: bool) -> None:
    networks = parse_networks(["192.30.252.0/22", "2001:db8::/32"])
    assert ip_allowed(ip, networks) is allowed


def test_ip_allowed_with_ipv4_mapped_allowlist_entry() -> None:
    assert ip_allowed("10.2.3.4", parse_networks(["::ffff:10.0.0.0/104"]))


# --- is_public: the block set ----------------------------------------------------------------------

# Smokescreen's test vectors (reliability.md 2.1) plus every range 2.4 / 2.5 names.
DENIED = [
    "127.0.0.1",
    "127.255.255.255",
    "::1",
    "169.254.169.254",
    "255.255.255.255",
    "ff02::2",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "64:ff9b::a00:1",
    "2002:a00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    # the additions
    "0.0.0.0",
    "0.1.2.3",
    "192.0.0.1",
    "192.0.0.9",  # is_global flipped for this one across CPython versions
    "192.0.2.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.1",
    "203.0.113.1",
    "240.0.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "169.254.170.2",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "::127.0.0.1",  # IPv4-compatible
    "::8.8.8.8",  # IPv4-compatible: deprecated, refused whole
    "fd00:ec2::254",
    "fc00::1",
    "fe80::1",
    "fec0::1",
    "ff0e::1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b:1::1",
    "2002:a9fe:a9fe::1",
    "2001:db8::1",
    "2001:1::1",  # is_global differs between 3.11 and 3.13; we refuse all of 2001::/23
    "2001:2::1",
    "2001:10::1",
    "100::1",
    "3fff::1",
    "5f00::1",  # outside 2000::/3
    "::ffff:0:7f00:1",  # SIIT (IPv4-translated) form, outside 2000::/3
    # Smokescreen allows 64:ff9c::1 to show its NAT64 match is exact; we refuse it anyway, because
    # it is unallocated space outside 2000::/3, the only IPv6 block IANA hands out as global unicast.
    "64:ff9c::1",
    "not-an-ip",
    "",
    "fe80::1%eth0",
]

ALLOWED = [
    "100.63.255.254",
    "100.128.0.1",
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "192.0.1.255",
    "192.88.98.1",
    "::ffff:8.8.8.8",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "[2a00:1450:4001:830::200e]",
]


@pytest.mark.parametrize("ip", DENIED)
def test_is_public_refuses_the_block_set(ip: str) -> None:
    assert is_public(ip) is False


@pytest.mark.parametrize("ip", ALLOWED)
def test_is_public_admits_global_unicast(ip: str) -> None:
    assert is_public(ip) is True


def test_is_public_accepts_address_objects() -> None:
    assert is_public(IPv4Address("8.8.8.8")) is True
    assert is_public(IPv6Address("::ffff:127.0.0.1")) is False
    assert is_public(IPv6Address("fe80::1%eth0")) is False
    assert is_public(12345) is False  # type: ignore[arg-type]


def test_block_tables_cover_the_ranges_the_reference_names() -> None:
    named_v4 = {
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    }
    named_v6 = {
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    }
    assert named_v4 <= {str(n) for n in BLOCKED_IPV4}
    assert named_v6 <= {str(n) for n in BLOCKED_IPV6}
    assert any(IPv6Network("2001::/32").subnet_of(n) for n in BLOCKED_IPV6)  # Teredo
    # The NAT64 entries are exact: the neighbouring 64:ff9c:: is outside them (refused only
    # because it lies outside 2000::/3).
    assert not any(IPv6Address("64:ff9c::1") in n for n in BLOCKED_IPV6)


# --- properties ------------------------------------------------------------------------------------

NON_PUBLIC_V4 = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "198.18.0.0/15",
    "240.0.0.0/4",
]
non_public_v4 = st.one_of(*(st.ip_addresses(network=cidr) for cidr in NON_PUBLIC_V4))


@given(non_public_v4)
def test_private_ipv4_is_never_public_plain_mapped_or_embedded(address: IPv4Address) -> None:
    as_int = int(address)
    mapped = IPv6Address((0xFFFF << 32) | as_int)
    nat64 = IPv6Address(int(IPv6Address("64:ff9b::")) | as_int)
    sixtofour = IPv6Address((0x2002 << 112) | (as_int << 80))
    assert not is_public(str(address))
    assert not is_public(str(mapped))
    assert not is_public(f"[{mapped}]")
    assert not is_public(str(nat64))
    assert not is_public(str(sixtofour))
    assert not is_public(address)


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_form_is_judged_like_the_plain_address(address: IPv4Address) -> None:
    mapped = IPv6Address((0xFFFF << 32) | int(address))
    assert is_public(str(mapped)) == is_public(str(address))


@given(st.ip_addresses(v=4))
def test_anything_public_is_also_global_to_python(address: IPv4Address) -> None:
    # The tables are a superset of ipaddress's own non-global set on this interpreter.
    if is_public(address):
        assert address.is_global


@given(st.ip_addresses(v=6))
def test_public_ipv6_is_global_unicast_outside_every_blocked_range(address: IPv6Address) -> None:
    if is_public(address) and address.ipv4_mapped is None:
        assert address in IPv6Network("2000::/3")
        assert address.is_global
        assert not any(address in network for network in BLOCKED_IPV6)


@given(st.ip_addresses())
def test_canonical_ip_round_trips_its_own_output(address: IPv4Address | IPv6Address) -> None:
    canonical = canonical_ip(str(address))
    assert canonical_ip(str(canonical)) == canonical
