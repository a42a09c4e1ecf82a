"""Settings: one frozen dataclass, built once from the environment by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.branding import Branding, BrandingError, check_accent, check_logo_url, check_name
from chalicelib.branding import frame_ancestors as check_frame_ancestors
from chalicelib.errors import ConfigError

KIB = 1024
MIB = 1024 * KIB


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _portal(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``HOOKWAY_PORTAL_*`` settings, checked like an application's branding (ConfigError if unusable)."""
    name = environ.get("HOOKWAY_PORTAL_NAME", "").strip()
    logo = environ.get("HOOKWAY_PORTAL_LOGO_URL", "").strip()
    accent = environ.get("HOOKWAY_PORTAL_ACCENT", "").strip()
    variable = {
        "name": "HOOKWAY_PORTAL_NAME",
        "logo_url": "HOOKWAY_PORTAL_LOGO_URL",
        "accent": "HOOKWAY_PORTAL_ACCENT",
        "frame_ancestors": "HOOKWAY_PORTAL_FRAME_ANCESTORS",
    }
    try:
        return {
            "portal_name": check_name(name) if name else "Webhooks",
            "portal_logo_url": check_logo_url(logo) if logo else "",
            "portal_accent": check_accent(accent) if accent else "#2563eb",
            "portal_frame_ancestors": check_frame_ancestors(
                environ.get("HOOKWAY_PORTAL_FRAME_ANCESTORS", "")
            ),
        }
    except BrandingError as exc:
        raise ConfigError(f"{variable.get(exc.field, exc.field)}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    """Everything Hookway reads from its environment, validated once."""

    stage: str = "local"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    table_name: str = "hookway-state"
    bucket_name: str = ""
    ingest_queue_url: str = ""
    deliveries_queue_url: str = ""
    deliveries_dlq_url: str = ""
    admin_key: str = ""
    admin_key_parameter: str = ""
    public_url: str = ""
    max_body_bytes: int = 4 * MIB
    claim_check_bytes: int = 900 * KIB
    inline_body_bytes: int = 256 * KIB
    source_cache_seconds: int = 10
    endpoint_cache_seconds: int = 10
    router_cache_endpoints: int = 50_000  # endpoints a router container keeps (LRU; ~1.2 KB each)
    replay_window_seconds: int = 3 * 86400
    retention_seconds: int = 30 * 86400
    rejections_kept: int = 50
    disable_after_seconds: int = 5 * 86400
    delivery_lease_seconds: int = 150
    allow_private_destinations: bool = False
    log_level: str = "INFO"
    tracing: bool = False
    ca_bundle: str = ""  # a CA bundle the sender trusts instead of the system store (private receivers)
    egress_ips: tuple[str, ...] = ()
    id_key: str = "hookway-state"  # tags message ids (see chalicelib.ids); not a secret
    strict_event_types: bool = False
    # The KMS key that seals secrets at rest (chalicelib.sealing); empty: stored as they come (tests only).
    kms_key_id: str = ""
    data_key_seconds: int = 900  # how long a data key is used and an unwrapped one is cached
    metrics: bool = True  # the EMF metric lines; `make dev` turns them off unless --verbose
    portal_name: str = "Webhooks"
    portal_logo_url: str = ""  # https, or empty: no logo
    portal_accent: str = "#2563eb"
    # Who may frame the portal: a CSP source list (https origins, 'self'); empty: nobody ('none').
    portal_frame_ancestors: str = ""

    @property
    def portal_frame_ancestors_csp(self) -> str:
        """The portal's ``frame-ancestors`` source list as sent: the setting, or ``'none'``."""
        return self.portal_frame_ancestors or "'none'"

    @property
    def portal_branding(self) -> Branding:
        """The deployment's default portal branding (an application's own overrides it)."""
        return Branding(self.portal_name, self.portal_logo_url or None, self.portal_accent)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raises ConfigError on a bad value."""
        stage = environ.get("HOOKWAY_STAGE", "local").strip() or "local"
        settings = cls(
            stage=stage,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=environ.get("HOOKWAY_AWS_ENDPOINT_URL") or environ.get("AWS_ENDPOINT_URL") or None,
            table_name=environ.get("HOOKWAY_TABLE", "hookway-state"),
            bucket_name=environ.get("HOOKWAY_BUCKET", ""),
            ingest_queue_url=environ.get("HOOKWAY_INGEST_QUEUE_URL", ""),
            deliveries_queue_url=environ.get("HOOKWAY_DELIVERIES_QUEUE_URL", ""),
            deliveries_dlq_url=environ.get("HOOKWAY_DELIVERIES_DLQ_URL", ""),
            admin_key=environ.get("HOOKWAY_ADMIN_KEY", ""),
            admin_key_parameter=environ.get("HOOKWAY_ADMIN_KEY_PARAMETER", ""),
            public_url=environ.get("HOOKWAY_PUBLIC_URL", "").rstrip("/"),
            max_body_bytes=_int(environ, "HOOKWAY_MAX_BODY_BYTES", 4 * MIB, minimum=1),
            claim_check_bytes=_int(environ, "HOOKWAY_CLAIM_CHECK_BYTES", 900 * KIB, minimum=1),
            inline_body_bytes=_int(environ, "HOOKWAY_INLINE_BODY_BYTES", 256 * KIB, minimum=0),
            source_cache_seconds=_int(environ, "HOOKWAY_SOURCE_CACHE_SECONDS", 10),
            endpoint_cache_seconds=_int(environ, "HOOKWAY_ENDPOINT_CACHE_SECONDS", 10),
            router_cache_endpoints=_int(environ, "HOOKWAY_ROUTER_CACHE_ENDPOINTS", 50_000, minimum=500),
            replay_window_seconds=_int(environ, "HOOKWAY_REPLAY_WINDOW_SECONDS", 3 * 86400, minimum=1),
            retention_seconds=_int(environ, "HOOKWAY_RETENTION_SECONDS", 30 * 86400, minimum=3600),
            rejections_kept=_int(environ, "HOOKWAY_REJECTIONS_KEPT", 50, minimum=1),
            disable_after_seconds=_int(environ, "HOOKWAY_DISABLE_AFTER_SECONDS", 5 * 86400, minimum=60),
            delivery_lease_seconds=_int(environ, "HOOKWAY_DELIVERY_LEASE_SECONDS", 150, minimum=1),
            allow_private_destinations=_flag(
                environ.get("HOOKWAY_ALLOW_PRIVATE_DESTINATIONS"), default=stage == "local"
            ),
            log_level=environ.get("HOOKWAY_LOG_LEVEL", "INFO"),
            tracing=_flag(environ.get("HOOKWAY_TRACING"), default=False),
            ca_bundle=environ.get("HOOKWAY_CA_BUNDLE", ""),
            egress_ips=tuple(
                ip.strip() for ip in environ.get("HOOKWAY_EGRESS_IPS", "").split(",") if ip.strip()
            ),
            id_key=environ.get("HOOKWAY_ID_KEY") or environ.get("HOOKWAY_TABLE", "hookway-state"),
            strict_event_types=_flag(environ.get("HOOKWAY_STRICT_EVENT_TYPES"), default=False),
            kms_key_id=environ.get("HOOKWAY_KMS_KEY_ID", "").strip(),
            data_key_seconds=_int(environ, "HOOKWAY_DATA_KEY_SECONDS", 900, minimum=1),
            metrics=_flag(environ.get("HOOKWAY_METRICS"), default=True),
            **_portal(environ),
        )
        if settings.allow_private_destinations and stage != "local":
            raise ConfigError(
                "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS may only be true in the local stage",
                code="invalid_config",
            )
        # Bodies outlive their records: the bucket's lifecycle deletes them after 35 days.
        if settings.retention_seconds > 34 * 86400:
            raise ConfigError("HOOKWAY_RETENTION_SECONDS must be at most 34 days (the S3 lifecycle keeps 35)")
        # A message item must stay under DynamoDB's 400 KB with its headers and attributes.
        if settings.inline_body_bytes > 350 * KIB:
            raise ConfigError("HOOKWAY_INLINE_BODY_BYTES must be at most 350 KiB (DynamoDB items are 400 KB)")
        # The claim check must leave room in the 1 MiB SQS message for the envelope's attributes.
        if settings.claim_check_bytes > 1000 * KIB:
            raise ConfigError("HOOKWAY_CLAIM_CHECK_BYTES must leave room below SQS's 1 MiB")
        return settings
