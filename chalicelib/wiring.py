"""The composition root: the only place that reads Settings and makes boto3 clients.

Everything is built on first use and kept for the life of the Lambda container, so a route pays only
for what it touches and the warm path makes no setup calls.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings

if TYPE_CHECKING:
    from chalicelib.delivery import EndpointCache, Recovery, Sender
    from chalicelib.egress import Transport
    from chalicelib.endpoints import EndpointService
    from chalicelib.ingest import IngestService, SourceCache
    from chalicelib.publish import Publisher
    from chalicelib.queues import S3BlobStore, SqsQueue
    from chalicelib.routing import Router
    from chalicelib.sources import SourceService
    from chalicelib.store import DynamoStore

log = logging.getLogger("hookway")


class Metrics:
    """Counters, kept in memory and written once per invocation as CloudWatch embedded-metric-format lines.

    Counting is a dictionary update (no AWS call, no I/O on the request path); ``flush()`` at the end of an
    invocation writes one line per distinct (name, dimensions) with the summed value.
    """

    def __init__(self, namespace: str, stage: str) -> None:
        self._namespace = namespace
        self._stage = stage
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._lock = threading.Lock()

    def count(self, name: str, **dimensions: str) -> None:
        """Add one to ``name`` with the given dimensions."""
        key = (name, tuple(sorted(dimensions.items())))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def flush(self) -> None:
        """Write what was counted since the last flush."""
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        for (name, dimensions), value in counts.items():
            with single_metric(
                name=name,
                unit=MetricUnit.Count,
                value=value,
                namespace=self._namespace,
                default_dimensions={"stage": self._stage, **dict(dimensions)},
            ):
                pass


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
}


class Adapters:
    """The AWS adapters of one client profile (``request`` or ``background``), each built on first use.

    The local stack may run the API and the queue workers in one process, so the profile is chosen per
    use, not per process: views use ``Container.api``, the SQS handlers ``Container.background``.
    """

    def __init__(self, container: Container, purpose: str) -> None:
        self._container = container
        self.purpose = purpose

    def client(self, service: str) -> Any:
        """A boto3 client of this profile."""
        return self._container._client(service, self.purpose)

    @cached_property
    def store(self) -> DynamoStore:
        """The DynamoDB state store."""
        from chalicelib.store import DynamoStore

        c = self._container
        return DynamoStore(self.client("dynamodb"), c.settings.table_name, c.clock)

    @cached_property
    def blobs(self) -> S3BlobStore:
        """The S3 claim-check store."""
        from chalicelib.queues import S3BlobStore

        return S3BlobStore(self.client("s3"), self._container.settings.bucket_name)

    @cached_property
    def sqs(self) -> Any:
        """The SQS client shared by the queues."""
        return self.client("sqs")

    @cached_property
    def ingest_queue(self) -> SqsQueue:
        """The ingest queue."""
        from chalicelib.queues import SqsQueue

        return SqsQueue(self.sqs, self._container.settings.ingest_queue_url)

    @cached_property
    def deliveries_queue(self) -> SqsQueue:
        """The deliveries queue."""
        from chalicelib.queues import SqsQueue

        return SqsQueue(self.sqs, self._container.settings.deliveries_queue_url)

    @cached_property
    def endpoint_cache(self) -> EndpointCache:
        """Endpoints cached briefly for the router and the sender."""
        from chalicelib.delivery import EndpointCache

        c = self._container
        return EndpointCache(self.store, c.clock, c.settings.endpoint_cache_seconds)

    @cached_property
    def publisher(self) -> Publisher:
        """Publishes application and operational messages."""
        from chalicelib.publish import Publisher

        return Publisher(store=self.store, queue=self.ingest_queue, clock=self._container.clock)


class Container:
    """Adapters and services, each built once on first use."""

    def __init__(self, settings: Settings, clock: Any = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._session: Any = None
        #: The request path's adapters (API views, ingest): tight timeouts.
        self.api = Adapters(self, "request")
        #: The queue consumers' adapters (router, sender): generous timeouts.
        self.background = Adapters(self, "background")

    def use(self, **parts: Any) -> None:
        """Replace adapters (``store``, ``blobs``, ``ingest_queue``, ...) in both profiles: tests and
        benchmarks pass their fakes to this same root."""
        for adapters in (self.api, self.background):
            adapters.__dict__.update(parts)

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

    @cached_property
    def admin_key(self) -> str:
        """The admin API key: from the environment, else from SSM Parameter Store (read once, decrypted)."""
        if self.settings.admin_key or not self.settings.admin_key_parameter:
            return self.settings.admin_key
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.errors import StorageError

        try:
            result = self._client("ssm", "request").get_parameter(
                Name=self.settings.admin_key_parameter, WithDecryption=True
            )
        except (BotoCoreError, ClientError) as exc:
            # Not cached: the next admin call tries again.
            raise StorageError("the admin key parameter cannot be read") from exc
        return str(result["Parameter"]["Value"])

    @cached_property
    def metrics(self) -> Metrics:
        """The metrics emitter."""
        return Metrics("Hookway", self.settings.stage)

    @property
    def store(self) -> DynamoStore:
        """The request path's DynamoDB state store."""
        return self.api.store

    @property
    def blobs(self) -> S3BlobStore:
        """The request path's S3 claim-check store."""
        return self.api.blobs

    @property
    def sqs(self) -> Any:
        """The request path's SQS client."""
        return self.api.sqs

    @property
    def ingest_queue(self) -> SqsQueue:
        """The ingest queue, for the request path (the ingest route enqueues here)."""
        return self.api.ingest_queue

    @property
    def deliveries_queue(self) -> SqsQueue:
        """The deliveries queue, for the request path (resend and recover enqueue here)."""
        return self.api.deliveries_queue

    @property
    def endpoint_cache(self) -> EndpointCache:
        """The request path's endpoint cache (resend and recover)."""
        return self.api.endpoint_cache

    @property
    def publisher(self) -> Publisher:
        """The request path's publisher (``POST /v1/messages``)."""
        return self.api.publisher

    def _endpoints_changed(self) -> None:
        # Both caches, where built: the local stack serves the API and runs the workers in one process.
        for adapters in (self.api, self.background):
            if "endpoint_cache" in adapters.__dict__:
                adapters.endpoint_cache.invalidate()

    @cached_property
    def source_cache(self) -> SourceCache:
        """Sources cached briefly for the ingest path."""
        from chalicelib.ingest import SourceCache

        return SourceCache(self.store, self.clock, self.settings.source_cache_seconds)

    @cached_property
    def ingest(self) -> IngestService:
        """The ingest service (request path)."""
        from chalicelib.ingest import IngestService

        return IngestService(
            sources=self.source_cache,
            store=self.store,
            queue=self.ingest_queue,
            blobs=_LazyBlobs(lambda: self.blobs),
            clock=self.clock,
            max_body_bytes=self.settings.max_body_bytes,
            claim_check_bytes=self.settings.claim_check_bytes,
            rejections_kept=self.settings.rejections_kept,
            count=self.metrics.count,
        )

    @cached_property
    def router(self) -> Router:
        """The router (ingest queue consumer, background profile)."""
        from chalicelib.delivery import EndpointFanout
        from chalicelib.routing import Router

        bg = self.background
        return Router(
            store=bg.store,
            blobs=bg.blobs,
            fanout=EndpointFanout(bg.endpoint_cache, bg.deliveries_queue),
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            inline_body_bytes=self.settings.inline_body_bytes,
            count=self.metrics.count,
        )

    @cached_property
    def transport(self) -> Transport:
        """The SSRF-guarded HTTP transport, one per container (it holds the connection pools and CAs)."""
        from chalicelib.egress import Transport

        return Transport(
            allow_private=self.settings.allow_private_destinations,
            https_only=self.settings.stage != "local",
            pool_maxsize=10,
        )

    @cached_property
    def sender(self) -> Sender:
        """The sender (deliveries queue consumer, background profile)."""
        from chalicelib.delivery import Sender

        bg = self.background
        return Sender(
            store=bg.store,
            blobs=bg.blobs,
            queue=bg.deliveries_queue,
            transport=self.transport,
            endpoints=bg.endpoint_cache,
            publisher=bg.publisher,
            clock=self.clock,
            disable_after=self.settings.disable_after_seconds,
            lease_seconds=self.settings.delivery_lease_seconds,
            retention_seconds=self.settings.retention_seconds,
            count=self.metrics.count,
        )

    @cached_property
    def recovery(self) -> Recovery:
        """Resend and recovery of deliveries (request path)."""
        from chalicelib.delivery import Recovery

        return Recovery(
            store=self.store, queue=self.deliveries_queue, endpoints=self.endpoint_cache, clock=self.clock
        )

    @cached_property
    def endpoints(self) -> EndpointService:
        """The endpoint management service."""
        from chalicelib.endpoints import EndpointService

        return EndpointService(
            self.store,
            self.clock,
            allow_private=self.settings.allow_private_destinations,
            https_only=self.settings.stage != "local",
            on_change=self._endpoints_changed,
            retention_seconds=self.settings.retention_seconds,
        )

    @cached_property
    def sources(self) -> SourceService:
        """The source management service."""
        from chalicelib.sources import SourceService

        return SourceService(self.store, self.source_cache, self.clock, self.settings.replay_window_seconds)


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    """The process-wide container, built from the environment on first use."""
    global _container  # noqa: PLW0603 - one composition root per Lambda container
    if _container is None:
        with _container_lock:
            if _container is None:
                settings = Settings.from_env(os.environ)
                logging.getLogger("hookway").setLevel(settings.log_level)
                _container = Container(settings)
    return _container


def flush_metrics() -> None:
    """Write the counted metrics, if anything was counted (call at the end of an invocation)."""
    if _container is not None and "metrics" in _container.__dict__:
        _container.metrics.flush()


def reset() -> None:
    """Forget the container (tests and the local stack re-read the environment)."""
    global _container  # noqa: PLW0603
    _container = None
