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

if TYPE_CHECKING:
    from chalicelib.delivery import EndpointCache, Recovery, Sender
    from chalicelib.egress import Transport
    from chalicelib.endpoints import EndpointService
    from chalicelib.ingest import IngestService, SourceCache
    from chalicelib.outbound.dead_letters import DeadLetters
    from chalicelib.publish import Publisher
    from chalicelib.queues import S3BlobStore, SqsQueue
    from chalicelib.routing import Router
    from chalicelib.sources import SourceService
    from chalicelib.store import DynamoStore
    from chalicelib.sweep import Sweep

log = logging.getLogger("hookway")


class Metrics:
    """Counters and timings, kept in memory and written once per invocation as CloudWatch EMF lines.

    Counting is a dictionary update (no AWS call, no I/O on the request path); ``flush()`` at the end of an
    invocation writes one embedded-metric-format line per distinct (name, dimensions) with the summed
    value, declaring two dimension sets: ``[stage]`` (what alarms and the dashboard read) and ``[stage,
    ...]`` with the finer dimensions (source, reason), so one line serves both. Timings (milliseconds) are
    written as one line per name with every value observed.
    """

    def __init__(self, namespace: str, stage: str, write: Callable[[str], Any] | None = None) -> None:
        self._namespace = namespace
        self._stage = stage
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._timings: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._write = write or _stdout_line

    def count(self, name: str, **dimensions: str) -> None:
        """Add one to ``name`` with the given dimensions."""
        key = (name, tuple(sorted(dimensions.items())))
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
            "stage": self._stage,
            **dims,
            name: value,
        }
        return json.dumps(doc, separators=(",", ":"))


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def configure_logging(level: str) -> None:
    """JSON log lines through the Powertools formatter on the ``hookway`` logger, once per process.

    Every module logs to ``logging.getLogger("hookway.<module>")`` with ``extra=`` correlation fields
    (message_id, source_id, application_id, endpoint_id, attempt, reason): the formatter renders them as
    keys of one JSON object per line, which CloudWatch Logs Insights queries directly. Chalice has already
    put a plain stdout handler on this logger (its ``app.log``); that handler gets the formatter too.
    """
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    logger = logging.getLogger("hookway")
    logger.setLevel(level)
    logger.propagate = False
    formatter = LambdaPowertoolsFormatter(service="hookway")
    streams = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    if not streams:
        handler = logging.StreamHandler(sys.stdout)
        logger.addHandler(handler)
        streams = [handler]
    for handler in streams:
        handler.setFormatter(formatter)


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


