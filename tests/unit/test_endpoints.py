"""Endpoint management: URL checks at registration, validation, secrets shown only when asked for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.endpoints import parse_rotate, public_endpoint, shown_secret
from chalicelib.endpoints import EndpointService
from chalicelib.errors import ValidationError
from chalicelib.scope import OPERATOR
from testkit.fakes import FakeClock, MemoryStore
from tests.unit.test_egress import BAD_URLS, STUB_DNS  # one corpus: reliability.md section 2.6


def _resolver(host: str, port: int) -> list[str]:
    return list(STUB_DNS(host, port))


@pytest.fixture
def service() -> EndpointService:
    clock = FakeClock()
    return EndpointService(
        MemoryStore(clock), clock, allow_private=False, https_only=False, resolver=_resolver
    )


@pytest.mark.parametrize("url", BAD_URLS)
def test_every_bad_url_class_is_refused_at_registration(service: EndpointService, url: str) -> None:
    with pytest.raises(ValidationError) as err:
        service.create(parse_create_endpoint({"url": url}), OPERATOR)
    assert err.value.status == 400
    assert err.value.code in ("destination_not_allowed", "invalid_url", "dns_error", "invalid_request")
    assert err.value.field == "url"
    assert "user:pass@" not in err.value.message  # never echo credentials


def test_production_requires_https() -> None:
    clock = FakeClock()
    service = EndpointService(
        MemoryStore(clock), clock, allow_private=False, https_only=True, resolver=_resolver
    )
    with pytest.raises(ValidationError):
        service.create(parse_create_endpoint({"url": "http://evil.example/"}), OPERATOR)
    assert (
        service.create(parse_create_endpoint({"url": "https://evil.example/"}), OPERATOR)[0].url
        == "https://evil.example/"
    )


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({}, "url"),
        ({"url": "https://evil.example/", "secret": "whsec_c2hvcnQ="}, "secret"),
        ({"url": "https://evil.example/", "signing": "md5"}, "signing"),
        ({"url": "https://evil.example/", "headers": {"Webhook-Signature": "x"}}, "headers"),
        ({"url": "https://evil.example/", "headers": {"X-Ok": "a\r\nInjected: 1"}}, "headers"),
        ({"url": "https://evil.example/", "headers": {"bad name": "x"}}, "headers"),
        ({"url": "https://evil.example/", "timeout": 0}, "timeout"),
        ({"url": "https://evil.example/", "retry_schedule": "5,10"}, "retry_schedule"),
        ({"url": "https://evil.example/", "filter": {"types": ["x"]}}, "filter"),
        (
            {"url": "https://evil.example/", "filter": {"event_types": ["bad type!"]}},
            "filter.event_types",
        ),
        ({"url": "https://evil.example/", "auth": {"type": "digest"}}, "auth"),
    ],
)
def test_invalid_endpoints_are_refused_with_the_field(
    service: EndpointService, doc: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        service.create(parse_create_endpoint(doc), OPERATOR)
    assert err.value.field == field


@pytest.mark.parametrize(
    "patterns",
    [
        ["a*" * 9 + "b"],  # one star more than allowed (the review's 20 held a message 8.4 s)
        ["*" * 199],
        ["x" * 201],
        [f"order.{i}" for i in range(51)],
    ],
)
def test_event_type_patterns_are_bounded_on_save(service: EndpointService, patterns: list[str]) -> None:
    # WHEN an endpoint's filter holds a pattern with too many stars, too long, or too many patterns
    with pytest.raises(ValidationError) as err:
        service.create(
            parse_create_endpoint({"url": "https://evil.example/", "filter": {"event_types": patterns}}),
            OPERATOR,
        )
    # THEN 400 naming the field
    assert err.value.status == 400 and err.value.field == "filter.event_types"
    # ... and the most complex pattern allowed is kept
    ok = ["a*" * 8 + "b"]
    assert service.create(
        parse_create_endpoint({"url": "https://evil.example/", "filter": {"event_types": ok}}), OPERATOR
    )[0]


def test_secret_is_generated_shown_once_and_rotated(service: EndpointService) -> None:
    endpoint, secret, public_key = service.create(
        parse_create_endpoint(
            {"url": "https://evil.example/", "auth": {"type": "bearer", "token": "tok-123456"}}
        ),
        OPERATOR,
    )
    assert secret.startswith("whsec_") and public_key is None
    shown = json.dumps(public_endpoint(endpoint))
    assert secret not in shown and "tok-123456" not in shown
    assert shown_secret(service.secret(endpoint.id, OPERATOR)) == {
        "id": endpoint.secrets[0].id,
        "secret": secret,
    }
    updated, new = service.rotate_secret(endpoint.id, parse_rotate({"retire_old_after": 3600}), OPERATOR)
    assert updated.live_secrets(service._clock()) == [secret, new.secret]  # both sign during the rotation
    assert shown_secret(service.secret(endpoint.id, OPERATOR))["secret"] == new.secret


def test_ed25519_endpoint_shows_only_its_public_key(service: EndpointService) -> None:
    endpoint, secret, public_key = service.create(
        parse_create_endpoint({"url": "https://evil.example/", "signing": "standard-ed25519"}), OPERATOR
    )
    assert secret == "" and public_key is not None and public_key.startswith("whpk_")
    assert endpoint.secrets[0].value.startswith("whsk_")
    assert shown_secret(service.secret(endpoint.id, OPERATOR)) == {
        "id": endpoint.secrets[0].id,
        "public_key": public_key,
    }


def test_a_retry_schedule_must_end_within_retention(service: EndpointService) -> None:
    with pytest.raises(ValidationError) as err:
        service.create(
            parse_create_endpoint(
                {
                    "url": "https://evil.example/",
                    "retry_schedule": [0, 7 * 86400, 7 * 86400, 7 * 86400, 7 * 86400],
                }
            ),
            OPERATOR,
        )
    assert err.value.field == "retry_schedule"
