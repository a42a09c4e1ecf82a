"""What both roles' roots share: the client profiles, one boto3 session, and the adapters of a role.

A ``Shared`` holds what one process has once whatever roles it plays (settings, clock, metrics, the
endpoint caches to tell of a change). A ``Root`` is one role's composition root: it picks its client
profile once (``CLIENT_PROFILES``) and builds every adapter with it, each on first use and kept for the
life of the Lambda container, so a route pays only for what it touches and the warm path makes no setup
calls. Tests hand fakes to a root (``store=``, ``ingest_queue=``, ...) in place of what it would build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, cast

from chalicelib.aws.botomodels import MODELS_DIR, use_packaged_models
from chalicelib.caches import EndpointCaches
from chalicelib.config import Settings
from chalicelib.ids import MessageIds
from chalicelib.observability import Metrics
from chalicelib.wiring.lazy import LazyClient

if TYPE_CHECKING:
    from chalicelib.caches import EndpointCache
    from chalicelib.outbound.delivery import Sender
    from chalicelib.outbound.egress import OutboundTransport
    from chalicelib.ports import BlobStore, Queue, Store
    from chalicelib.publish import Publisher
    from chalicelib.sealing import Keyring, Sealer
    from chalicelib.tally import Tally

Profile = Literal["request", "background", "best_effort"]

#: boto3 client settings per role. The request path (every API route, and above all ``/in/{source}``) must
#: answer 503 well inside API Gateway's 29 s and the providers' own timeouts (GitHub gives up after 10 s):
#: a stalled AWS call there costs at most a 1 s connect or read timeout, twice, with one backoff of under a
#: second between, about 3 s in all, so the 503 comes within 5 s. Background consumers (the SQS handlers)
#: wait longer and retry more: SQS redelivers whatever they fail, and giving up early there only costs a
#: redelivery later.
CLIENT_PROFILES: dict[Profile, dict[str, Any]] = {
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


class Shared:
    """What a process has once, whatever roles it plays: settings, clock, metrics, one boto3 session."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.endpoint_caches = EndpointCaches()
        self.tracer: Any = None  # the Powertools Tracer, when the stage turns tracing on
        self._lock = threading.Lock()
        self._session: Any = None
        self.botocore_data: str | None = MODELS_DIR  # the package's trimmed models (tests point it elsewhere)

    @cached_property
    def metrics(self) -> Metrics:
        """The metrics emitter (flushed at the end of each invocation)."""
        return Metrics(
            "Hookway", self.settings.stage, enabled=self.settings.metrics, level=self.settings.log_level
        )

    def client(self, service: str, profile: Profile) -> Any:
        """A boto3 client of ``service`` with a profile's timeouts and retries, made by botocore's session as
        ``boto3.client`` does, without importing boto3 (unused layers; a third of a cold start)."""
        import botocore.session
        from botocore.config import Config

        config = Config(max_pool_connections=50, **CLIENT_PROFILES[profile])
        with self._lock:  # one session for all clients, used under a lock: sessions are not thread-safe
            if self._session is None:
                self._session = botocore.session.get_session()
                use_packaged_models(self._session, self.botocore_data)
            session: Any = self._session
            return session.create_client(
                service,
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint_url,
                config=config,
            )


