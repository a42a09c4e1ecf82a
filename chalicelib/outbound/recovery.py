"""Recovery: sending again what did not arrive, through the same claims as every other attempt.

Resuming is the other half: a deliveries queue that lost its tasks (the local stack's emulator restarted
empty) gets back, from the attempts on record, the task each pending delivery was waiting for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.models import Attempt, Endpoint, Message, generation_of
from chalicelib.outbound.routing import matches, owned_alike
from chalicelib.outbound.tasks import Task
from chalicelib.ports import EndpointSource, MessageQuery, Queue, Store
from chalicelib.scope import OPERATOR, Scope

UNMATCHED_PAGES = 5  # search pages ``include_unmatched`` reads at most: a bounded look, not a scan


class Recovery:
    """Sending again what did not arrive: one message (resend) or an endpoint's failed and skipped deliveries.

    A new attempt is one past the delivery's last, in the message's current storing, so it goes through the
    same claim as every other attempt: if a scheduled retry with that number is already queued, only one of
    the two is sent.
    """

    def __init__(
        self,
        *,
        store: Store,
        queue: Queue,
        endpoints: EndpointSource,
        clock: Callable[[], float],
        message_of: Callable[[str, Scope], Message] | None = None,
        endpoint_of: Callable[[str, Scope], Endpoint] | None = None,
    ) -> None:
        self._store = store
        self._queue = queue
        self._endpoints = endpoints
        self._clock = clock
        self._message_of = message_of or (lambda message_id, scope: self._store.get_message(message_id))
        self._endpoint_of = endpoint_of or (lambda endpoint_id, scope: self._endpoints.get(endpoint_id))

    def resend(self, message_id: str, doc: Any, scope: Scope = OPERATOR) -> list[str]:
        """Queue one more attempt of a message to each of its endpoints (or ``{"endpoint_ids": [...]}``)."""
        scope.require_write()
        ids = doc.get("endpoint_ids") if isinstance(doc, dict) else None
        if ids is not None and not (
            isinstance(ids, list) and all(isinstance(i, str) for i in ids) and len(ids) <= 100
        ):
            raise ValidationError(
                "endpoint_ids must be a list of at most 100 endpoint ids", field="endpoint_ids"
            )
        message = self._message_of(message_id, scope)
        if not ids and message.fanout_pages:
            # Bounded: a message that fanned out to hundreds of endpoints is resent 100 endpoints a call.
            raise ValidationError(
                f"this message has {message.deliveries} deliveries: name at most 100 in endpoint_ids",
                field="endpoint_ids",
                code="endpoint_ids_required",
            )
        targets = list(ids) if ids else list(message.endpoints)
        for endpoint_id in targets:
            endpoint = self._endpoint_of(endpoint_id, scope)  # NotFoundError: unknown, or a token's foreign
            if not owned_alike(endpoint, message):
                # The operator sees every endpoint, but A's message never goes to B's endpoint.
                raise ValidationError(
                    f"endpoint {endpoint_id!r} belongs to another application than message {message_id!r}",
                    field="endpoint_ids",
                    code="endpoint_of_another_application",
                )
        if message.fanout_pages:
            generation = generation_of(message)
            latest = (self._store.latest_attempt(message_id, e, generation) for e in targets)
            attempts = [a for a in latest if a is not None]
        else:
            attempts = self._store.list_attempts(message_id)
        self._enqueue(message, targets, attempts)
        return targets

    def recover(self, endpoint_id: str, doc: Any, scope: Scope = OPERATOR, limit: int = 1000) -> list[str]:
        """Queue one more attempt of every delivery to an endpoint that ended failed or skipped since
        ``{"since": unix time}``; with ``"include_unmatched": true`` also a first attempt of each message
        of its owner received since then that matched no endpoint and that its filter takes now (see
        ``_unmatched``); returns the message ids."""
        scope.require_write()
        since = doc.get("since") if isinstance(doc, dict) else None
        if isinstance(since, bool) or not isinstance(since, int | float) or since < 0:
            raise ValidationError("since (Unix time in seconds) is required", field="since")
        unmatched = doc.get("include_unmatched", False) if isinstance(doc, dict) else False
        if not isinstance(unmatched, bool):
            raise ValidationError("include_unmatched must be true or false", field="include_unmatched")
        endpoint = self._endpoint_of(endpoint_id, scope)
        latest: dict[str, Attempt] = {}
        cursor: str | None = None
        while len(latest) < limit:
            page = self._store.list_endpoint_attempts(endpoint_id, limit=100, cursor=cursor)
            for attempt in page.items:
                if attempt.started_at < float(since):
                    page = replace(page, cursor=None)
                    break
                current = latest.get(attempt.message_id)
                if current is None or (attempt.generation, attempt.number) > (
                    current.generation,
                    current.number,
                ):
                    latest[attempt.message_id] = attempt
            cursor = page.cursor
            if cursor is None:
                break
        recovered = []
        for message_id, attempt in latest.items():
            if attempt.delivery_status not in ("failed", "skipped"):
                continue
            try:
                message = self._store.get_message(message_id)
            except NotFoundError:
                continue  # past its retention
            if generation_of(message) != attempt.generation:
                continue  # stored again since: that storing has deliveries of its own
            if not owned_alike(endpoint, message):
                continue  # never another application's message, whatever the attempts index says
            self._enqueue(message, [endpoint_id], self._store.list_attempts(message_id))
            recovered.append(message_id)
        if unmatched and len(recovered) < limit:
            endpoint = self._endpoints.get(endpoint_id)
            for message in self._unmatched(endpoint, float(since), limit - len(recovered), set(latest)):
                self._enqueue(message, [endpoint_id], [])
                recovered.append(message.id)
        return recovered

    def _unmatched(self, endpoint: Endpoint, since: float, limit: int, seen: set[str]) -> list[Message]:
        """Messages of the endpoint's owner received since ``since`` that matched no endpoint when they
        arrived and that its filter takes now, never attempted to it: newest first, at most ``limit``,
        from at most ``UNMATCHED_PAGES`` search pages (each looks at up to ``MAX_EXAMINED`` messages)."""
        owner = endpoint.application_id

        def keep(message: Message) -> bool:
            return (
                not message.endpoints
                and message.application_id == owner
                and message.id not in seen
                and matches(endpoint, message)
            )

        query = MessageQuery(application_id=owner, after=since)
        found: list[Message] = []
        cursor: str | None = None
        for _ in range(UNMATCHED_PAGES):
            page = self._store.search_messages(query, limit=limit - len(found), cursor=cursor, keep=keep)
            for message in page.items:
                tried = self._store.list_attempts(message.id)
                if not any(a.endpoint_id == endpoint.id for a in tried):  # resent to it since
                    found.append(message)
            cursor = page.cursor
            if cursor is None or len(found) >= limit:
                break
        return found[:limit]

    def resume(self, messages: Iterable[tuple[Message, Sequence[Attempt]]]) -> int:
        """Queue the task every pending delivery of these messages waits for (see ``pending_tasks``);
        returns how many. A copy of one that is still queued meets it at the attempt's claim."""
        sent = 0
        for message, attempts in messages:
            if not message.fanout_pages:
                sent += self._send(pending_tasks(message, attempts))
                continue
            # Fanned out: its ids are in its fan-out pages, one page (<= 500 tasks) at a time.
            generation = generation_of(message)
            for number in range(message.fanout_pages):
                page = self._store.get_fanout_page(message.id, number)
                if page is None or page.generation != generation:
                    continue  # not written yet: its chunk task, still queued, writes and sends it
                ids = set(page.endpoint_ids)
                mine = [a for a in attempts if a.endpoint_id in ids]
                sent += self._send(pending_tasks(replace(message, endpoints=page.endpoint_ids), mine))
        return sent

    def _send(self, tasks: Sequence[Task]) -> int:
        if tasks:
            self._queue.send_batch([task.encode() for task in tasks])
        return len(tasks)

    def _enqueue(self, message: Message, endpoint_ids: Sequence[str], attempts: list[Attempt]) -> None:
        generation = generation_of(message)
        tasks = []
        for endpoint_id in endpoint_ids:
            numbers = [
                a.number for a in attempts if a.endpoint_id == endpoint_id and a.generation == generation
            ]
            tasks.append(
                Task(message.id, endpoint_id, max(numbers, default=0) + 1, generation=generation).encode()
            )
        if tasks:
            self._queue.send_batch(tasks)


