"""Endpoint management: URL checks at registration, validation, secrets shown only when asked for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.endpoints import EndpointService, public_endpoint
from chalicelib.errors import ValidationError
from tests.fakes import FakeClock, MemoryStore

STUB_DNS = {
    "hooks.example.com": ["93.184.215.14"],
    "localtest.me": ["127.0.0.1"],
    "169.254.169.254.nip.io": ["169.254.169.254"],
    "mixed.example.com": ["93.184.215.14", "10.0.0.1"],
    "aaaa-only.example.com": ["fd00:ec2::254"],
}


def _resolver(host: str, port: int) -> list[str]:
    import socket

    if host in STUB_DNS:
        return STUB_DNS[host]
    # literal addresses in any encoding: let the real resolver normalise them (no network involved)
    return [
        info[4][0]
        for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    ]


@pytest.fixture
def service() -> EndpointService:
    clock = FakeClock()
    return EndpointService(
        MemoryStore(clock), clock, allow_private=False, https_only=False, resolver=_resolver
    )


BAD_URLS = [
    # loopback / unspecified
    "http://127.0.0.1/",
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    # encoded loopback
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.000.000.001/",
    "http://0x7f.1/",
    # cloud metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.170.2/v2/credentials",
    "http://metadata.google.internal/",
    "http://metadata.amazonaws.com/",
    # the Lambda runtime API
    "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
    # private / special
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://192.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://224.0.0.1/",
    "http://[fc00::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[ff02::1]/",
    # IPv6 embeddings
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    # DNS tricks (stub resolver)
    "http://localtest.me/",
    "http://169.254.169.254.nip.io/",
    "http://mixed.example.com/",
    "http://aaaa-only.example.com/",
    # parser differentials
    "http://127.0.0.1:80\\@evil.example/",
    "http://evil.example@127.0.0.1/",
    "http://evil.example#@127.0.0.1/",
    "http://127.0.0.1%2523@evil.example/",
    "http://[::ffff:127.0.0.1]:80/",
    # schemes
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "dict://127.0.0.1:6379/",
    "ftp://127.0.0.1/",
    "http+unix://%2Fvar%2Frun%2Fdocker.sock/",
    "data:text/plain,x",
    "javascript:alert(1)",
    # credentials in the URL
    "https://user:pass@hooks.example.com/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_every_bad_url_class_is_refused_at_registration(service: EndpointService, url: str) -> None:
    with pytest.raises(ValidationError) as err:
        service.create({"url": url})
    assert err.value.status == 400
    assert err.value.code in ("destination_not_allowed", "invalid_url", "dns_error")
    assert "user:pass@" not in err.value.message  # never echo credentials


def test_production_requires_https() -> None:
    clock = FakeClock()
    service = EndpointService(
        MemoryStore(clock), clock, allow_private=False, https_only=True, resolver=_resolver
    )
    with pytest.raises(ValidationError):
        service.create({"url": "http://hooks.example.com/"})
    assert service.create({"url": "https://hooks.example.com/"})[0].url == "https://hooks.example.com/"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({}, "url"),
        ({"url": "https://hooks.example.com/", "secret": "whsec_c2hvcnQ="}, "secret"),
        ({"url": "https://hooks.example.com/", "signing": "md5"}, "signing"),
        ({"url": "https://hooks.example.com/", "headers": {"Webhook-Signature": "x"}}, "headers"),
        ({"url": "https://hooks.example.com/", "headers": {"X-Ok": "a\r\nInjected: 1"}}, "headers"),
        ({"url": "https://hooks.example.com/", "headers": {"bad name": "x"}}, "headers"),
        ({"url": "https://hooks.example.com/", "timeout": 0}, "timeout"),
        ({"url": "https://hooks.example.com/", "retry_schedule": "5,10"}, "retry_schedule"),
        ({"url": "https://hooks.example.com/", "filter": {"types": ["x"]}}, "filter"),
        (
            {"url": "https://hooks.example.com/", "filter": {"event_types": ["bad type!"]}},
            "filter.event_types",
        ),
        ({"url": "https://hooks.example.com/", "auth": {"type": "digest"}}, "auth"),
    ],
)
def test_invalid_endpoints_are_refused_with_the_field(
    service: EndpointService, doc: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        service.create(doc)
    assert err.value.field == field


def test_secret_is_generated_shown_once_and_rotated(service: EndpointService) -> None:
    endpoint, secret, public_key = service.create(
        {"url": "https://hooks.example.com/", "auth": {"type": "bearer", "token": "tok-123456"}}
    )
    assert secret.startswith("whsec_") and public_key is None
    shown = json.dumps(public_endpoint(endpoint))
    assert secret not in shown and "tok-123456" not in shown
    assert service.secret(endpoint.id) == {"id": endpoint.secrets[0].id, "secret": secret}
    updated, new = service.rotate_secret(endpoint.id, {"retire_old_after": 3600})
    assert updated.live_secrets(service._clock()) == [secret, new["secret"]]  # both sign during the rotation
    assert service.secret(endpoint.id)["secret"] == new["secret"]


def test_ed25519_endpoint_shows_only_its_public_key(service: EndpointService) -> None:
    endpoint, secret, public_key = service.create(
        {"url": "https://hooks.example.com/", "signing": "standard-ed25519"}
    )
    assert secret == "" and public_key is not None and public_key.startswith("whpk_")
    assert endpoint.secrets[0].value.startswith("whsk_")
    assert service.secret(endpoint.id) == {"id": endpoint.secrets[0].id, "public_key": public_key}
