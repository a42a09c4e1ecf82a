"""Read-through caches over the Store: the warm ingest path and the router make no DynamoDB call.

Changes made in this process invalidate at once; other Lambda containers see them within the TTL.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.errors import NotFoundError
from chalicelib.models import Endpoint, Source
from chalicelib.ports import Store


class SourceCache:
    """Sources read through a short-lived cache, so the warm ingest path makes no DynamoDB call."""

    def __init__(self, store: Store, clock: Callable[[], float], ttl: float) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Source | None]] = {}

    def get(self, source_id: str) -> Source:
        """The source (possibly up to ``ttl`` seconds old), or NotFoundError."""
        now = self._clock()
        hit = self._entries.get(source_id)
        if hit is None or now - hit[0] >= self._ttl:
            try:
                source: Source | None = self._store.get_source(source_id)
            except NotFoundError:
                source = None
            hit = (now, source)
            if self._ttl > 0:
                self._entries[source_id] = hit
        if hit[1] is None:
            raise NotFoundError(f"no source {source_id!r}", code="source_not_found")
        return hit[1]

    def invalidate(self, source_id: str) -> None:
        """Forget a source after it changed in this process."""
        self._entries.pop(source_id, None)


class EndpointCache:
    """Endpoints read through a short-lived cache, per owner (an application, or None for the operator).

    The router matches each message against its owner's endpoints only, so a deployment with a thousand
    applications loads a handful of endpoints per message, not every endpoint there is.
    """

    def __init__(self, store: Store, clock: Callable[[], float], ttl: float) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._owners: dict[str | None, tuple[float, list[Endpoint]]] = {}
        self._ids: dict[str, tuple[float, Endpoint]] = {}

    def of(self, application_id: str | None) -> list[Endpoint]:
        """The endpoints of one owner (possibly up to ``ttl`` seconds old)."""
        now = self._clock()
        hit = self._owners.get(application_id)
        if hit is None or now - hit[0] >= self._ttl:
            hit = (now, self._store.endpoints_of(application_id))
            if self._ttl > 0:
                self._owners[application_id] = hit
                self._ids.update({e.id: (now, e) for e in hit[1]})
        return hit[1]

    def get(self, endpoint_id: str) -> Endpoint:
        """One endpoint (possibly up to ``ttl`` seconds old), or NotFoundError."""
        now = self._clock()
        hit = self._ids.get(endpoint_id)
        if hit is None or now - hit[0] >= self._ttl:
            hit = (now, self._store.get_endpoint(endpoint_id))
            if self._ttl > 0:
                self._ids[endpoint_id] = hit
        return hit[1]

    def invalidate(self) -> None:
        """Reload on next use (after a change made in this process)."""
        self._owners.clear()
        self._ids.clear()
