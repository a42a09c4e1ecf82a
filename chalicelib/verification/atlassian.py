"""Bitbucket Cloud and Jira Cloud admin webhooks: ``X-Hub-Signature: sha256=<hex HMAC-SHA256(body)>``.

The header has GitHub's legacy name but the prefix names the algorithm; only ``sha256`` is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, Verified, body_signature, dig
from .scheme import Sample, Scheme


def verify_bitbucket(req: Request) -> Verified:
    """Verify a Bitbucket webhook; ``X-Request-UUID`` is the delivery id."""
    body_signature(req, "X-Hub-Signature", prefix="sha256=")
    return Verified(
        delivery_id=req.header("X-Request-UUID"),
        event_type=req.label_header("X-Event-Key"),
        unsigned=("delivery_id", "event_type"),
    )


def verify_jira(req: Request) -> Verified:
    """Verify a Jira admin webhook; ``X-Atlassian-Webhook-Identifier`` is stable across retries."""
    body_signature(req, "X-Hub-Signature", prefix="sha256=")
    return Verified.from_body(
        req.body,
        _jira_metadata,
        delivery_id=req.header("X-Atlassian-Webhook-Identifier"),
        unsigned=("delivery_id",),
    )


def _jira_metadata(document: Any) -> tuple[str | None, str | None]:
    return None, dig(document, "webhookEvent")


def _signed(secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature": "sha256=" + _samples.hmac_hex(secret, body),
    }


def sample_bitbucket(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Bitbucket delivery: ``X-Hub-Signature: sha256=<hex HMAC of the body>``."""
    delivery = _samples.uuid_like()
    body = _samples.json_body({"repository": {"full_name": "team/repo"}, "push": {"changes": []}})
    headers = {**_signed(secret, body), "X-Event-Key": event, "X-Request-UUID": delivery}
    return Sample(headers, body, delivery, event)


def sample_jira(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Jira admin webhook: ``X-Hub-Signature: sha256=<hex HMAC of the body>``."""
    delivery = _samples.uuid_like()
    body = _samples.json_body({"timestamp": now * 1000, "webhookEvent": event, "issue": {"key": "HW-1"}})
    headers = {**_signed(secret, body), "X-Atlassian-Webhook-Identifier": delivery}
    return Sample(headers, body, delivery, event)


BITBUCKET = Scheme(
    name="bitbucket",
    label="Bitbucket",
    key_label="Secret",
    verify=verify_bitbucket,
    signs="HMAC-SHA256 of the body, hex, prefixed sha256=",
    headers=("X-Hub-Signature",),
    sample=sample_bitbucket,
    sample_event="repo:push",
    example_key="bitbucket-secret",
)

JIRA = Scheme(
    name="jira",
    label="Jira",
    key_label="Secret",
    verify=verify_jira,
    signs="HMAC-SHA256 of the body, hex, prefixed sha256=",
    headers=("X-Hub-Signature",),
    sample=sample_jira,
    sample_event="jira:issue_created",
    example_key="jira-secret",
)
