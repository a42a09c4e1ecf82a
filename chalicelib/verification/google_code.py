"""Google Code Project Hosting (historic): ``Google-Code-Project-Hosting-Hook-Hmac: <hex HMAC-MD5(body)>``.

MD5 is what the service used; it is kept for archives and mirrors that still emit the format.
"""

from __future__ import annotations

from ._common import Request, Verified, body_signature


def verify_google_code(req: Request) -> Verified:
    """Verify a Google Code post-commit hook."""
    body_signature(req, "Google-Code-Project-Hosting-Hook-Hmac", algorithm="md5")
    return Verified()
