"""The composition root: the only place that reads Settings and makes boto3 clients.

Everything is built on first use and kept for the life of the Lambda container, so a route pays only
for what it touches and the warm path makes no setup calls.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.ids import MessageIds

if TYPE_CHECKING:
    from chalicelib.applications import ApplicationService
    from chalicelib.caches import ApplicationCache, EndpointCache, SourceCache, SubscriptionCache
    from chalicelib.endpoints import EndpointService
    from chalicelib.event_types import EventTypeService
    from chalicelib.inbound.ingest import IngestService
    from chalicelib.inbound.rejections import RejectionLog
    from chalicelib.jobs import JobRunner, Jobs
    from chalicelib.limits import RateLimiter
    from chalicelib.messages import MessageService
    from chalicelib.outbound.dead_letters import DeadLetters
    from chalicelib.outbound.delivery import Sender
    from chalicelib.outbound.egress import OutboundTransport, Resolver
    from chalicelib.outbound.listen import ListenService
    from chalicelib.outbound.recovery import Recovery
    from chalicelib.outbound.routing import Router
    from chalicelib.ports import BlobStore, Queue, Store
    from chalicelib.publish import Publisher
    from chalicelib.sealing import Keyring, Sealer
    from chalicelib.sessions import SessionService
    from chalicelib.sources import SourceService
    from chalicelib.stats import StatsService
    from chalicelib.sweep import Sweep
    from chalicelib.tally import Tally
    from chalicelib.tokens import TokenService

log = logging.getLogger("hookway")


class Metrics:
    """Counters and timings, kept in memory and written once per invocation as CloudWatch EMF lines.

    Counting is a dictionary update (no AWS call, no I/O on the request path); ``flush()`` at the end of an
    invocation writes one embedded-metric-format line per distinct (name, dimensions) with the summed
    value, declaring two dimension sets: ``[stage]`` (what alarms and the dashboard read) and ``[stage,
    reason]`` when a reason is given, so one line serves both. Timings (milliseconds) are written as one
    line per name with every value observed.

    Only ``DIMENSIONS`` (values from a small fixed set) become dimensions: every distinct value is a custom
    metric billed per month, so a tenant id (source, application, endpoint) as a dimension would be a bill
    that grows with tenants (10^5 sources: ~$18k a month). Any other keyword is dropped; ids belong in the
    JSON log lines, where Logs Insights and Contributor Insights find them.
    """

    DIMENSIONS = frozenset({"reason"})

    def __init__(
        self,
        namespace: str,
        stage: str,
        write: Callable[[str], Any] | None = None,
        enabled: bool = True,
        level: str = "INFO",
    ) -> None:
        self._namespace = namespace
        # Lambda's log-level filter reads a line without "level" as INFO: at a stage's WARN it would drop
        # every metric. The lines carry the stage's own level, so the filter always lets them through.
        self._level = LAMBDA_LEVEL_NAMES.get(level.upper(), level.upper())
        self._stage = stage
        self._enabled = enabled
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._timings: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._write = write or _stdout_line

    def count(self, name: str, **dimensions: str) -> None:
        """Add one to ``name`` with the given dimensions (those outside ``DIMENSIONS`` are dropped)."""
        kept = sorted((k, v) for k, v in dimensions.items() if k in self.DIMENSIONS)
        key = (name, tuple(kept))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def observe(self, name: str, milliseconds: float) -> None:
        """Record one timing of ``name``."""
        with self._lock:
            self._timings.setdefault(name, []).append(round(float(milliseconds), 3))

    def flush(self) -> None:
        """Write what was counted and timed since the last flush."""
        with self._lock:
            counts, self._counts = self._counts, {}
            timings, self._timings = self._timings, {}
        if not self._enabled:
            return  # HOOKWAY_METRICS=false: counted, never written (the local stack's quiet log)
        stamp = int(time.time() * 1000)
        for (name, dimensions), value in counts.items():
            finer = [k for k, _ in dimensions]
            sets = [["stage"], ["stage", *finer]] if finer else [["stage"]]
            self._write(self._line(stamp, name, "Count", value, sets, dict(dimensions)))
        for name, values in timings.items():
            self._write(self._line(stamp, name, "Milliseconds", values, [["stage"]], {}))

    def _line(
        self, stamp: int, name: str, unit: str, value: Any, sets: list[list[str]], dims: dict[str, str]
    ) -> str:
        doc = {
            "_aws": {
                "Timestamp": stamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": sets,
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            "level": self._level,
            "stage": self._stage,
            **dims,
            name: value,
        }
        return json.dumps(doc, separators=(",", ":"))


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# Python's level names that Lambda's log-level filter spells otherwise: it reads a name it does not know
# as INFO, so a stage filtering at WARN would drop its own warnings.
LAMBDA_LEVEL_NAMES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _lambda_level_name(record: logging.LogRecord) -> bool:
    record.levelname = LAMBDA_LEVEL_NAMES.get(record.levelname, record.levelname)
    return True


def configure_logging(level: str) -> None:
    """JSON log lines through the Powertools formatter on the ``hookway`` logger, once per process.

    Every module logs to ``logging.getLogger("hookway.<module>")`` with ``extra=`` correlation fields
    (message_id, source_id, application_id, endpoint_id, attempt, reason): the formatter renders them as
    keys of one JSON object per line, which CloudWatch Logs Insights queries directly. Chalice has already
    put a plain stdout handler on this logger (its ``app.log``); that handler gets the formatter too. A
    handler that asks to keep its own format (``keep_format = True``: the local stack's readable log) is
    left as it is.
    """
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    logger = logging.getLogger("hookway")
    logger.setLevel(level)
    logger.propagate = False
    # RFC 3339 UTC timestamps: Lambda's JSON log filter reads a line whose timestamp it cannot parse as INFO.
    formatter = LambdaPowertoolsFormatter(service="hookway", use_rfc3339=True, utc=True)
    streams = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    if not streams:
        handler = logging.StreamHandler(sys.stdout)
        logger.addHandler(handler)
        streams = [handler]
    for handler in streams:
        if not getattr(handler, "keep_format", False):
            handler.setFormatter(formatter)
            if _lambda_level_name not in handler.filters:
                handler.addFilter(_lambda_level_name)


class _LazyBlobs:
    """A BlobStore whose S3 client is made on first use: most webhooks never need the claim check."""

    def __init__(self, make: Any) -> None:
        self._make = make

    def put(self, key: str, data: bytes) -> str:
        """Store bytes (see S3BlobStore.put)."""
        return str(self._make().put(key, data))

    def get(self, key: str) -> bytes:
        """Read bytes (see S3BlobStore.get)."""
        return bytes(self._make().get(key))


#: boto3 client settings per use of a client. The request path (every API route, and above all
#: ``/in/{source}``) must answer 503 well inside API Gateway's 29 s and the providers' own timeouts
#: (GitHub gives up after 10 s): a stalled AWS call there costs at most a 1 s connect or read timeout, twice,
#: with one backoff of under a second between, about 3 s in all, so the 503 comes within 5 s. Background
#: consumers (the SQS handlers) wait longer and retry more: SQS redelivers whatever they fail, and giving
#: up early there only costs a redelivery later.
CLIENT_PROFILES: dict[str, dict[str, Any]] = {
    "request": {
        "connect_timeout": 1,
        "read_timeout": 1,
        "retries": {"mode": "standard", "total_max_attempts": 2},
    },
    "background": {
        "connect_timeout": 5,
        "read_timeout": 30,
        "retries": {"mode": "standard", "total_max_attempts": 5},
    },
    # Best-effort writes (hourly counters, rejection logs; chalicelib.besteffort): one attempt, short
    # timeouts, on a client of their own, so they never retry inside a batch or a request and never spend
    # the retry budget botocore keeps per client for the writes that matter.
    "best_effort": {
        "connect_timeout": 1,
        "read_timeout": 1,
        "retries": {"mode": "standard", "total_max_attempts": 1},
    },
}
# The adapters that exist in several profiles: an override of one (a test's fake) stands for all.
_PROFILED = {
    "store": ("background_store", "best_effort_store"),
    "blobs": ("background_blobs",),
    "ingest_queue": ("background_ingest_queue",),
    "deliveries_queue": ("background_deliveries_queue",),
}


class Container:
    """Adapters and services, each built once on first use.

    The app, the local stack, the tests and the benchmarks all build their services here. Tests hand in
    fakes for the adapters (``store=``, ``ingest_queue=``, ``deliveries_queue=``, ``blobs=``,
    ``transport=``, ``count=``...): an override simply takes the place of what would have been built.

    Adapters come in two client profiles (``CLIENT_PROFILES``): the plain names (``store``, ...) are the
    request path's, with tight timeouts; ``background_store`` and the like are the queue consumers' (router,
    sender); ``best_effort_store`` is the counters' and rejection logs'. The local stack may run the API and
    the workers in one process, so the profile is chosen per use, not per process. A fake handed in as
    ``store`` serves all three.
    """

    def __init__(self, settings: Settings, clock: Any = time.time, **overrides: Any) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._session: Any = None
        self._admin_key: tuple[float, str] | None = None  # (read at, value) from SSM
        self.use(**overrides)

    def use(self, **parts: Any) -> None:
        """Put ``parts`` (fakes, a pinned transport...) in place of what would be built; an adapter of several
        profiles (``store``, ``blobs``, ``ingest_queue``, ``deliveries_queue``) replaces its twins too
        (``background_...``, ``best_effort_store``), unless they are given as well."""
        for name, value in parts.items():
            if not isinstance(getattr(type(self), name, None), cached_property):
                raise TypeError(f"Container has no part named {name!r}")
            self.__dict__[name] = value
            for twin in _PROFILED.get(name, ()):
                if twin not in parts:
                    self.__dict__[twin] = value

    def _client(self, service: str, purpose: str = "request") -> Any:
        import boto3
        from botocore.config import Config

        config = Config(max_pool_connections=50, **CLIENT_PROFILES[purpose])
        with self._lock:  # one session for all clients, used under a lock: sessions are not thread-safe
            if self._session is None:
                self._session = boto3.session.Session()
            session: Any = self._session
            return session.client(
                service,
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                config=config,
            )

    @property
    def admin_key(self) -> str:
        """The admin API key: from the environment, else from SSM Parameter Store (decrypted), kept for
        ``admin_key_cache_seconds``, so a rotated key reaches warm functions (and ends the old key's
        console sessions) within that time."""
        if self.settings.admin_key or not self.settings.admin_key_parameter:
            return self.settings.admin_key
        now = self.clock()
        kept = self._admin_key
        if kept is not None and now - kept[0] < self.settings.admin_key_cache_seconds:
            return kept[1]
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.errors import StorageError

        try:
            result = self.api_ssm.get_parameter(Name=self.settings.admin_key_parameter, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            # Not cached: the next admin call tries again.
            raise StorageError("the admin key parameter cannot be read") from exc
        value = str(result["Parameter"]["Value"])
        self._admin_key = (now, value)
        return value

    @cached_property
    def api_ssm(self) -> Any:
        """The API's SSM client (the admin key; request profile), made on first use."""
        return self._client("ssm", "request")

    @cached_property
    def metrics(self) -> Metrics:
        """The metrics emitter."""
        return Metrics(
            "Hookway", self.settings.stage, enabled=self.settings.metrics, level=self.settings.log_level
        )

    @cached_property
    def count(self) -> Any:
        """Where services count what happened (the metrics emitter's ``count``)."""
        return self.metrics.count

    def _store(self, purpose: str) -> Store:
        from chalicelib.aws.dynamo import DynamoStore
        from chalicelib.sealing import SealedStore

        store = DynamoStore(self._client("dynamodb", purpose), self.settings.table_name, self.clock)
        return store if self.sealer is None else SealedStore(store, self.sealer)

    @cached_property
    def keyring(self) -> Keyring:
        """Data keys from the stage's KMS key; its client is made on the first seal or open."""
        from chalicelib.aws.kms import KmsKeyring

        return KmsKeyring(lambda: self.kms, self.settings.kms_key_id, self.settings.stage)

    @cached_property
    def kms(self) -> Any:
        """The KMS client (request profile: a seal or an open is on the API's request path)."""
        return self._client("kms", "request")

    @cached_property
    def sealer(self) -> Sealer | None:
        """Seals secrets at rest, one per container (its data-key caches); None without a KMS key."""
        if not self.settings.kms_key_id:
            return None
        from chalicelib.sealing import Sealer

        return Sealer(self.keyring, self.clock, lifetime=self.settings.data_key_seconds)

    def _blobs(self, purpose: str) -> BlobStore:
        def make() -> BlobStore:
            from chalicelib.aws.s3 import S3BlobStore

            return S3BlobStore(self._client("s3", purpose), self.settings.bucket_name)

        return _LazyBlobs(make)

    def _queue(self, purpose: str, url: str) -> Queue:
        from chalicelib.aws.sqs import SqsQueue

        return SqsQueue(self._sqs(purpose), url)

    def _sqs(self, purpose: str) -> Any:
        key = f"_sqs_{purpose}"
        if key not in self.__dict__:
            self.__dict__[key] = self._client("sqs", purpose)  # one client for both queues
        return self.__dict__[key]

    @cached_property
    def store(self) -> Store:
        """The DynamoDB state store (request profile)."""
        return self._store("request")

    @cached_property
    def background_store(self) -> Store:
        """The DynamoDB state store of the queue consumers (background profile)."""
        return self._store("background")

    @cached_property
    def best_effort_store(self) -> Store:
        """The store of best-effort writes (counters, rejection logs): its own one-attempt client."""
        from chalicelib.aws.dynamo import DynamoStore

        # Not sealed: counters and rejections hold no secret.
        return DynamoStore(self._client("dynamodb", "best_effort"), self.settings.table_name, self.clock)

    @cached_property
    def blobs(self) -> BlobStore:
        """The S3 claim-check store, its client made on first use (most webhooks never need it)."""
        return self._blobs("request")

    @cached_property
    def background_blobs(self) -> BlobStore:
        """The S3 claim-check store of the queue consumers."""
        return self._blobs("background")

    @cached_property
    def rand(self) -> Callable[[], float]:
        """Jitter for retry delays (tests pin it)."""
        import random

        return random.random

    @cached_property
    def resolver(self) -> Resolver | None:
        """How endpoint URLs are resolved at registration (None: the system resolver; tests pin it)."""
        return None

    @cached_property
    def ids(self) -> MessageIds:
        """Message ids with this deployment's tag."""
        return MessageIds(self.settings.id_key.encode())

    @cached_property
    def ingest_queue(self) -> Queue:
        """The ingest queue (request profile: the ingest route and publishing enqueue here)."""
        return self._queue("request", self.settings.ingest_queue_url)

    @cached_property
    def background_ingest_queue(self) -> Queue:
        """The ingest queue of the router (it deletes its batch there) and of operational events."""
        return self._queue("background", self.settings.ingest_queue_url)

    @cached_property
    def source_cache(self) -> SourceCache:
        """Sources cached briefly for the ingest path."""
        from chalicelib.caches import SourceCache

        return SourceCache(self.store, self.clock, self.settings.source_cache_seconds)

    @cached_property
    def ingest(self) -> IngestService:
        """The ingest service."""
        from chalicelib.inbound.ingest import IngestService

        return IngestService(
            sources=self.source_cache,
            store=self.best_effort_store,  # only its rejection records and counts: best effort
            queue=self.ingest_queue,
            blobs=self.blobs,
            clock=self.clock,
            max_body_bytes=self.settings.max_body_bytes,
            claim_check_bytes=self.settings.claim_check_bytes,
            rejections_kept=self.settings.rejections_kept,
            ids=self.ids,
            count=self.count,
            rejections=self.rejection_log,
        )

    @cached_property
    def rejection_log(self) -> RejectionLog:
        """Rejected requests, added up per container and written at most once a second per source."""
        from chalicelib.inbound.rejections import RejectionLog

        return RejectionLog(
            self.best_effort_store,  # one attempt, short timeouts: a flush never retries (chalicelib.besteffort)
            self.clock,
            ring_size=self.settings.rejections_kept,
            tally=self._tally(),
        )

    @cached_property
    def deliveries_queue(self) -> Queue:
        """The deliveries queue (request profile: resend and recover enqueue here)."""
        return self._queue("request", self.settings.deliveries_queue_url)

    @cached_property
    def background_deliveries_queue(self) -> Queue:
        """The deliveries queue of the router and the sender."""
        return self._queue("background", self.settings.deliveries_queue_url)

    @cached_property
    def deliveries_dlq(self) -> Queue:
        """The deliveries dead-letter queue (its handler deletes what it ended; background profile)."""
        return self._queue("background", self.settings.deliveries_dlq_url)

    @cached_property
    def endpoint_cache(self) -> EndpointCache:
        """Endpoints cached briefly for the API (resend, recover)."""
        from chalicelib.caches import EndpointCache

        return EndpointCache(self.store, self.clock, self.settings.endpoint_cache_seconds)

    @cached_property
    def background_endpoint_cache(self) -> EndpointCache:
        """Endpoints cached briefly for the router and the sender."""
        from chalicelib.caches import EndpointCache

        return EndpointCache(self.background_store, self.clock, self.settings.endpoint_cache_seconds)

    @cached_property
    def routing_endpoint_cache(self) -> EndpointCache:
        """Endpoints as the router matches them: secrets left sealed (it needs none and may not use KMS)."""
        from chalicelib.caches import EndpointCache
        from chalicelib.sealing import unsealed

        return EndpointCache(
            unsealed(self.background_store), self.clock, self.settings.endpoint_cache_seconds
        )

    @cached_property
    def subscriptions(self) -> SubscriptionCache:
        """The router's endpoints by subscription page, reloaded only when an owner's version moves."""
        from chalicelib.caches import SubscriptionCache
        from chalicelib.sealing import unsealed

        return SubscriptionCache(
            unsealed(self.background_store),
            self.clock,
            check_seconds=self.settings.endpoint_cache_seconds,
            max_endpoints=self.settings.router_cache_endpoints,
        )

    def _tally(self) -> Tally:
        from chalicelib.tally import Tally

        return Tally(self.best_effort_store, self.clock)

    def _endpoints_changed(self) -> None:
        # Both caches, where built: the local stack serves the API and runs the workers in one process.
        for name in (
            "endpoint_cache",
            "background_endpoint_cache",
            "routing_endpoint_cache",
            "subscriptions",
        ):
            if name in self.__dict__:
                self.__dict__[name].invalidate()

    @cached_property
    def router(self) -> Router:
        """The router (ingest queue consumer, background profile)."""
        from chalicelib.outbound.routing import EndpointFanout, Router

        return Router(
            store=self.background_store,
            blobs=self.background_blobs,
            fanout=EndpointFanout(
                self.routing_endpoint_cache,
                self.background_deliveries_queue,
                subscriptions=self.subscriptions,
                store=self.background_store,
                chunks=self.background_ingest_queue,
            ),
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            inline_body_bytes=self.settings.inline_body_bytes,
            count=self.count,
            tally=self._tally(),
        )

    @cached_property
    def publisher(self) -> Publisher:
        """Publishes messages (``POST /v1/messages``; request profile)."""
        from chalicelib.publish import Publisher

        return Publisher(
            store=self.store,
            queue=self.ingest_queue,
            clock=self.clock,
            ids=self.ids,
            resolve_application=self.applications.resolve_cached,
            check_payload=self.event_types.check_payload,
            endpoint_of=self.endpoints.get,
        )

    @cached_property
    def background_publisher(self) -> Publisher:
        """Publishes the sender's operational events (background profile)."""
        from chalicelib.publish import Publisher

        return Publisher(
            store=self.background_store, queue=self.background_ingest_queue, clock=self.clock, ids=self.ids
        )

    @cached_property
    def transport(self) -> OutboundTransport:
        """The SSRF-guarded HTTP transport, one per container (it holds the connection pools and CAs)."""
        from chalicelib.outbound.client_certs import ClientCertificates, aws_reader
        from chalicelib.outbound.egress import Transport

        certificates = ClientCertificates(
            aws_reader(lambda: self.secretsmanager, lambda: self.ssm), self.clock, ttl=300.0
        )
        return Transport(
            allow_private=self.settings.allow_private_destinations,
            https_only=not self.settings.allow_http,
            pool_maxsize=10,
            ca_file=self.settings.ca_bundle or None,
            certificates=certificates,
            refused=self._refused_destinations,
        )

    @property
    def _refused_destinations(self) -> tuple[tuple[str, int], ...]:
        address = self.settings.emulator_address
        return (address,) if address else ()

    @cached_property
    def secretsmanager(self) -> Any:
        """The sender's Secrets Manager client (outbound mTLS certificates), made on first use."""
        return self._client("secretsmanager", "background")

    @cached_property
    def ssm(self) -> Any:
        """The sender's SSM client (outbound mTLS certificates), made on first use."""
        return self._client("ssm", "background")

    @cached_property
    def sender(self) -> Sender:
        """The sender (deliveries queue consumer)."""
        from chalicelib.outbound.delivery import Sender

        return Sender(
            store=self.background_store,
            blobs=self.background_blobs,
            queue=self.background_deliveries_queue,
            transport=self.transport,
            endpoints=self.background_endpoint_cache,
            publisher=self.background_publisher,
            clock=self.clock,
            rand=self.rand,
            disable_after=self.settings.disable_after_seconds,
            lease_seconds=self.settings.delivery_lease_seconds,
            retention_seconds=self.settings.retention_seconds,
            count=self.count,
            observe=self.metrics.observe,
            tally=self._tally(),
            certificate_prefixes=_certificate_prefixes(self.settings.stage),
            health_memory_seconds=self.settings.endpoint_cache_seconds,
        )

    @cached_property
    def sleep(self) -> Callable[[float], None]:
        """How a long poll waits (tests pass a virtual clock's sleep)."""
        return time.sleep

    @cached_property
    def api_sender(self) -> Sender:
        """The sender as the API uses it (a listen session's reports): request-path clients."""
        from chalicelib.outbound.delivery import Sender

        return Sender(
            store=self.store,
            blobs=self.blobs,
            queue=self.deliveries_queue,
            transport=self.transport,
            endpoints=self.endpoint_cache,
            publisher=self.publisher,
            clock=self.clock,
            rand=self.rand,
            disable_after=self.settings.disable_after_seconds,
            lease_seconds=self.settings.delivery_lease_seconds,
            retention_seconds=self.settings.retention_seconds,
            count=self.count,
            max_workers=1,
            tally=self._tally(),
            certificate_prefixes=_certificate_prefixes(self.settings.stage),
        )

    @cached_property
    def listen(self) -> ListenService:
        """Listen sessions: pull and report."""
        from chalicelib.outbound.listen import ListenService

        return ListenService(
            store=self.store,
            endpoints=self.endpoints,
            sender=lambda: self.api_sender,
            clock=self.clock,
            sleep=self.sleep,
        )

    @cached_property
    def recovery(self) -> Recovery:
        """Resend and recovery of deliveries."""
        from chalicelib.outbound.recovery import Recovery

        return Recovery(
            store=self.store,
            queue=self.deliveries_queue,
            endpoints=self.endpoint_cache,
            clock=self.clock,
            message_of=self.messages.message,
            endpoint_of=self.endpoints.get,
        )

    @cached_property
    def token_limiter(self) -> RateLimiter:
        """How often a portal token may test, resend and recover (per token, in this container)."""
        from chalicelib.limits import RateLimiter

        return RateLimiter(self.settings.token_actions_per_minute, 60.0, self.clock)

    @cached_property
    def endpoints(self) -> EndpointService:
        """The endpoint management service."""
        from chalicelib.endpoints import EndpointService

        return EndpointService(
            self.store,
            self.clock,
            allow_private=self.settings.allow_private_destinations,
            https_only=not self.settings.allow_http,
            resolver=self.resolver,
            refused=self._refused_destinations,
            on_change=self._endpoints_changed,
            retention_seconds=self.settings.retention_seconds,
            resolve_application=self.applications.resolve,
            certificate_prefixes=_certificate_prefixes(self.settings.stage),
            max_endpoints_per_application=self.settings.max_endpoints_per_application,
        )

    @cached_property
    def sources(self) -> SourceService:
        """The source management service."""
        from chalicelib.sources import SourceService

        return SourceService(
            self.store,
            self.source_cache,
            self.clock,
            self.settings.replay_window_seconds,
            resolve_application=self.applications.resolve,
            settle_rejections=self.rejection_log.settle,
        )

    def health(self) -> dict[str, str]:
        """``{"status": "ok", "stage"}`` when the state table answers; StorageError (503) otherwise."""
        self.store.ping()
        return {"status": "ok", "stage": self.settings.stage}

    @cached_property
    def applications(self) -> ApplicationService:
        """Applications (tenants)."""
        from chalicelib.applications import ApplicationService

        return ApplicationService(
            self.store,
            self.clock,
            start_job=self.jobs.start,
            default_branding=self.settings.portal_branding,
            cache=self.application_cache,
        )

    @cached_property
    def application_cache(self) -> ApplicationCache:
        """Applications cached briefly for publishing (like sources for ingest)."""
        from chalicelib.caches import ApplicationCache

        return ApplicationCache(self.store, self.clock, self.settings.source_cache_seconds)

    @cached_property
    def jobs(self) -> Jobs:
        """Background jobs as the API starts and reads them (the first step goes on the ingest queue)."""
        from chalicelib.jobs import Jobs

        return Jobs(store=self.store, queue=self.ingest_queue, clock=self.clock)

    @cached_property
    def job_runner(self) -> JobRunner:
        """Runs job steps handed over by the ingest queue's consumer (background profile)."""
        from chalicelib.endpoints import ApplicationEndpointsDeletion
        from chalicelib.jobs import JobRunner, StepHandler
        from chalicelib.outbound.recovery import Recovery
        from chalicelib.sealing import unsealed

        store = unsealed(self.background_store)  # secrets stay sealed: no step needs one
        recovery = Recovery(
            store=store,
            queue=self.background_deliveries_queue,
            endpoints=self.routing_endpoint_cache,
            clock=self.clock,
        )
        handlers: dict[str, StepHandler] = {
            "application.delete": ApplicationEndpointsDeletion(store, self._endpoints_changed),
            "endpoint.recover": recovery.recover_step,
            "endpoint.replay": recovery.replay_step,
        }
        return JobRunner(store=store, queue=self.background_ingest_queue, clock=self.clock, handlers=handlers)

    @cached_property
    def stats(self) -> StatsService:
        """The console's overview: hourly counts and the endpoints that need attention."""
        from chalicelib.stats import StatsService

        return StatsService(self.store, self.clock)

    @cached_property
    def tokens(self) -> TokenService:
        """Authentication: the admin key and portal tokens."""
        from chalicelib.tokens import TokenService

        return TokenService(self.store, self.clock, lambda: self.admin_key)

    @cached_property
    def sessions(self) -> SessionService:
        """Console sign-in: sessions in an HttpOnly cookie, requests checked for their CSRF token."""
        from chalicelib.sessions import SessionService

        return SessionService(
            self.store, self.clock, lambda: self.admin_key, secure=not self.settings.insecure_cookies
        )

    @cached_property
    def messages(self) -> MessageService:
        """Message reads: one message, search, body, attempts."""
        from chalicelib.messages import MessageService

        return MessageService(
            store=self.store,
            blobs=self.blobs,
            ids=self.ids,
            resolve_application=self.applications.resolve,
            check_endpoint=self.endpoints.get,
        )

    @cached_property
    def event_types(self) -> EventTypeService:
        """The event-type catalog."""
        from chalicelib.event_types import EventTypeService

        return EventTypeService(
            self.store,
            self.clock,
            ttl=self.settings.endpoint_cache_seconds,
            strict=self.settings.strict_event_types,
        )

    @cached_property
    def tracer(self) -> Any:
        """The Powertools Tracer (X-Ray), only when the stage turns tracing on: never imported otherwise."""
        from aws_lambda_powertools import Tracer

        return Tracer(service="hookway")

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """Ends the deliveries of tasks that reached the deliveries dead-letter queue."""
        from chalicelib.outbound.dead_letters import DeadLetters
        from chalicelib.sealing import unsealed

        return DeadLetters(
            store=unsealed(self.background_store),
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            count=self.count,
            tally=self._tally(),
        )

    @cached_property
    def sweep(self) -> Sweep:
        """The scheduled sweep: endpoint health without traffic, from the attention index, in bounded runs."""
        from chalicelib.sealing import unsealed
        from chalicelib.sweep import Sweep

        return Sweep(
            store=unsealed(self.background_store),  # secrets stay sealed: the sweep needs none
            publisher=self.background_publisher,
            clock=self.clock,
            disable_after=self.settings.disable_after_seconds,
            count=self.count,
        )


def _certificate_prefixes(stage: str) -> dict[str, str]:
    """Where a stage's client certificates may live: what its sender's IAM policy can read."""
    from chalicelib.names import names

    n = names(stage)
    return {"secretsmanager": n.secret_prefix, "ssm": f"{n.parameter_path}certs/"}


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    """The process-wide container, built from the environment on first use."""
    global _container  # noqa: PLW0603 - one composition root per Lambda container
    if _container is None:
        with _container_lock:
            if _container is None:
                settings = Settings.from_env(os.environ)
                configure_logging(settings.log_level)
                _container = Container(settings)
                if settings.tracing:
                    _container.tracer  # noqa: B018 - patches botocore before any client is made
    return _container


def flush_metrics() -> None:
    """Write the counted metrics, if anything was counted (call at the end of an invocation)."""
    if _container is not None and "metrics" in _container.__dict__:
        _container.metrics.flush()


def reset() -> None:
    """Forget the container (tests and the local stack re-read the environment)."""
    global _container  # noqa: PLW0603
    _container = None
