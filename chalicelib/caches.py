"""Read-through caches over the Store: the warm ingest path and the router make no DynamoDB call.

Changes made in this process invalidate at once; other Lambda containers see them within the TTL.
Every cache is bounded (least recently used entries go first), so a container that sees 10^5 tenants
keeps only what it uses.

``SubscriptionCache`` is the router's: it never reloads an owner's endpoints blindly. It reads the owner's
version item (one GetItem) at most every ``check_seconds`` and drops that owner's cached pages only when
the version moved (any create, update, enable, disable or delete of one of its endpoints moves it). An
owner's endpoints are held per subscription page of at most 500, and a page is loaded only when a message
needs it (one GetItem of the page, then BatchGetItem of at most 500 endpoints, five requests in parallel):
a router or fan-out chunk reads at most one page per owner, whatever the owner's size.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from chalicelib.errors import NotFoundError
from chalicelib.ttlcache import Lru, TtlCache

if TYPE_CHECKING:
    from chalicelib.models import Application, Endpoint, Source
    from chalicelib.ports import ApplicationStore, EndpointStore, SourceStore, SubscriptionReader

LEGACY_OWNERS = 100  # owners not yet backfilled whose full listings the router holds (as before pages)
log = logging.getLogger("hookway.caches")


class SourceCache:
    """Sources read through a short-lived cache, so the warm ingest path makes no DynamoDB call."""

    def __init__(self, store: SourceStore, clock: Callable[[], float], ttl: float) -> None:
        self._store = store
        self._entries: TtlCache[str, Source | None] = TtlCache(clock, ttl)

    def get(self, source_id: str) -> Source:
        """The source (possibly up to ``ttl`` seconds old), or NotFoundError."""
        source = self._entries.get(source_id, self._load)
        if source is None:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")
        return source

    def _load(self, source_id: str) -> Source | None:
        try:
            return self._store.get_source(source_id)
        except NotFoundError:
            return None

    def invalidate(self, source_id: str) -> None:
        """Forget a source after it changed in this process."""
        self._entries.pop(source_id)


class EndpointCache:
    """Endpoints read through a short-lived cache, per owner (an application, or None for the operator).

    The router matches each message against its owner's endpoints only, so a deployment with a thousand
    applications loads a handful of endpoints per message, not every endpoint there is.
    """

    def __init__(self, store: EndpointStore, clock: Callable[[], float], ttl: float) -> None:
        self._owners: TtlCache[str | None, list[Endpoint]] = TtlCache(clock, ttl, limit=100)
        self._ids: TtlCache[str, Endpoint] = TtlCache(clock, ttl)
        self._store = store

    def of(self, application_id: str | None) -> list[Endpoint]:
        """The endpoints of one owner (possibly up to ``ttl`` seconds old)."""
        return self._owners.get(application_id, self._store.endpoints_of)

    def get(self, endpoint_id: str) -> Endpoint:
        """One endpoint (possibly up to ``ttl`` seconds old), or NotFoundError."""
        return self._ids.get(endpoint_id, self._store.get_endpoint)

    def get_many(self, endpoint_ids: Sequence[str]) -> dict[str, Endpoint]:
        """The endpoints found among these ids (as old as ``get``'s): the cached ones, the others in
        BatchGetItem reads of 100 (a sender batch of 10 distinct endpoints: one request, not ten).
        The batch read is eventually consistent, well within the cache's own ``ttl`` of staleness."""
        found: dict[str, Endpoint] = {}
        missing: list[str] = []
        for endpoint_id in dict.fromkeys(endpoint_ids):
            if self._ids.fresh(endpoint_id):
                found[endpoint_id] = self._ids.get(endpoint_id, self._store.get_endpoint)
            else:
                missing.append(endpoint_id)
        for endpoint in self._store.get_endpoints(missing) if missing else []:
            self._ids.put(endpoint.id, endpoint)
            found[endpoint.id] = endpoint
        return found

    def invalidate(self) -> None:
        """Reload on next use (after a change made in this process)."""
        self._owners.clear()
        self._ids.clear()


class ApplicationCache:
    """Applications read through a short-lived cache, like sources: a publish makes no consistent read."""

    def __init__(self, store: ApplicationStore, clock: Callable[[], float], ttl: float) -> None:
        self._store = store
        self._entries: TtlCache[str, Application | None] = TtlCache(clock, ttl)
        self._uids: TtlCache[str, str | None] = TtlCache(clock, ttl)

    def id_for_uid(self, uid: str) -> str | None:
        """The id of the application with this uid (possibly up to ``ttl`` seconds old), or None."""
        return self._uids.get(uid, self._store.application_id_for_uid)

    def get(self, application_id: str) -> Application:
        """The application (possibly up to ``ttl`` seconds old), or NotFoundError."""
        found = self._entries.get(application_id, self._load)
        if found is None:
            raise NotFoundError(f"no application {application_id!r}", code="application_not_found")
        return found

    def _load(self, application_id: str) -> Application | None:
        try:
            return self._store.get_application(application_id)
        except NotFoundError:
            return None

    def invalidate(self, application_id: str | None = None) -> None:
        """Forget one application (or all) after a change made in this process."""
        if application_id is None:
            self._entries.clear()
            self._uids.clear()
        else:
            self._entries.pop(application_id)


def _routed(endpoint: Endpoint) -> Endpoint:
    """The endpoint as the router holds it: everything matching needs, without transformation code."""
    return endpoint if endpoint.transformation is None else replace(endpoint, transformation=None)


class SubscriptionCache:
    """An owner's endpoints for the router, by subscription page, reloaded only when its version moves.

    Memory is bounded by ``max_endpoints`` (pages least recently used go first); each page's endpoints
    are tagged with the owner version they were read at, so a stale page is never matched.
    """

    def __init__(
        self,
        store: SubscriptionReader,
        clock: Callable[[], float],
        *,
        check_seconds: float,
        max_endpoints: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._check = check_seconds
        self._max = max(max_endpoints, 1)
        self._versions: Lru[str | None, tuple[float, int, int, bool]] = Lru()
        self._legacy: Lru[str | None, tuple[float, list[Endpoint]]] = Lru(LEGACY_OWNERS)
        self._warned: Lru[str | None, bool] = Lru()
        self._pages: OrderedDict[tuple[str | None, int], tuple[int, list[Endpoint]]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.loads = 0  # pages read from the store (the bench and tests count them)

    def _state(self, owner: str | None) -> tuple[int, int, bool]:
        now = self._clock()
        hit = self._versions.get(owner)
        if hit is None or now - hit[0] >= self._check:
            version, pages, complete = self._store.owner_state(owner)
            hit = (now, version, pages, complete)
            self._versions.put(owner, hit)
        return hit[1], hit[2], hit[3]

    def pages(self, owner: str | None) -> int:
        """How many subscription pages the owner has (its version checked at most every check_seconds)."""
        return self._state(owner)[1]

    def complete(self, owner: str | None) -> bool:
        """Whether every endpoint of the owner is in its subscription pages (the same cached read as its
        version: no extra read). Not yet for an owner with endpoints from before subscription pages until
        ``python -m chalicelib.backfill`` has passed it."""
        return self._state(owner)[2]

    def legacy(self, owner: str | None) -> list[Endpoint]:
        """Every endpoint of an owner not yet backfilled, from its full listing (as the router read them
        before subscription pages: one listing per owner at most every check_seconds, at most
        ``LEGACY_OWNERS`` owners held). Logs a WARNING once per owner per container."""
        now = self._clock()
        hit = self._legacy.get(owner)
        if hit is None or now - hit[0] >= self._check:
            hit = (now, [_routed(e) for e in self._store.endpoints_of(owner)])
            self._legacy.put(owner, hit)
            if hit[1] and self._warned.get(owner) is None:
                self._warned.put(owner, True)
                log.warning(
                    "endpoints outside subscription pages: matching from the full listing until "
                    "python -m chalicelib.backfill has run",
                    extra={"application_id": owner, "endpoints": len(hit[1])},
                )
        return hit[1]

    def page(self, owner: str | None, number: int) -> list[Endpoint]:
        """The endpoints of one subscription page, as of the owner's current version."""
        version = self._state(owner)[0]
        key = (owner, number)
        with self._lock:
            hit = self._pages.get(key)
            if hit is not None and hit[0] == version:
                self._pages.move_to_end(key)
                return hit[1]
        endpoints = self._store.get_endpoints(self._store.subscription_page(owner, number))
        # The router matches; it never runs a transformation (the sender reads its endpoint), so the
        # cache does not hold the code: up to 16 KiB an endpoint, 800 MB for a full cache of 50,000.
        endpoints = [_routed(e) for e in endpoints if e.application_id == owner]
        with self._lock:
            self.loads += 1
            old = self._pages.pop(key, None)
            if old is not None:
                self._held -= len(old[1])
            self._pages[key] = (version, endpoints)
            self._held += len(endpoints)
            while self._held > self._max and len(self._pages) > 1:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._held -= len(dropped)
        return endpoints

    @property
    def held(self) -> int:
        """How many endpoints are cached now (at most ``max_endpoints``, or one page if bigger)."""
        return self._held

    def invalidate(self) -> None:
        """Check every owner's version on next use (after a change made in this process)."""
        self._versions.clear()
        self._legacy.clear()


class Invalidates(Protocol):
    """A cache that can forget everything it holds."""

    def invalidate(self) -> None:
        """Reload on next use."""


class EndpointCaches:
    """The endpoint caches of this process, told at once when an endpoint changes here (``EndpointChanges``).

    One per process, shared by the roles: the local stack serves the API and runs the workers in one
    process, so a change made through the API reaches the router's and the sender's caches too.
    """

    def __init__(self) -> None:
        self._caches: list[Invalidates] = []
        self._lock = threading.Lock()

    def watch(self, cache: Invalidates) -> None:
        """Forget what ``cache`` holds whenever an endpoint changes in this process."""
        with self._lock:
            self._caches.append(cache)

    def endpoints_changed(self) -> None:
        """Every watched cache reloads on next use."""
        with self._lock:
            caches = list(self._caches)
        for cache in caches:
            cache.invalidate()
