"""Bitbucket Cloud and Jira Cloud admin webhooks: ``X-Hub-Signature: sha256=<hex HMAC-SHA256(body)>``.

The header has GitHub's legacy name but the prefix names the algorithm; only ``sha256`` is accepted.
"""

from __future__ import annotations

from typing import Any

from ._common import Request, Verified, body_signature, dig


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
