"""Meta (Facebook, Instagram, WhatsApp Graph): ``X-Hub-Signature-256`` with the App Secret, as GitHub.

Meta sends no delivery id; the event type is the body's ``object`` (``page``, ``whatsapp_business_account``).
The GET ``hub.challenge`` subscription handshake lives in ``handshake.py``.
"""

from __future__ import annotations

from typing import Any

from ._common import Request, Verified, dig
from .github import hub_signature


def verify_meta(req: Request) -> Verified:
    """Verify a Meta Graph webhook POST."""
    hub_signature(req)
    return Verified.from_body(req.body, _metadata)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return None, dig(document, "object")
