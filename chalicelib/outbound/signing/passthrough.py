"""The ``passthrough`` signing mode: the provider's own headers (its signature included) with the original
bytes, for receivers that verify the provider's format; Standard Webhooks headers are added as well.

Credentials and hop-by-hop headers are never passed on, and neither is any header Hookway sets itself: a
sender must not be able to forge Hookway's provenance headers or make a receiver see two Content-Types.
The ingest already stored no credential of the source (``chalicelib.inbound.credentials``: its token
header, any value holding one of its secrets); the names below are dropped again for messages stored
before that. The provider's signature headers are passed on: verifying them is what this mode is for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.models import API_SOURCE, OPS_SOURCE
from chalicelib.outbound.signing.mode import Mode
from chalicelib.outbound.signing.standard import STANDARD
from chalicelib.outbound.signing.standard import headers_for as standard_headers

if TYPE_CHECKING:
    from chalicelib.models import Endpoint, Message

_NOT_PASSED = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "trailer",
        "expect",
        "proxy-authorization",
        "authorization",
        "cookie",
        "x-gitlab-token",
        "content-type",
        "user-agent",
    }
)
_OURS = ("webhook-", "svix-", "hookway-")


def headers_for(message: Message, endpoint: Endpoint, body: bytes, now: float) -> dict[str, str]:
    """The provider's headers of an inbound message (none for published ones), then the standard ones."""
    headers: dict[str, str] = {}
    if message.source_id not in (API_SOURCE, OPS_SOURCE):
        headers.update(
            {
                k: v
                for k, v in message.headers.items()
                if k.lower() not in _NOT_PASSED and not k.lower().startswith(_OURS)
            }
        )
    headers.update(standard_headers(message, endpoint, body, now))
    return headers


MODE = Mode(
    name="passthrough",
    stored="passthrough",
    label="Pass through",
    headers=STANDARD.headers,  # after the provider's own
    key_rule=STANDARD.key_rule,
    new_key=STANDARD.new_key,
    key_problem=STANDARD.key_problem,
    keeps_provider_signature=True,
)
