"""The workers' composition root: the queue consumers and the sweep, on background-profile clients.

The router, the sender, the job runner, the dead-letter handler and the sweep wait longer on AWS and retry
more than the API (``CLIENT_PROFILES``): SQS redelivers whatever they fail. What needs no secret reads
the store beneath the sealing (``unsealed``), so it never calls KMS.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.wiring.base import Profile, Root

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.caches import EndpointCache, SubscriptionCache
    from chalicelib.jobs import JobRunner
    from chalicelib.models import Endpoint
    from chalicelib.outbound.dead_letters import DeadLetters
    from chalicelib.outbound.delivery import Sender
    from chalicelib.outbound.first_attempts import FirstAttempts
    from chalicelib.outbound.parking import Release
    from chalicelib.outbound.routing import Router
    from chalicelib.ports import Queue, Store
    from chalicelib.publish import Publisher
    from chalicelib.sweep import Sweep


class WorkerRoot(Root):
    """The queue consumers' and the sweep's services, each built on first use."""

    profile: Profile = "background"

    @cached_property
    def plain_store(self) -> Store:
        """The store with secrets left sealed: for the parts that need none (and may not use KMS)."""
        from chalicelib.sealing import unsealed

        return unsealed(self.store)

    @cached_property
    def deliveries_dlq(self) -> Queue:
        """The deliveries dead-letter queue (its handler deletes what it ended)."""
        return self._queue(self.settings.deliveries_dlq_url)

    @cached_property
    def endpoint_cache(self) -> EndpointCache:
        """Endpoints cached briefly for the sender (secrets opened: it signs)."""
        return self._endpoint_cache(self.store)

    @cached_property
    def routing_endpoint_cache(self) -> EndpointCache:
        """Endpoints as the router matches them: secrets left sealed."""
        return self._endpoint_cache(self.plain_store)

    def _endpoint_cache(self, store: Store) -> EndpointCache:
        from chalicelib.caches import EndpointCache

        cache = EndpointCache(store, self.clock, self.settings.endpoint_cache_seconds)
        self.shared.endpoint_caches.watch(cache)
        return cache

    @cached_property
    def subscriptions(self) -> SubscriptionCache:
        """The router's endpoints by subscription page, reloaded only when an owner's version moves."""
        from chalicelib.caches import SubscriptionCache

        cache = SubscriptionCache(
            self.plain_store,
            self.clock,
            check_seconds=self.settings.endpoint_cache_seconds,
            max_endpoints=self.settings.router_cache_endpoints,
        )
        self.shared.endpoint_caches.watch(cache)
        return cache

    @cached_property
    def router(self) -> Router:
        """The ingest queue's consumer: dedupe, store, fan out (and make first attempts, if set)."""
        from chalicelib.outbound.routing import EndpointFanout, Router

        first = self._first_attempts()
        return Router(
            store=self.store,
            blobs=self.blobs,
            fanout=EndpointFanout(
                self.routing_endpoint_cache,
                self.deliveries_queue,
                subscriptions=self.subscriptions,
                store=self.store,
                chunks=self.ingest_queue,
                messages=self.store,
                blobs=self.blobs,
            ),
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            inline_body_bytes=self.settings.inline_body_bytes,
            count=self.count,
            # With first attempts, the router's sender's hourly counters: a batch writes them once.
            tally=first.tally if first is not None and first.tally is not None else self.tally(),
            first_attempts=first,
        )

    def _first_attempts(self) -> FirstAttempts | None:
        """The router's own first attempts, through a sender of its own whose hourly counters the router
        shares (one write for both per batch) (stage setting ``router_first_attempt``)."""
        if not self.settings.router_first_attempt:
            return None
        from chalicelib.outbound.first_attempts import FirstAttempts

        sender = self._sender(
            self.endpoint_cache,
            self.publisher,
            observe=self.metrics.observe,
            health_memory_seconds=self.settings.endpoint_cache_seconds,
        )
        return FirstAttempts(
            sender=sender,
            endpoints=self.endpoint_cache,
            clock=self.clock,
            lease_seconds=self.settings.delivery_lease_seconds,
        )

    @cached_property
    def publisher(self) -> Publisher:
        """Publishes the sender's and the sweep's operational events (``endpoint.disabled``, ...)."""
        from chalicelib.publish import Publisher

        return Publisher(store=self.store, queue=self.ingest_queue, clock=self.clock, ids=self.ids)

    @cached_property
    def sender(self) -> Sender:
        """The deliveries queue's consumer: claim, sign, POST, record, retry."""
        return self._sender(
            self.endpoint_cache,
            self.publisher,
            observe=self.metrics.observe,
            health_memory_seconds=self.settings.endpoint_cache_seconds,
        )

    @cached_property
    def slow_deliveries_queue(self) -> Queue | None:
        """The slow lane (failing or slow endpoints' tasks); None where the stage has none."""
        return self._queue(url) if (url := self.settings.slow_deliveries_queue_url) else None

    @cached_property
    def job_runner(self) -> JobRunner:
        """Runs the job steps the ingest queue's consumer hands over (secrets stay sealed: none needs one)."""
        from chalicelib.endpoints import ApplicationEndpointsDeletion
        from chalicelib.jobs import JobRunner, StepHandler
        from chalicelib.outbound.parking import HeldRelease
        from chalicelib.outbound.recovery import Recovery

        store = self.plain_store
        recovery = Recovery(
            store=store, queue=self.deliveries_queue, endpoints=self.routing_endpoint_cache, clock=self.clock
        )
        handlers: dict[str, StepHandler] = {
            "application.delete": ApplicationEndpointsDeletion(
                store, self.shared.endpoint_caches, release=self.held_release
            ),
            "endpoint.recover": recovery.recover_step,
            "endpoint.replay": recovery.replay_step,
            "endpoint.release": HeldRelease(store, self.deliveries_queue),
        }
        return JobRunner(
            store=store,
            queue=self.ingest_queue,
            clock=self.clock,
            handlers=handlers,
            step_items=self.settings.job_step_items,
        )

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """Ends the deliveries of tasks that reached the deliveries dead-letter queue."""
        from chalicelib.outbound.dead_letters import DeadLetters
        from chalicelib.outbound.fifo import Fifo

        return DeadLetters(
            store=self.plain_store,
            clock=self.clock,
            retention_seconds=self.settings.retention_seconds,
            count=self.count,
            tally=self.tally(),
            # A fifo endpoint's turn is handed on past a dead letter (chalicelib.outbound.fifo).
            fifo=Fifo(
                self.plain_store,
                lease_seconds=self.settings.delivery_lease_seconds,
                settle_seconds=self.settings.fifo_settle_seconds,
            ),
            queue=self.deliveries_queue,
        )

    @cached_property
    def sweep(self) -> Sweep:
        """The scheduled sweep: endpoint health without traffic, from the attention index, in bounded runs."""
        from chalicelib.sweep import Sweep

        return Sweep(
            store=self.plain_store,  # secrets stay sealed: the sweep needs none
            publisher=self.publisher,
            clock=self.clock,
            disable_after=self.settings.disable_after_seconds,
            count=self.count,
            release=self.held_release,
        )

    @cached_property
    def held_release(self) -> Callable[[Endpoint], None] | None:
        """Starts the release of what an endpoint's open circuit held, when it is disabled or deleted."""
        from chalicelib.outbound.flow import held_releaser

        return held_releaser(self.settings, self.plain_store, self.ingest_queue, self.clock)

    @cached_property
    def release(self) -> Release:
        """The scheduled release of parked delivery tasks that come due (chalicelib.outbound.parking)."""
        from chalicelib.outbound.parking import Release

        return Release(store=self.plain_store, queue=self.deliveries_queue, clock=self.clock)
