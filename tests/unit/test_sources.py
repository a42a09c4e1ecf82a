"""Source management: validation gives clear 400s, secrets never leak, rotation works."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.sources import parse_add_secret, public_source
from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.api.sources import parse_update as parse_update_source
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from tests.conftest import Services

GOOD: dict[str, Any] = {
    "name": "stripe",
    "verification": {"scheme": "stripe", "secrets": ["whsec_abc123456789"]},
}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], None),
        ({"verification": GOOD["verification"]}, "name"),
        ({"name": "x"}, "verification"),
        ({"name": "x", "verification": {"scheme": "nope", "secrets": ["s"]}}, "verification.scheme"),
        ({"name": "x", "verification": {"scheme": "github"}}, "verification.secrets"),
        ({"name": "x", "verification": {"scheme": "github", "secrets": []}}, "verification.secrets"),
        (
            {"name": "x", "verification": {"scheme": "github", "secrets": [" padded "]}},
            "verification.secrets",
        ),
        ({"name": "x", "verification": {"scheme": "github", "secrets": [1]}}, "verification.secrets"),
        ({"name": "x", "verification": {"scheme": "hmac", "secrets": ["s"]}}, "verification.options.header"),
        ({"name": "x", "verification": {"scheme": "basic", "secrets": ["nocolon"]}}, "verification.secrets"),
        ({**GOOD, "verification": {**GOOD["verification"], "tolerance": -1}}, "verification.tolerance"),
        ({**GOOD, "verification": {**GOOD["verification"], "tolerance": "300"}}, "verification.tolerance"),
        ({**GOOD, "ip_allowlist": ["10.0.0.0/8", "banana"]}, "ip_allowlist"),
        ({**GOOD, "ip_allowlist": "10.0.0.0/8"}, "ip_allowlist"),
        ({**GOOD, "basic_auth": ["nocolon"]}, "basic_auth"),
        ({**GOOD, "rejection_status": 200}, "rejection_status"),
        ({**GOOD, "rejection_status": True}, "rejection_status"),
        ({**GOOD, "dedupe": "cookie:x"}, "dedupe"),
        ({**GOOD, "replay_window": 10}, "replay_window"),
        ({**GOOD, "mtls": "CN=x"}, "mtls"),
        ({**GOOD, "name": ""}, "name"),
    ],
)
def test_invalid_sources_are_refused_with_the_field(services: Services, doc: Any, field: str | None) -> None:
    with pytest.raises(ValidationError) as err:
        services.sources.create(parse_create_source(doc))
    assert err.value.status == 400
    assert err.value.field == field
    assert services.store.sources == {}


def test_public_view_never_holds_a_secret(services: Services) -> None:
    source = services.sources.create(
        parse_create_source(
            {
                **GOOD,
                "basic_auth": ["user:hunter2-password"],
                "verification": {
                    "scheme": "meta",
                    "secrets": ["app-secret-value-123"],
                    "options": {"verify_token": "vt-secret-999"},
                },
            }
        )
    )
    text = json.dumps(public_source(source, "https://api.example.com"))
    for secret in ("app-secret-value-123", "vt-secret-999", "hunter2-password"):
        assert secret not in text
    assert json.loads(text)["ingest_url"] == f"https://api.example.com/in/{source.id}"


def test_rotation_adds_a_secret_and_retires_the_old_ones_later(services: Services) -> None:
    source = services.sources.create(parse_create_source(GOOD))
    old_id = source.verification.secrets[0].id
    updated, new = services.sources.add_secret(
        source.id, parse_add_secret({"secret": "whsec_new9876543210", "retire_others_after": 3600})
    )
    now = services.clock()
    assert updated.verification.live_secrets(now) == ["whsec_abc123456789", "whsec_new9876543210"]
    services.clock.advance(3601)
    assert services.store.get_source(source.id).verification.live_secrets(services.clock()) == [
        "whsec_new9876543210"
    ]
    with pytest.raises(ConflictError):
        services.sources.retire_secret(source.id, new.id)  # the last live one
    with pytest.raises(NotFoundError):
        services.sources.retire_secret(source.id, "sec_missing")
    services.sources.retire_secret(source.id, old_id)


def test_update_changes_only_what_is_given_and_keeps_secrets(services: Services) -> None:
    source = services.sources.create(parse_create_source(GOOD))
    updated = services.sources.update(
        source.id,
        parse_update_source(
            {"description": "payments", "verification": {"scheme": "stripe", "tolerance": 600}}
        ),
    )
    assert updated.description == "payments"
    assert updated.verification.tolerance == 600
    assert updated.verification.secrets == source.verification.secrets
    assert updated.name == "stripe"


def test_delete_then_get_is_404(services: Services) -> None:
    source = services.sources.create(parse_create_source(GOOD))
    services.sources.delete(source.id)
    with pytest.raises(NotFoundError):
        services.sources.get(source.id)
    with pytest.raises(NotFoundError):
        services.sources.delete(source.id)