class Root:
    """One role's adapters, each built once on first use with the role's client profile."""

    profile: Profile = "request"

    def __init__(self, shared: Shared, **overrides: Any) -> None:
        self.shared = shared
        self.settings = shared.settings
        self.clock = shared.clock
        self.use(**overrides)

    @classmethod
    def parts(cls) -> frozenset[str]:
        """The names a test may override (``use``)."""
        return frozenset(n for n in dir(cls) if isinstance(getattr(cls, n, None), cached_property))

    def use(self, **parts: Any) -> None:
        """Put ``parts`` (fakes, a pinned transport...) in place of what would be built. A store handed in
        serves the best-effort writes too, unless ``best_effort_store`` is given as well."""
        for name, value in parts.items():
            if name not in self.parts():
                raise TypeError(f"{type(self).__name__} has no part named {name!r}")
            self.__dict__[name] = value
        for served in ("best_effort_store", "source_store"):  # the API's source store
            if "store" in parts and served not in parts and served in self.parts():
                self.__dict__[served] = parts["store"]

    def _client(self, service: str) -> Any:
        return self.shared.client(service, self.profile)

    @property
    def metrics(self) -> Metrics:
        """The process's metrics emitter."""
        return self.shared.metrics

    @cached_property
    def count(self) -> Callable[..., None]:
        """Where services count what happened (the metrics emitter's ``count``)."""
        return self.shared.metrics.count

    @cached_property
    def kms(self) -> Any:
        """The role's KMS client (seals and opens on the API's request path), made on first use or from
        ``start()`` on (``LazyClient``), with ``cryptography`` imported on the same thread."""
        return LazyClient(self._make_kms)

    def _make_kms(self) -> Any:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: F401

        return self._client("kms")

    @cached_property
    def keyring(self) -> Keyring:
        """Data keys from the stage's KMS key; its client is made on the first seal or open."""
        from chalicelib.aws.kms import KmsKeyring

        return KmsKeyring(lambda: self.kms, self.settings.kms_key_id, self.settings.stage)

    @cached_property
    def sealer(self) -> Sealer | None:
        """Seals secrets at rest, one per root (its data-key caches); None without a KMS key."""
        if not self.settings.kms_key_id:
            return None
        from chalicelib.sealing import Sealer

        return Sealer(self.keyring, self.clock, lifetime=self.settings.data_key_seconds)

    @cached_property
    def store(self) -> Store:
        """The DynamoDB state store, sealing secrets when the stage has a KMS key."""
        from chalicelib.aws.dynamo import DynamoStore

        store = DynamoStore(self.dynamodb, self.settings.table_name, self.clock)
        if self.sealer is None:
            return store
        from chalicelib.sealing import SealedStore

        return SealedStore(store, self.sealer)

    @cached_property
    def dynamodb(self) -> Any:
        """The role's DynamoDB client (its store's, and the API's source store's)."""
        return self._client("dynamodb")

    @cached_property
    def best_effort_store(self) -> Store:
        """The store of best-effort writes (counters, rejection logs): its own one-attempt client."""

        # Not sealed: counters and rejections hold no secret. Made with its client on the first write: the
        # ingest service holds it for rejections only, so an accepted webhook never imports nor builds it.
        def make() -> Store:
            from chalicelib.aws.dynamo import DynamoStore

            client = self.shared.client("dynamodb", "best_effort")
            return DynamoStore(client, self.settings.table_name, self.clock)

        return cast("Store", LazyClient(make))

    @cached_property
    def blobs(self) -> BlobStore:
        """The S3 claim-check store, its client made on first use (most webhooks never need it)."""
        from chalicelib.aws.s3 import LazyBlobStore, S3BlobStore

        return LazyBlobStore(lambda: S3BlobStore(self._client("s3"), self.settings.bucket_name))

    @cached_property
    def sqs(self) -> Any:
        """The role's SQS client (one for every queue), made on a thread of its own from the moment a
        queue is wired (``LazyClient``): ready by the time the first message is sent."""
        return LazyClient(lambda: self._client("sqs"), early=True)

    def _queue(self, url: str) -> Queue:
        from chalicelib.aws.sqs import SqsQueue

        return SqsQueue(self.sqs, url)

    @cached_property
    def ingest_queue(self) -> Queue:
        """The ingest queue (webhooks and published messages, job steps, operational events)."""
        return self._queue(self.settings.ingest_queue_url)

    @cached_property
    def deliveries_queue(self) -> Queue:
        """The deliveries queue (one task per delivery attempt that is due)."""
        return self._queue(self.settings.deliveries_queue_url)

    @cached_property
    def ids(self) -> MessageIds:
        """Message ids with this deployment's tag."""
        return MessageIds(self.settings.id_key.encode())

    @cached_property
    def rand(self) -> Callable[[], float]:
        """Jitter for retry delays (tests pin it)."""
        import random

        return random.random

    def tally(self) -> Tally:
        """Hourly counters, written best effort."""
        from chalicelib.tally import Tally

        return Tally(self.best_effort_store, self.clock)

    @cached_property
    def transport(self) -> OutboundTransport:
        """The SSRF-guarded HTTP transport, one per root (it holds the connection pools and CAs)."""
        from chalicelib.outbound.client_certs import ClientCertificates, aws_reader
        from chalicelib.outbound.egress import Transport

        read = aws_reader(lambda: self.secretsmanager, lambda: self.ssm)
        return Transport(
            allow_private=self.settings.allow_private_destinations,
            https_only=not self.settings.allow_http,
            pool_maxsize=10,
            ca_file=self.settings.ca_bundle or None,
            certificates=ClientCertificates(read, self.clock, ttl=300.0),
            refused=self.refused_destinations,
        )

    @cached_property
    def secretsmanager(self) -> Any:
        """The Secrets Manager client (outbound mTLS certificates), made on first use."""
        return self._client("secretsmanager")

    @cached_property
    def ssm(self) -> Any:
        """The SSM client (outbound mTLS certificates; the API's admin key parameter), made on first use."""
        return self._client("ssm")

    @property
    def refused_destinations(self) -> tuple[tuple[str, int], ...]:
        """Never a destination: the local stack's AWS emulator."""
        address = self.settings.emulator_address
        return (address,) if address else ()

    @property
    def certificate_prefixes(self) -> dict[str, str]:
        """Where a stage's client certificates may live: what its sender's IAM policy can read."""
        from chalicelib.names import names

        n = names(self.settings.stage)
        return {"secretsmanager": n.secret_prefix, "ssm": f"{n.parameter_path}certs/"}

    def _sender(
        self,
        endpoints: EndpointCache,
        publisher: Publisher,
        *,
        max_workers: int = 10,
        observe: Callable[[str, float], None] | None = None,
        health_memory_seconds: float = 0.0,
    ) -> Sender:
        """The sender with what every role gives it; a role passes its cache, its publisher and its knobs."""
        from chalicelib.outbound.delivery import Sender
        from chalicelib.outbound.flow import flow_controls

        return Sender(
            store=self.store,
            blobs=self.blobs,
            queue=self.deliveries_queue,
            transport=self.transport,
            endpoints=endpoints,
            publisher=publisher,
            clock=self.clock,
            rand=self.rand,
            disable_after=self.settings.disable_after_seconds,
            lease_seconds=self.settings.delivery_lease_seconds,
            retention_seconds=self.settings.retention_seconds,
            count=self.count,
            max_workers=max_workers,
            observe=observe,
            tally=self.tally(),
            certificate_prefixes=self.certificate_prefixes,
            health_memory_seconds=health_memory_seconds,
            **flow_controls(self.settings, self.store, publisher, self.clock, queues=self),
        )
