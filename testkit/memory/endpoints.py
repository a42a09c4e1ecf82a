"""The in-memory fake of EndpointStore, EndpointHealthStore and SubscriptionStore (see ``testkit.fakes``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.aws.dynamodb import endpoints, keys
from chalicelib.errors import NotFoundError
from chalicelib.models import (
    Endpoint,
)
from chalicelib.ports import Page, decode_cursor, encode_cursor
from testkit.memory.base import MemoryTable


class MemoryEndpoints(MemoryTable):
    """EndpointStore, EndpointHealthStore and SubscriptionStore, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        # owner -> [version, subscription pages]; endpoint id -> its page
        self.owners: dict[str | None, list[Any]] = {}
        self.sub_page: dict[str, int] = {}
        self.complete: set[str | None] = set()  # owners whose endpoints are all in pages
        self.pages: dict[tuple[str | None, int], set[str]] = {}
        self.room: dict[str | None, int] = {}  # owner -> lowest page below the last with room (a hint)
        self.endpoints: dict[str, Endpoint] = {}
        # endpoint id -> the time of its gsi3 "needs attention" entry (as DynamoStore writes it)
        self.attention: dict[str, float] = {}

    def put_endpoint(self, endpoint: Endpoint) -> None:
        self._maybe_fail()
        with self._lock:
            owner = endpoint.application_id
            if endpoint.id not in self.sub_page:  # as DynamoStore: join the last page with room
                new = endpoint.id not in self.endpoints
                self.sub_page[endpoint.id] = self._join(owner, endpoint.id, new=new)
            self.endpoints[endpoint.id] = endpoint
            self._bump(owner)
            changed = endpoints.attention_at(endpoint)
            if changed is None:
                self.attention.pop(endpoint.id, None)
            else:
                self.attention[endpoint.id] = changed

    def _join(self, owner: str | None, endpoint_id: str, *, new: bool = False) -> int:
        state = self.owners.setdefault(owner, [0, 0])
        room = self.room.get(owner)
        while room is not None and room < state[1] - 1:  # as DynamoStore: the room hint first
            if len(self.pages.get((owner, room), ())) < self.page_size:
                self.pages.setdefault((owner, room), set()).add(endpoint_id)
                return room
            room += 1
            self.room[owner] = room
        self.room.pop(owner, None)
        last = state[1] - 1
        if last < 0 or len(self.pages.get((owner, last), ())) >= self.page_size:
            if last < 0 and new and not any(e.application_id == owner for e in self.endpoints.values()):
                self.complete.add(owner)  # a new owner: in pages from its first endpoint
            last = state[1]
            state[1] += 1
        self.pages.setdefault((owner, last), set()).add(endpoint_id)
        return last

    def _bump(self, owner: str | None) -> None:
        self.owners.setdefault(owner, [0, 0])[0] += 1

    def owner_version(self, application_id: str | None) -> tuple[int, int]:
        self._maybe_fail()
        version, pages = self.owners.get(application_id, [0, 0])
        return version, pages

    def owner_state(self, application_id: str | None) -> tuple[int, int, bool]:
        version, pages = self.owner_version(application_id)
        return version, pages, application_id in self.complete

    def put_legacy_endpoint(self, endpoint: Endpoint) -> None:
        """Write an endpoint the way Hookway did before subscription pages (tests of the backfill)."""
        self.endpoints[endpoint.id] = endpoint

    def unjoined_endpoints(self, application_id: str | None, *, limit: int, cursor: str | None) -> Page[str]:
        self._maybe_fail()
        page = self.list_endpoints(application_id=application_id, limit=limit, cursor=cursor)
        return Page([e.id for e in page.items if e.id not in self.sub_page], page.cursor)

    def join_subscription(self, endpoint_id: str, page: int | None = None) -> bool:
        self._maybe_fail()
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None or endpoint_id in self.sub_page:
                return False
            if page is None:
                page = self._join(endpoint.application_id, endpoint_id)
            self.sub_page[endpoint_id] = page
            return True

    def mark_subscriptions_complete(self, application_id: str | None) -> None:
        self._maybe_fail()
        self.complete.add(application_id)
        self._bump(application_id)

    def subscription_page(self, application_id: str | None, number: int) -> tuple[str, ...]:
        self._maybe_fail()
        return tuple(sorted(self.pages.get((application_id, number), ())))

    def get_endpoints(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        self._maybe_fail()
        return [self.endpoints[i] for i in dict.fromkeys(endpoint_ids) if i in self.endpoints]

    def get_endpoint(self, endpoint_id: str) -> Endpoint:
        self._maybe_fail()
        try:
            return self.endpoints[endpoint_id]
        except KeyError:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found") from None

    def list_endpoints(self, *, application_id: str | None, limit: int, cursor: str | None) -> Page[Endpoint]:
        self._maybe_fail()
        entries = [
            (f"{keys.time_key(e.created_at)}#{e.id}", f"EP#{e.id}", "META", e)
            for e in self.endpoints.values()
            if e.application_id == application_id
        ]
        return self._page(entries, limit, cursor, forward=True)

    def endpoints_of(self, application_id: str | None) -> list[Endpoint]:
        self._maybe_fail()
        mine = (e for e in self.endpoints.values() if e.application_id == application_id)
        return sorted(mine, key=lambda e: (e.created_at, e.id))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self.attention.pop(endpoint_id, None)
        endpoint = self.endpoints.pop(endpoint_id, None)
        if endpoint is None:
            raise NotFoundError(f"no endpoint {endpoint_id!r}", code="endpoint_not_found")
        page = self.sub_page.pop(endpoint_id, None)
        owner = endpoint.application_id
        if page is not None:
            self.pages.get((owner, page), set()).discard(endpoint_id)
        self._bump(owner)
        if page is not None:  # compaction, as DynamoStore
            state = self.owners.setdefault(owner, [0, 0])
            if page < state[1] - 1 and self.room.get(owner, page + 1) > page:
                self.room[owner] = page
            if not self.pages.get((owner, page)):
                self.compact_subscriptions(owner)

    def compact_subscriptions(self, application_id: str | None) -> int:
        """Remove the owner's empty last pages, at most ``MAX_SHRINK_PAGES`` (as DynamoStore)."""
        from chalicelib.aws.dynamodb.endpoints import MAX_SHRINK_PAGES

        with self._lock:
            state = self.owners.setdefault(application_id, [0, 0])
            removed = 0
            while (
                removed < MAX_SHRINK_PAGES
                and state[1] > 0
                and not self.pages.get((application_id, state[1] - 1))
            ):
                self.pages.pop((application_id, state[1] - 1), None)
                state[1] -= 1
                state[0] += 1
                removed += 1
            return removed

    def set_endpoint_failing(self, endpoint_id: str, since: float | None) -> None:
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return
            if since is None and endpoint.failing_since is not None:
                self.endpoints[endpoint_id] = endpoint.with_changes(failing_since=None)
                if endpoint.enabled:
                    self.attention.pop(endpoint_id, None)
                self.writes += 1
            elif since is not None and endpoint.failing_since is None:
                self.endpoints[endpoint_id] = endpoint.with_changes(failing_since=since)
                self.attention[endpoint_id] = since
                self.writes += 1

    def disable_endpoint(self, endpoint_id: str, reason: str, now: float) -> bool:
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return False
            self.endpoints[endpoint_id] = endpoint.with_changes(
                enabled=False, disabled_reason=reason, updated_at=now
            )
            self.attention[endpoint_id] = now
            self._bump(endpoint.application_id)
            self.writes += 1
            return True

    def attention_endpoints(self, *, limit: int) -> list[Endpoint]:
        self._maybe_fail()
        entries = sorted(
            ((endpoints.attention_sort_key(at, eid), eid) for eid, at in self.attention.items()), reverse=True
        )
        return [self.endpoints[eid] for _, eid in entries[:limit] if eid in self.endpoints]

    def attention_due(
        self, until: float, *, after: float | None, limit: int, cursor: str | None
    ) -> Page[Endpoint]:
        self._maybe_fail()
        position = decode_cursor(cursor, 1)
        low, high = endpoints.attention_range(after, until)
        entries = sorted(
            key
            for key in (endpoints.attention_sort_key(at, eid) for eid, at in self.attention.items())
            if (low is None or key > low) and key <= high and (position is None or key > position[0])
        )
        chunk = entries[:limit]
        found = [self.endpoints.get(key.split("#", 1)[1]) for key in chunk]
        return Page(
            [e for e in found if e is not None], encode_cursor([chunk[-1]]) if len(entries) > limit else None
        )