def pending_tasks(message: Message, attempts: Iterable[Attempt]) -> list[Task]:
    """The task each pending delivery of a message waits for, due when that delivery is due.

    From the latest attempt per endpoint in the message's current storing: none yet, the first attempt
    now; a failed one with a retry scheduled, the next attempt at its ``next_attempt_at``; one still
    claimed, the same attempt when the claim's lease ends (the claim then tells a holder that finished
    from one that died). Deliveries that ended (succeeded, failed, skipped) need nothing.
    """
    generation = generation_of(message)
    latest: dict[str, Attempt] = {}
    for attempt in attempts:
        current = latest.get(attempt.endpoint_id)
        if attempt.generation == generation and (current is None or attempt.number > current.number):
            latest[attempt.endpoint_id] = attempt
    tasks = []
    for endpoint_id in dict.fromkeys((*message.endpoints, *latest)):
        last = latest.get(endpoint_id)
        if last is None:
            tasks.append(Task(message.id, endpoint_id, 1, generation=generation))
        elif last.status == "in_flight":
            due = last.lease_until + 1
            tasks.append(Task(message.id, endpoint_id, last.number, not_before=due, generation=generation))
        elif last.delivery_status == "pending":
            due = last.next_attempt_at or 0.0
            tasks.append(
                Task(message.id, endpoint_id, last.number + 1, not_before=due, generation=generation)
            )
    return tasks
