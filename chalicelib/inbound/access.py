"""Access rules a source may add before its signature is checked: IP allowlist, mutual TLS, Basic auth.

The client address is API Gateway's ``requestContext.identity.sourceIp`` (never ``X-Forwarded-For``,
which any client can write); the client certificate is ``requestContext.identity.clientCert``, present
only when the API's custom domain has mutual TLS on (and the default endpoint is off).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.addresses import AddressError, ip_allowed, parse_networks
from chalicelib.errors import RejectedError
from chalicelib.inbound_models import Source
from chalicelib.verification import VerificationError, verify

if TYPE_CHECKING:
    from chalicelib.inbound.request import InboundRequest

_CERT_TIME = "%b %d %H:%M:%S %Y %Z"


def check(source: Source, request: InboundRequest, now: float) -> None:
    """Raise RejectedError (with the source's rejection status) unless every access rule passes."""
    status = source.rejection_status
    if source.ip_allowlist:
        try:
            allowed = request.source_ip is not None and ip_allowed(
                request.source_ip, parse_networks(source.ip_allowlist)
            )
        except AddressError:
            allowed = False
        if not allowed:
            raise RejectedError(
                "the client address is not in this source's allowlist", code="ip_not_allowed", status=status
            )
    if source.mtls is not None:
        check_client_cert(source, request.client_cert, now)
    if source.basic_auth:
        try:
            verify(
                "basic",
                secrets=list(source.basic_auth),
                method=request.method,
                url=request.url,
                headers=request.headers,
                body=b"",
            )
        except VerificationError as exc:
            raise RejectedError(
                "Basic credentials are missing or wrong",
                code=exc.reason,
                status=status,
                headers=challenge_headers("bad_credentials", source),
            ) from None


def check_client_cert(source: Source, cert: Any, now: float) -> None:
    """The client certificate must be present, valid now, and match an allowed subject and issuer."""
    assert source.mtls is not None
    status = source.rejection_status
    if not isinstance(cert, dict) or not cert.get("subjectDN"):
        raise RejectedError(
            "a client certificate is required", code="client_certificate_required", status=status
        )
    validity = cert.get("validity") or {}
    try:
        not_before = datetime.strptime(validity["notBefore"], _CERT_TIME).replace(tzinfo=UTC).timestamp()
        not_after = datetime.strptime(validity["notAfter"], _CERT_TIME).replace(tzinfo=UTC).timestamp()
    except (KeyError, TypeError, ValueError):
        raise RejectedError(
            "the client certificate's validity is unreadable",
            code="client_certificate_invalid",
            status=status,
        ) from None
    if not not_before <= now <= not_after:
        raise RejectedError(
            "the client certificate is not valid now", code="client_certificate_expired", status=status
        )
    rule = source.mtls
    if rule.subjects and cert.get("subjectDN") not in rule.subjects:
        raise RejectedError(
            "the client certificate's subject is not allowed",
            code="client_certificate_rejected",
            status=status,
        )
    if rule.issuers and cert.get("issuerDN") not in rule.issuers:
        raise RejectedError(
            "the client certificate's issuer is not allowed",
            code="client_certificate_rejected",
            status=status,
        )


def challenge_headers(reason: str, source: Source) -> dict[str, str]:
    """``WWW-Authenticate`` for Basic-auth failures, so well-behaved senders retry with credentials."""
    uses_basic = bool(source.basic_auth) or source.verification.scheme == "basic"
    if uses_basic and reason in ("bad_credentials", "missing_header", "malformed_header"):
        return {"WWW-Authenticate": 'Basic realm="hookway", charset="UTF-8"'}
    return {}