class Container:
    """Adapters and services, each built once on first use."""

    def __init__(self, settings: Settings, clock: Any = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._session: Any = None

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # Short timeouts and few retries: the ingest route must answer 503 well inside API Gateway's 29 s.
        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=5,
            max_pool_connections=50,
        )
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
            result = self.ssm.get_parameter(Name=self.settings.admin_key_parameter, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            # Not cached: the next admin call tries again.
            raise StorageError("the admin key parameter cannot be read") from exc
        return str(result["Parameter"]["Value"])

    @cached_property
    def metrics(self) -> Metrics:
        """The metrics emitter."""
        return Metrics("Hookway", self.settings.stage)

    @cached_property
    def store(self) -> DynamoStore:
        """The DynamoDB state store."""
        from chalicelib.store import DynamoStore

        return DynamoStore(self._client("dynamodb"), self.settings.table_name, self.clock)

    @cached_property
    def blobs(self) -> S3BlobStore:
        """The S3 claim-check store."""
        from chalicelib.queues import S3BlobStore

        return S3BlobStore(self._client("s3"), self.settings.bucket_name)

    @cached_property
    def sqs(self) -> Any:
        """The SQS client shared by the queues."""
        return self._client("sqs")

    @cached_property
    def ingest_queue(self) -> SqsQueue:
        """The ingest queue."""
        from chalicelib.queues import SqsQueue

        return SqsQueue(self.sqs, self.settings.ingest_queue_url)

    @cached_property
    def source_cache(self) -> SourceCache:
        """Sources cached briefly for the ingest path."""
        from chalicelib.ingest import SourceCache

        return SourceCache(self.store, self.clock, self.settings.source_cache_seconds)

    @cached_property
    def ingest(self) -> IngestService:
        """The ingest service."""
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
    def deliveries_queue(self) -> SqsQueue:
        """The deliveries queue."""
        from chalicelib.queues import SqsQueue

        return SqsQueue(self.sqs, self.settings.deliveries_queue_url)

    @cached_property
    def deliveries_dlq(self) -> SqsQueue:
        """The deliveries dead-letter queue (its handler deletes what it ended)."""
        from chalicelib.queues import SqsQueue

        return SqsQueue(self.sqs, self.settings.deliveries_dlq_url)

    @cached_property
    def endpoint_cache(self) -> EndpointCache:
        """Endpoints cached briefly for the router and the sender."""
        from chalicelib.delivery import EndpointCache

        return EndpointCache(self.store, self.clock, self.settings.endpoint_cache_seconds)

    @cached_property
    def router(self) -> Router:
        """The router (ingest queue consumer)."""
        from chalicelib.delivery import EndpointFanout
        from chalicelib.routing import Router

        return Router(
            store=self.store,
            blobs=self.blobs,
            fanout=EndpointFanout(self.endpoint_cache, self.deliveries_queue),
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            inline_body_bytes=self.settings.inline_body_bytes,
            count=self.metrics.count,
        )

    @cached_property
    def publisher(self) -> Publisher:
        """Publishes application and operational messages."""
        from chalicelib.publish import Publisher

        return Publisher(store=self.store, queue=self.ingest_queue, clock=self.clock)

    @cached_property
    def transport(self) -> Transport:
        """The SSRF-guarded HTTP transport, one per container (it holds the connection pools and CAs)."""
        from chalicelib.egress import Transport
        from chalicelib.outbound.client_certs import ClientCertificates, aws_reader

        certificates = ClientCertificates(
            aws_reader(lambda: self.secretsmanager, lambda: self.ssm), self.clock, ttl=300.0
        )
        return Transport(
            allow_private=self.settings.allow_private_destinations,
            https_only=self.settings.stage != "local",
            pool_maxsize=10,
            ca_file=self.settings.ca_bundle or None,
            certificates=certificates,
        )

    @cached_property
    def secretsmanager(self) -> Any:
        """The Secrets Manager client (outbound mTLS certificates), made on first use."""
        return self._client("secretsmanager")

    @cached_property
    def ssm(self) -> Any:
        """The SSM client (admin key, outbound mTLS certificates), made on first use."""
        return self._client("ssm")

    @cached_property
    def sender(self) -> Sender:
        """The sender (deliveries queue consumer)."""
        from chalicelib.delivery import Sender

        return Sender(
            store=self.store,
            blobs=self.blobs,
            queue=self.deliveries_queue,
            transport=self.transport,
            endpoints=self.endpoint_cache,
            publisher=self.publisher,
            clock=self.clock,
            disable_after=self.settings.disable_after_seconds,
            lease_seconds=self.settings.delivery_lease_seconds,
            retention_seconds=self.settings.retention_seconds,
            count=self.metrics.count,
            observe=self.metrics.observe,
        )

    @cached_property
    def recovery(self) -> Recovery:
        """Resend and recovery of deliveries."""
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
            on_change=self.endpoint_cache.invalidate,
            retention_seconds=self.settings.retention_seconds,
            certificate_prefixes=_certificate_prefixes(self.settings.stage),
        )

    @cached_property
    def sources(self) -> SourceService:
        """The source management service."""
        from chalicelib.sources import SourceService

        return SourceService(self.store, self.source_cache, self.clock, self.settings.replay_window_seconds)

    @cached_property
    def tracer(self) -> Any:
        """The Powertools Tracer (X-Ray), only when the stage turns tracing on: never imported otherwise."""
        from aws_lambda_powertools import Tracer

        return Tracer(service="hookway")

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """Ends the deliveries of tasks that reached the deliveries dead-letter queue."""
        from chalicelib.outbound.dead_letters import DeadLetters

        return DeadLetters(
            store=self.store,
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            count=self.metrics.count,
        )

    @cached_property
    def sweep(self) -> Sweep:
        """The scheduled sweep: endpoint health without traffic, expired claims."""
        from chalicelib.sweep import Sweep

        return Sweep(
            store=self.store,
            publisher=self.publisher,
            clock=self.clock,
            disable_after=self.settings.disable_after_seconds,
            count=self.metrics.count,
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
