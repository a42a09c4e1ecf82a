"""DocuSign Connect: one ``X-DocuSign-Signature-N`` header per active HMAC key, each base64 HMAC-SHA256.

The keys are used as text, not base64-decoded (DocuSign's own samples). Every header is compared against
every configured key, so adding a key before deleting the old one rotates without a gap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, VerificationError, Verified, check_mac, decode_base64, dig, well_formed
from .scheme import Sample, Scheme

_NAME = re.compile(r"x-docusign-signature-[0-9]{1,3}")
#: DocuSign allows many keys per account; far more headers than that is an attack, not a rotation.
_MAX_HEADERS = 100


def verify_docusign(req: Request) -> Verified:
    """Verify a DocuSign Connect notification."""
    names = sorted(name for name in req.headers if isinstance(name, str) and _NAME.fullmatch(name))
    if not names:
        raise VerificationError("missing_header", "no X-DocuSign-Signature-N header")
    if len(names) > _MAX_HEADERS:
        raise VerificationError("malformed_header", "too many X-DocuSign-Signature-N headers")
    # One header per key: a malformed one (bad base64, repeated, too long) is skipped like a malformed
    # entry of a list, so a valid signature under another key still verifies.
    values: list[str] = []
    malformed = False
    for name in names:
        try:
            values.append(req.require_header(name))
        except VerificationError:
            malformed = True
    check_mac(req, well_formed(values, decode_base64, 32, malformed=malformed), req.body)
    return Verified.from_body(req.body, _metadata)


def _metadata(document: Any) -> tuple[str | None, str | None]:
    return None, dig(document, "event")


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A Connect notification: ``X-DocuSign-Signature-1: <base64 HMAC of the body>``."""
    body = _samples.json_body({"event": event, "generatedDateTime": str(now), "data": {}})
    headers = {"Content-Type": "application/json", "X-DocuSign-Signature-1": _samples.hmac_b64(secret, body)}
    return Sample(headers, body, None, event)


SCHEME = Scheme(
    name="docusign",
    label="DocuSign Connect",
    key_label="HMAC key",
    verify=verify_docusign,
    signs="HMAC-SHA256 of the body, base64, one X-DocuSign-Signature-N header per key",
    headers=("X-DocuSign-Signature-1", "X-DocuSign-Signature-2"),
    sample=sample,
    sample_event="envelope-sent",
    example_key="docusign-hmac-key",
)
