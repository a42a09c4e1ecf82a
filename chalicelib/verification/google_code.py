"""Google Code Project Hosting (historic): ``Google-Code-Project-Hosting-Hook-Hmac: <hex HMAC-MD5(body)>``.

MD5 is what the service used; it is kept for archives and mirrors that still emit the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _samples
from ._common import Request, Verified, body_signature
from .scheme import Sample, Scheme


def verify_google_code(req: Request) -> Verified:
    """Verify a Google Code post-commit hook."""
    body_signature(req, "Google-Code-Project-Hosting-Hook-Hmac", algorithm="md5")
    return Verified()


def sample(secret: str, event: str, now: int, url: str, options: Mapping[str, Any]) -> Sample:
    """A post-commit hook: ``Google-Code-Project-Hosting-Hook-Hmac: <hex HMAC-MD5 of the body>``."""
    body = _samples.json_body({"project_name": "hookway", "revision_count": 1, "event": event})
    headers = {
        "Content-Type": "application/json",
        "Google-Code-Project-Hosting-Hook-Hmac": _samples.hmac_hex(secret, body, "md5"),
    }
    return Sample(headers, body, None, event)


SCHEME = Scheme(
    name="google-code",
    label="Google Code (historic)",
    key_label="Project hook key",
    verify=verify_google_code,
    signs="HMAC-MD5 of the body, hex",
    headers=("Google-Code-Project-Hosting-Hook-Hmac",),
    sample=sample,
    sample_event="post-commit",
    example_key="google-code-key",
)
