"""GitLab: ``X-Gitlab-Token`` is the configured token in plain text, compared in constant time.

This proves the sender knows the token; it gives no body integrity and no replay protection. GitLab's newer
signing token follows Standard Webhooks: configure that source with the ``standard`` scheme instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, Verified
from .generic import check_token
from .scheme import Sample, Scheme


def verify_gitlab(req: Request) -> Verified:
    """Verify a GitLab token; ``Idempotency-Key`` (else ``X-Gitlab-Event-UUID``) is the delivery id."""
    check_token(req, req.require_header("X-Gitlab-Token"))
    return Verified(
        delivery_id=req.first_header("Idempotency-Key", "X-Gitlab-Event-UUID"),
        event_type=req.label_header("X-Gitlab-Event"),
        unsigned=("delivery_id", "event_type"),  # a token signs nothing
    )


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A GitLab delivery: the token itself in ``X-Gitlab-Token``."""
    delivery = _samples.uuid_like()
    body = _samples.json_body({"object_kind": "push", "ref": "refs/heads/main"})
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": delivery,
        "X-Gitlab-Token": secret,
    }
    return Sample(headers, body, delivery, event)


SCHEME = Scheme(
    name="gitlab",
    label="GitLab",
    key_label="Secret token",
    verify=verify_gitlab,
    signs="nothing: the token is sent as is (no body integrity)",
    headers=("X-Gitlab-Token",),
    sample=sample,
    sample_event="Push Hook",
    example_key="gitlab-secret-token",
)
