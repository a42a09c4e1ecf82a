"""The models of the ingest path (a source and its verification, a claim check, a rejection): apart from
the rest of ``chalicelib.models``, which re-exports them, so a webhook's cold start builds these alone."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Secret:
    """One verification secret of a source; several may be live at once during a rotation."""

    id: str
    value: str
    created_at: float
    expires_at: float | None = None

    def live(self, now: float) -> bool:
        """True while the secret may still verify requests."""
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class Verification:
    """How a source's requests are verified: a scheme of chalicelib.verification and its inputs."""

    scheme: str
    secrets: tuple[Secret, ...] = ()
    tolerance: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def live_secrets(self, now: float) -> list[str]:
        """The secret values that may verify a request received at ``now``."""
        return [s.value for s in self.secrets if s.live(now)]


@dataclass(frozen=True)
class MtlsRule:
    """Which client certificates a source accepts (from API Gateway's requestContext.identity.clientCert)."""

    subjects: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """A third party that sends webhooks to ``/in/{id}``, with its verification and access rules."""

    id: str
    name: str
    verification: Verification
    created_at: float
    updated_at: float
    description: str = ""
    ip_allowlist: tuple[str, ...] = ()
    basic_auth: tuple[str, ...] = ()  # "user:password" entries; any may match
    mtls: MtlsRule | None = None
    rejection_status: int = 401
    dedupe: str | None = None  # None: provider default; "header:NAME", "json:/pointer", "body", "none"
    replay_window: int = 3 * 86400
    max_body_bytes: int | None = None
    enabled: bool = True
    application_id: str | None = None  # inbound webhooks then reach only that application's endpoints

    def with_changes(self, **changes: Any) -> Source:
        """A copy with the given fields replaced."""
        return replace(self, **changes)


@dataclass(frozen=True)
class BodyRef:
    """A claim check: where a large body lives in S3, and how to know it is intact."""

    bucket: str
    key: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Rejection:
    """A recent rejected request, kept briefly so an operator can see why a provider is failing."""

    source_id: str
    at: float
    code: str
    message: str
    source_ip: str | None
    method: str
    content_type: str
    size: int
    user_agent: str
    header_names: tuple[str, ...] = ()  # which headers came (never their values: they may be secrets)
