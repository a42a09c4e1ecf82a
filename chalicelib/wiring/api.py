"""The API's composition root: every route's services, on request-profile clients (tight timeouts).

Services reach each other through the named needs of ``chalicelib.ports`` (``ApplicationResolver``,
``EndpointLookup``, ...), handed in here as the services themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, cast

from chalicelib.wiring.base import Profile, Root

if TYPE_CHECKING:
    from chalicelib.applications import ApplicationService
    from chalicelib.caches import ApplicationCache, EndpointCache, SourceCache
    from chalicelib.endpoints import EndpointService
    from chalicelib.event_types import EventTypeService
    from chalicelib.filters.service import FilterTests
    from chalicelib.inbound.ingest import IngestService
    from chalicelib.inbound.rejections import RejectionLog
    from chalicelib.jobs import Jobs
    from chalicelib.limits import RateLimiter
    from chalicelib.messages import MessageService
    from chalicelib.outbound.delivery import Sender
    from chalicelib.outbound.egress import Resolver
    from chalicelib.outbound.listen import ListenService
    from chalicelib.outbound.recovery import Recovery
    from chalicelib.ports import AdminKey, SourceStore, Store
    from chalicelib.publish import Publisher
    from chalicelib.sessions import SessionService
    from chalicelib.sources import SourceService
    from chalicelib.stats import StatsService
    from chalicelib.tokens import TokenService
    from chalicelib.transform.simulate import Simulator


class ApiRoot(Root):
    """The API's services (routes, the console and portal, listen sessions), each built on first use."""

    profile: Profile = "request"

    @cached_property
    def admin_key(self) -> AdminKey:
        """The admin key: from the environment, else from SSM Parameter Store (decrypted), kept for
        ``admin_key_cache_seconds``."""
        from chalicelib.aws.parameters import AdminKeyParameter, FixedAdminKey

        if self.settings.admin_key or not self.settings.admin_key_parameter:
            return FixedAdminKey(self.settings.admin_key)
        return AdminKeyParameter(
            lambda: self.ssm,
            self.settings.admin_key_parameter,
            self.clock,
            self.settings.admin_key_cache_seconds,
        )

    def health(self) -> dict[str, str]:
        """``{"status": "ok", "stage"}`` when the state table answers; StorageError (503) otherwise."""
        self.store.ping()
        return {"status": "ok", "stage": self.settings.stage}

    # ------------------------------------------------------------------------------- caches, inbound

    @cached_property
    def source_cache(self) -> SourceCache:
        """Sources cached briefly for the ingest path."""
        from chalicelib.caches import SourceCache

        return SourceCache(self.source_store, self.clock, self.settings.source_cache_seconds)

    @cached_property
    def source_store(self) -> SourceStore:
        """Sources alone (the ingest path's one read), sealed as the store is, on its client: the
        sources' adapter without every other table's module (``chalicelib.aws.dynamo``) on a cold start."""
        from chalicelib.aws.dynamodb.sources import SourceTable

        store = SourceTable(self.dynamodb, self.settings.table_name, self.clock)
        if self.sealer is None:
            return store
        from chalicelib.sealing import SealedStore

        return cast("SourceStore", SealedStore(cast("Store", store), self.sealer))

    @cached_property
    def endpoint_cache(self) -> EndpointCache:
        """Endpoints cached briefly for resend and recover."""
        from chalicelib.caches import EndpointCache

        cache = EndpointCache(self.store, self.clock, self.settings.endpoint_cache_seconds)
        self.shared.endpoint_caches.watch(cache)
        return cache

    @cached_property
    def application_cache(self) -> ApplicationCache:
        """Applications cached briefly for publishing (like sources for ingest)."""
        from chalicelib.caches import ApplicationCache

        return ApplicationCache(self.store, self.clock, self.settings.source_cache_seconds)

    @cached_property
    def ingest(self) -> IngestService:
        """``POST /in/{source}``: verify, store durably, answer."""
        from chalicelib.inbound.ingest import IngestService

        # The DynamoDB client first (the source's read is the first call), then the KMS client (the source's
        # secrets' data key is opened next) and the SQS one start on threads, overlapping that read: one
        # session makes clients one at a time, so a thread started first would hold up the read.
        sources = self.source_cache
        if self.sealer is not None:
            self.kms.start()
        return IngestService(
            sources=sources,
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
            tally=self.tally(),
        )

    # ----------------------------------------------------------------------------------- management

    @cached_property
    def sources(self) -> SourceService:
        """Sources and their secrets."""
        from chalicelib.sources import SourceService

        return SourceService(
            self.store,
            self.source_cache,
            self.clock,
            self.settings.replay_window_seconds,
            applications=self.applications,
            rejections=self.rejection_log,
        )

    @cached_property
    def applications(self) -> ApplicationService:
        """Applications (tenants)."""
        from chalicelib.applications import ApplicationService

        return ApplicationService(
            self.store,
            self.clock,
            jobs=self.jobs,
            default_branding=self.settings.portal_branding,
            cache=self.application_cache,
        )

    @cached_property
    def resolver(self) -> Resolver | None:
        """How endpoint URLs are resolved at registration (None: the system resolver; tests pin it)."""
        return None

    @cached_property
    def endpoints(self) -> EndpointService:
        """Endpoints and their secrets; a change reaches every endpoint cache of this process at once."""
        from chalicelib.endpoints import EndpointService
        from chalicelib.outbound.flow import held_releaser

        return EndpointService(
            self.store,
            self.clock,
            allow_private=self.settings.allow_private_destinations,
            https_only=not self.settings.allow_http,
            resolver=self.resolver,
            refused=self.refused_destinations,
            changes=self.shared.endpoint_caches,
            retention_seconds=self.settings.retention_seconds,
            applications=self.applications,
            certificate_prefixes=self.certificate_prefixes,
            max_endpoints_per_application=self.settings.max_endpoints_per_application,
            release=held_releaser(self.settings, self.store, self.ingest_queue, self.clock),
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
    def jobs(self) -> Jobs:
        """Background jobs as the API starts and reads them (the first step goes on the ingest queue)."""
        from chalicelib.jobs import Jobs

        return Jobs(store=self.store, queue=self.ingest_queue, clock=self.clock)

    @cached_property
    def stats(self) -> StatsService:
        """The console's overview: hourly counts and the endpoints that need attention."""
        from chalicelib.stats import StatsService

        return StatsService(self.store, self.clock)

    # --------------------------------------------------------------------------- messages, recovery

    @cached_property
    def publisher(self) -> Publisher:
        """``POST /v1/messages`` and test sends."""
        from chalicelib.publish import Publisher

        return Publisher(
            store=self.store,
            queue=self.ingest_queue,
            clock=self.clock,
            ids=self.ids,
            applications=self.applications,
            event_types=self.event_types,
            endpoints=self.endpoints,
        )

    @cached_property
    def filter_tests(self) -> FilterTests:
        """``POST /v1/filters/test``: a filter against a message, as the router would match it."""
        from chalicelib.filters.service import FilterTests

        return FilterTests(self.messages)

    @cached_property
    def messages(self) -> MessageService:
        """Message reads: one message, search, body, attempts."""
        from chalicelib.messages import MessageService

        return MessageService(
            store=self.store,
            blobs=self.blobs,
            ids=self.ids,
            applications=self.applications,
            endpoints=self.endpoints,
        )

    @cached_property
    def transformations(self) -> Simulator:
        """Simulations of endpoints' transformations (the engine loads on the first one)."""
        from chalicelib.transform.simulate import Simulator

        return Simulator(self.endpoints, self.messages)

    @cached_property
    def recovery(self) -> Recovery:
        """Resend, and the plans of recover and replay jobs."""
        from chalicelib.outbound.recovery import Recovery

        return Recovery(
            store=self.store,
            queue=self.deliveries_queue,
            endpoints=self.endpoint_cache,
            clock=self.clock,
            messages=self.messages,
            scoped_endpoints=self.endpoints,
        )

    # ---------------------------------------------------------------------------------------- listen

    @cached_property
    def sender(self) -> Sender:
        """The sender as a listen session's reports use it (one worker; never POSTs from the API)."""
        return self._sender(self.endpoint_cache, self.publisher, max_workers=1)

    @cached_property
    def sleep(self) -> Callable[[float], None]:
        """How a long poll waits (tests pass a virtual clock's sleep)."""
        return time.sleep

    @cached_property
    def listen(self) -> ListenService:
        """Listen sessions: open, pull and report."""
        from chalicelib.outbound.listen import ListenService

        return ListenService(
            store=self.store, endpoints=self.endpoints, sender=self.sender, clock=self.clock, sleep=self.sleep
        )

    # -------------------------------------------------------------------------------------- access

    @cached_property
    def tokens(self) -> TokenService:
        """Authentication: the admin key and portal tokens."""
        from chalicelib.tokens import TokenService

        return TokenService(self.store, self.clock, self.admin_key)

    @cached_property
    def sessions(self) -> SessionService:
        """Console sign-in: sessions in an HttpOnly cookie, requests checked for their CSRF token."""
        from chalicelib.sessions import SessionService

        return SessionService(
            self.store, self.clock, self.admin_key, secure=not self.settings.insecure_cookies
        )

    @cached_property
    def token_limiter(self) -> RateLimiter:
        """How often a portal token may test, resend and recover (per token, in this container)."""
        from chalicelib.limits import RateLimiter

        return RateLimiter(self.settings.token_actions_per_minute, 60.0, self.clock)
