"""Settings: one frozen dataclass, built once from the environment by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

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


def _at_most(value: int, maximum: int, name: str) -> int:
    if value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}")
    return value


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


_LOCAL_EXCEPTIONS = {
    "allow_private_destinations": "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS",
    "allow_http": "HOOKWAY_ALLOW_HTTP",
    "insecure_cookies": "HOOKWAY_INSECURE_COOKIES",
}


def loopback_host(url: str) -> bool:
    """Whether a URL's host is this machine's loopback (127.0.0.0/8, ::1, ``localhost``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _check_local_exceptions(settings: Settings) -> None:
    """The local stack's exceptions hold only on one machine: the AWS emulator on loopback, and a public URL
    that is loopback or unset (a tunnel makes the stack reachable from outside: then they are refused)."""
    on = [env for name, env in _LOCAL_EXCEPTIONS.items() if getattr(settings, name)]
    if not on:
        return
    if not (settings.endpoint_url and loopback_host(settings.endpoint_url)):
        raise ConfigError(
            f"{', '.join(on)}: only for the local stack, with HOOKWAY_AWS_ENDPOINT_URL on loopback (the emulator)"
        )
    if settings.public_url and not loopback_host(settings.public_url):
        raise ConfigError(
            f"{', '.join(on)}: refused while HOOKWAY_PUBLIC_URL ({settings.public_url}) is not a loopback address"
        )


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
    slow_deliveries_queue_url: str = ""  # the slow lane; empty: none (every task on the deliveries queue)
    admin_key: str = ""
    admin_key_parameter: str = ""
    public_url: str = ""
    max_body_bytes: int = 4 * MIB
    claim_check_bytes: int = 900 * KIB
    inline_body_bytes: int = 256 * KIB
    source_cache_seconds: int = 10
    endpoint_cache_seconds: int = 10
    router_cache_endpoints: int = 50_000  # endpoints a router container keeps (LRU; ~1.2 KB each)
    job_step_items: int = 500  # items one step of a background job handles at most (a few seconds of work)
    replay_window_seconds: int = 3 * 86400
    retention_seconds: int = 30 * 86400
    rejections_kept: int = 50
    disable_after_seconds: int = 5 * 86400
    delivery_lease_seconds: int = 150
    # The router makes the first attempt of a few plain deliveries itself (chalicelib.outbound
    # .first_attempts); the deliveries queue carries the rest. The router then needs the sender's egress.
    # On by default (it halves the write units and SQS work of a first-try success); a stage turns it
    # off with HOOKWAY_ROUTER_FIRST_ATTEMPT=false.
    router_first_attempt: bool = True
    # The circuit breaker of an endpoint that sets none (chalicelib.outbound.breaker).
    circuit_failures: int = 10
    circuit_probe_seconds: int = 60
    # Park delivery tasks due further ahead than this in the table (chalicelib.outbound.parking); 0: off.
    # The release step runs on the sweep's schedule (every 5 minutes; the local stack runs it too).
    park_after_seconds: int = 900
    # How long after its acceptance a fifo endpoint's delivery waits before it may go (chalicelib.outbound.fifo).
    fifo_settle_seconds: int = 3
    # The local stack's exceptions, each an explicit setting (never derived from the stage name) and
    # accepted only against the emulator on loopback with a loopback (or unset) public URL: see from_env.
    allow_private_destinations: bool = False
    allow_http: bool = False  # endpoints may be plain http:// (demo receivers)
    insecure_cookies: bool = False  # the console's cookie without Secure (http://127.0.0.1)
    admin_key_cache_seconds: int = 60  # how long a warm function keeps the admin key read from SSM
    log_level: str = "INFO"
    tracing: bool = False
    ca_bundle: str = ""  # a CA bundle the sender trusts instead of the system store (private receivers)
    egress_ips: tuple[str, ...] = ()
    id_key: str = "hookway-state"  # tags message ids (see chalicelib.ids); not a secret
    strict_event_types: bool = False
    # The KMS key that seals secrets at rest (chalicelib.sealing); empty: stored as they come (tests only).
    kms_key_id: str = ""
    data_key_seconds: int = 900  # how long a data key is used and an unwrapped one is cached
    # Quotas of a portal token (the operator's own calls are not limited): endpoints in its application,
    # and test, resend and recover calls per token per minute.
    max_endpoints_per_application: int = 100
    token_actions_per_minute: int = 30
    metrics: bool = True  # the EMF metric lines; `make dev` turns them off unless --verbose
    portal_name: str = "Webhooks"
    portal_logo_url: str = ""  # https, or empty: no logo
    portal_accent: str = "#2563eb"
    # Who may frame the portal: a CSP source list (https origins, 'self'); empty: nobody ('none').
    portal_frame_ancestors: str = ""

    @property
    def emulator_address(self) -> tuple[str, int] | None:
        """The AWS emulator's own host and port when AWS is one on loopback: never a webhook destination."""
        if not self.endpoint_url or not loopback_host(self.endpoint_url):
            return None
        parts = urlsplit(self.endpoint_url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        host = parts.hostname or ""
        return ("127.0.0.1" if host == "localhost" else host), port

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
            slow_deliveries_queue_url=environ.get("HOOKWAY_SLOW_DELIVERIES_QUEUE_URL", ""),
            admin_key=environ.get("HOOKWAY_ADMIN_KEY", ""),
            admin_key_parameter=environ.get("HOOKWAY_ADMIN_KEY_PARAMETER", ""),
            public_url=environ.get("HOOKWAY_PUBLIC_URL", "").rstrip("/"),
            max_body_bytes=_int(environ, "HOOKWAY_MAX_BODY_BYTES", 4 * MIB, minimum=1),
            claim_check_bytes=_int(environ, "HOOKWAY_CLAIM_CHECK_BYTES", 900 * KIB, minimum=1),
            inline_body_bytes=_int(environ, "HOOKWAY_INLINE_BODY_BYTES", 256 * KIB, minimum=0),
            source_cache_seconds=_int(environ, "HOOKWAY_SOURCE_CACHE_SECONDS", 10),
            endpoint_cache_seconds=_int(environ, "HOOKWAY_ENDPOINT_CACHE_SECONDS", 10),
            router_cache_endpoints=_int(environ, "HOOKWAY_ROUTER_CACHE_ENDPOINTS", 50_000, minimum=500),
            job_step_items=_at_most(
                _int(environ, "HOOKWAY_JOB_STEP_ITEMS", 500, minimum=10), 500, "HOOKWAY_JOB_STEP_ITEMS"
            ),
            replay_window_seconds=_int(environ, "HOOKWAY_REPLAY_WINDOW_SECONDS", 3 * 86400, minimum=1),
            retention_seconds=_int(environ, "HOOKWAY_RETENTION_SECONDS", 30 * 86400, minimum=3600),
            rejections_kept=_int(environ, "HOOKWAY_REJECTIONS_KEPT", 50, minimum=1),
            disable_after_seconds=_int(environ, "HOOKWAY_DISABLE_AFTER_SECONDS", 5 * 86400, minimum=60),
            delivery_lease_seconds=_int(environ, "HOOKWAY_DELIVERY_LEASE_SECONDS", 150, minimum=1),
            router_first_attempt=_flag(environ.get("HOOKWAY_ROUTER_FIRST_ATTEMPT"), default=True),
            circuit_failures=_at_most(
                _int(environ, "HOOKWAY_CIRCUIT_FAILURES", 10, minimum=1), 1000, "HOOKWAY_CIRCUIT_FAILURES"
            ),
            park_after_seconds=_at_most(
                _int(environ, "HOOKWAY_PARK_AFTER_SECONDS", 900, minimum=0), 900, "HOOKWAY_PARK_AFTER_SECONDS"
            ),
            fifo_settle_seconds=_at_most(
                _int(environ, "HOOKWAY_FIFO_SETTLE_SECONDS", 3, minimum=0), 60, "HOOKWAY_FIFO_SETTLE_SECONDS"
            ),
            circuit_probe_seconds=_at_most(
                _int(environ, "HOOKWAY_CIRCUIT_PROBE_SECONDS", 60, minimum=1),
                3600,
                "HOOKWAY_CIRCUIT_PROBE_SECONDS",
            ),
            allow_private_destinations=_flag(
                environ.get("HOOKWAY_ALLOW_PRIVATE_DESTINATIONS"), default=False
            ),
            allow_http=_flag(environ.get("HOOKWAY_ALLOW_HTTP"), default=False),
            insecure_cookies=_flag(environ.get("HOOKWAY_INSECURE_COOKIES"), default=False),
            admin_key_cache_seconds=_int(environ, "HOOKWAY_ADMIN_KEY_CACHE_SECONDS", 60),
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
            max_endpoints_per_application=_int(
                environ, "HOOKWAY_MAX_ENDPOINTS_PER_APPLICATION", 100, minimum=1
            ),
            token_actions_per_minute=_int(environ, "HOOKWAY_TOKEN_ACTIONS_PER_MINUTE", 30, minimum=1),
            metrics=_flag(environ.get("HOOKWAY_METRICS"), default=True),
            **_portal(environ),
        )
        _check_local_exceptions(settings)
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
