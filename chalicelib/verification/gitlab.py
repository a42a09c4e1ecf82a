"""GitLab: ``X-Gitlab-Token`` is the configured token in plain text, compared in constant time.

This proves the sender knows the token; it gives no body integrity and no replay protection. GitLab's newer
signing token follows Standard Webhooks: configure that source with the ``standard`` scheme instead.
"""

from __future__ import annotations

from ._common import Request, Verified
from .generic import check_token


def verify_gitlab(req: Request) -> Verified:
    """Verify a GitLab token; ``Idempotency-Key`` (else ``X-Gitlab-Event-UUID``) is the delivery id."""
    check_token(req, req.require_header("X-Gitlab-Token"))
    return Verified(
        delivery_id=req.first_header("Idempotency-Key", "X-Gitlab-Event-UUID"),
        event_type=req.label_header("X-Gitlab-Event"),
        unsigned=("delivery_id", "event_type"),  # a token signs nothing
    )
