"""Recovery: sending again what did not arrive, through the same claims as every other attempt.

Resuming is the other half: a deliveries queue that lost its tasks (the local stack's emulator restarted
empty) gets back, from the attempts on record, the task each pending delivery was waiting for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from chalicelib.commands import Recover, Replay, Resend
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.jobs import StepResult
from chalicelib.models import Attempt, Endpoint, JobPlan, Message, generation_of
from chalicelib.outbound.routing import matches, owned_alike
from chalicelib.outbound.tasks import Task
from chalicelib.ports import (
    DeliveryHistory,
    EndpointLookup,
    EndpointSource,
    MessageLookup,
    MessageQuery,
    MessageStore,
    Queue,
)
from chalicelib.scope import OPERATOR, Scope

STEP_PAGE = 100  # attempts or messages per read of a job step
STEP_SEARCH_PAGES = 5  # search pages one step of a job reads at most (each looks at up to MAX_EXAMINED)


class Recovery:
    """Sending again what did not arrive: one message (resend) or an endpoint's failed and skipped deliveries.

    A new attempt is one past the delivery's last, in the message's current storing, so it goes through the
    same claim as every other attempt: if a scheduled retry with that number is already queued, only one of
    the two is sent.
    """

    def __init__(
        self,
        *,
        store: DeliveryHistory,
        queue: Queue,
        endpoints: EndpointSource,
        clock: Callable[[], float],
        messages: MessageLookup | None = None,
        scoped_endpoints: EndpointLookup | None = None,
    ) -> None:
        self._store = store
        self._queue = queue
        self._endpoints = endpoints
        self._clock = clock
        # Without the API's scoped lookups (a job step), the store and the cache answer unscoped.
        self._messages = messages or _StoredMessages(store)
        self._scoped_endpoints = scoped_endpoints or _CachedEndpoints(endpoints)

    def resend(self, message_id: str, command: Resend, scope: Scope = OPERATOR) -> list[str]:
        """Queue one more attempt of a message to each of its endpoints (or the ones the command names)."""
        ids = command.endpoint_ids
        message = self._messages.message(message_id, scope)
        if not ids and message.fanout_pages:
            # Bounded: a message that fanned out to hundreds of endpoints is resent 100 endpoints a call.
            raise ValidationError(
                f"this message has {message.deliveries} deliveries: name at most 100 in endpoint_ids",
                field="endpoint_ids",
                code="endpoint_ids_required",
            )
        targets = list(ids) if ids else list(message.endpoints)
        for endpoint_id in targets:
            endpoint = self._scoped_endpoints.get(
                endpoint_id, scope
            )  # NotFoundError: unknown, or a token's foreign
            if not owned_alike(endpoint, message):
                # The operator sees every endpoint, but A's message never goes to B's endpoint.
                raise ValidationError(
                    f"endpoint {endpoint_id!r} belongs to another application than message {message_id!r}",
                    field="endpoint_ids",
                    code="endpoint_of_another_application",
                )
        self._enqueue(message, targets, self._attempts_to(message, targets))
        return targets

    def plan_recover(self, endpoint_id: str, command: Recover, scope: Scope = OPERATOR) -> JobPlan:
        """Check a recovery of an endpoint (since a Unix time) and make it a job: ``recover_step`` then queues
        one more attempt of every delivery to the endpoint that ended failed or skipped since then, however
        many, and with ``include_unmatched`` a first attempt of each message of its owner received since then
        that matched no endpoint and that its filter takes now."""
        since, unmatched = command.since, command.include_unmatched
        owner = self._scoped_endpoints.get(endpoint_id, scope).application_id
        params = {"endpoint_id": endpoint_id, "since": float(since), "include_unmatched": unmatched}
        return JobPlan("endpoint.recover", params, owner)

    def recover(self, endpoint_id: str, command: Recover, scope: Scope = OPERATOR) -> list[str]:
        """A whole recovery here, every step in turn (the API runs the same steps as a job); returns the
        ids of the messages queued again."""
        plan = self.plan_recover(endpoint_id, command, scope)
        recovered: list[str] = []
        cursor: str | None = None
        while True:
            ids, cursor = self._recover_some(plan.params, cursor, 1000)
            recovered.extend(ids)
            if cursor is None:
                return recovered

    def recover_step(self, params: Mapping[str, Any], cursor: str | None, limit: int) -> StepResult:
        """One step of an ``endpoint.recover`` job: at most ``limit`` attempts (or unmatched messages)."""
        ids, cursor = self._recover_some(params, cursor, limit)
        return StepResult(len(ids), cursor)

    def _recover_some(
        self, params: Mapping[str, Any], cursor: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        """Queue again what one step reaches from ``cursor``; the ids queued and the next step's cursor.

        Phase one walks the endpoint's attempts newest first, back to ``since``: each one that is the latest
        of its delivery in the message's current storing and ended it failed or skipped gets the next
        attempt (a delivery's older attempts, or one recovered since, are left alone, so a step that runs
        again queues nothing twice but what the claim deduplicates). Phase two (``include_unmatched``) walks
        the owner's messages since then (see ``_unmatched_page``).
        """
        endpoint_id, since = str(params["endpoint_id"]), float(params["since"])
        endpoint = self._endpoints.get(endpoint_id)  # NotFoundError: deleted meanwhile, the job fails
        phase, position = _position(cursor)
        recovered: list[str] = []
        tasks: list[str] = []
        if phase == "attempts":
            examined = 0
            while examined < limit:
                page = self._store.list_endpoint_attempts(
                    endpoint_id, limit=min(STEP_PAGE, limit - examined), cursor=position
                )
                examined += len(page.items)
                position = page.cursor
                for attempt in page.items:
                    if attempt.started_at < since:
                        position = None
                        break
                    task = self._recovery_task(endpoint, attempt)
                    if task is not None:
                        tasks.append(task)
                        recovered.append(attempt.message_id)
                if position is None:
                    break
            if position is None and params.get("include_unmatched"):
                phase = "unmatched"
            elif position is None:
                phase = ""
        if phase == "unmatched" and len(recovered) < limit:
            found, position = self._unmatched_page(endpoint, since, limit - len(recovered), position)
            for message in found:
                tasks.append(Task(message.id, endpoint_id, 1, generation=generation_of(message)).encode())
                recovered.append(message.id)
            phase = phase if position is not None else ""
        if tasks:
            self._queue.send_batch(tasks)
        return recovered, (json.dumps([phase, position or ""]) if phase else None)

    def _recovery_task(self, endpoint: Endpoint, attempt: Attempt) -> str | None:
        """The next attempt of the delivery ``attempt`` belongs to, if it is that delivery's latest in the
        message's current storing and ended failed or skipped; else None."""
        if attempt.delivery_status not in ("failed", "skipped"):
            return None
        try:
            message = self._store.get_message(attempt.message_id)
        except NotFoundError:
            return None  # past its retention
        generation = generation_of(message)
        if generation != attempt.generation:
            return None  # stored again since: that storing has deliveries of its own
        if not owned_alike(endpoint, message):
            return None  # never another application's message, whatever the attempts index says
        attempts = self._attempts_to(message, [attempt.endpoint_id])
        mine = [a for a in attempts if a.endpoint_id == attempt.endpoint_id and a.generation == generation]
        latest = max(mine, key=lambda a: a.number, default=None)
        if (
            latest is None
            or latest.number != attempt.number
            or latest.delivery_status not in ("failed", "skipped")
        ):
            return None
        return Task(
            message.id,
            attempt.endpoint_id,
            latest.number + 1,
            generation=generation,
            reopens=latest.delivery_status if message.attempt_shards else "",
        ).encode()

    def _unmatched_page(
        self, endpoint: Endpoint, since: float, limit: int, cursor: str | None
    ) -> tuple[list[Message], str | None]:
        """Messages of the endpoint's owner received since ``since`` that matched no endpoint when they
        arrived, that its filter takes now and that were never attempted to it: at most ``limit``, from at
        most ``STEP_SEARCH_PAGES`` search pages from ``cursor``; and the cursor after them."""
        owner = endpoint.application_id

        def keep(message: Message) -> bool:
            # A message that fanned out in pages keeps no ids inline: it matched, however many.
            unmatched = not message.endpoints and not message.fanout_pages and not message.attempt_shards
            return unmatched and message.application_id == owner and matches(endpoint, message)

        query = MessageQuery(application_id=owner, after=since)
        found: list[Message] = []
        for _ in range(STEP_SEARCH_PAGES):
            page = self._store.search_messages(
                query, limit=min(STEP_PAGE, limit - len(found)), cursor=cursor, keep=keep
            )
            for message in page.items:
                tried = self._attempts_to(message, [endpoint.id])
                if not any(a.endpoint_id == endpoint.id for a in tried):  # resent to it since
                    found.append(message)
            cursor = page.cursor
            if cursor is None or len(found) >= limit:
                break
        return found, cursor

    def plan_replay(self, endpoint_id: str, command: Replay, scope: Scope = OPERATOR) -> JobPlan:
        """Check a replay (the messages of the endpoint's owner received in [since, until), from one source
        if given, sent to the endpoint once more) and make it a job."""
        since, until, source = command.since, command.until, command.source_id
        owner = self._scoped_endpoints.get(endpoint_id, scope).application_id
        params = {
            "endpoint_id": endpoint_id,
            "since": float(since),
            "until": float(until) if until is not None else None,
            "source_id": source,
        }
        return JobPlan("endpoint.replay", params, owner)

    def replay_step(self, params: Mapping[str, Any], cursor: str | None, limit: int) -> StepResult:
        """One step of an ``endpoint.replay`` job: one more attempt to the endpoint of each of at most
        ``limit`` of its owner's messages in the range, newest first, from ``cursor``."""
        endpoint = self._endpoints.get(str(params["endpoint_id"]))  # NotFoundError: the job fails
        owner = endpoint.application_id
        until = params.get("until")
        query = MessageQuery(
            application_id=owner,
            source_id=params.get("source_id"),
            after=float(params["since"]),
            before=float(until) if until is not None else None,
        )
        tasks: list[str] = []
        for _ in range(STEP_SEARCH_PAGES):
            page = self._store.search_messages(
                query,
                limit=min(STEP_PAGE, limit - len(tasks)),
                cursor=cursor,
                keep=lambda message: owned_alike(endpoint, message),
            )
            for message in page.items:
                tasks.extend(
                    self._next_tasks(message, [endpoint.id], self._attempts_to(message, [endpoint.id]))
                )
            cursor = page.cursor
            if cursor is None or len(tasks) >= limit:
                break
        if tasks:
            self._queue.send_batch(tasks)
        return StepResult(len(tasks), cursor)

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

    def _attempts_to(self, message: Message, endpoint_ids: Sequence[str]) -> list[Attempt]:
        """What decides the next attempt of these deliveries: for a message that fanned out, the latest
        attempt of each (one Query each, in its attempt partition), never every attempt of the message;
        else every attempt of the message (one Query: at most 100 deliveries)."""
        if not message.fanout_pages:
            attempts = self._store.list_attempts(message.id, shards=message.attempt_shards)
            return self._store.first_attempts(message, attempts)  # the router's, recorded by its batch
        generation = generation_of(message)
        latest = (
            self._store.latest_attempt(message.id, e, generation, shards=message.attempt_shards)
            for e in endpoint_ids
        )
        return [a for a in latest if a is not None]

    def _send(self, tasks: Sequence[Task]) -> int:
        if tasks:
            self._queue.send_batch([task.encode() for task in tasks])
        return len(tasks)

    def _enqueue(self, message: Message, endpoint_ids: Sequence[str], attempts: list[Attempt]) -> None:
        tasks = self._next_tasks(message, endpoint_ids, attempts)
        if tasks:
            self._queue.send_batch(tasks)

    @staticmethod
    def _next_tasks(message: Message, endpoint_ids: Sequence[str], attempts: list[Attempt]) -> list[str]:
        """One more attempt of each delivery: one past its last in the message's current storing."""
        generation = generation_of(message)
        tasks = []
        for endpoint_id in endpoint_ids:
            mine = [a for a in attempts if a.endpoint_id == endpoint_id and a.generation == generation]
            latest = max(mine, key=lambda a: a.number, default=None)
            # A delivery that had ended is reopened: its message's counters take that ending off when
            # this attempt's delivery ends (messages with attempt shards keep counters; see delivery).
            ended = message.attempt_shards > 0 and latest is not None and latest.status != "in_flight"
            reopens = (
                latest.delivery_status if ended and latest and latest.delivery_status != "pending" else ""
            )
            number = latest.number + 1 if latest is not None else 1
            tasks.append(
                Task(message.id, endpoint_id, number, generation=generation, reopens=reopens).encode()
            )
        return tasks


def _position(cursor: str | None) -> tuple[str, str | None]:
    """A recovery step's cursor back as (phase, the store's cursor in that phase)."""
    if cursor is None:
        return "attempts", None
    phase, position = json.loads(cursor)
    return str(phase), str(position) or None


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


class _StoredMessages:
    """Messages straight from the store, unscoped (job steps run for the operator)."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store

    def message(self, message_id: str, scope: Scope) -> Message:
        return self._store.get_message(message_id)


class _CachedEndpoints:
    """Endpoints from the cache, unscoped (job steps run for the operator)."""

    def __init__(self, endpoints: EndpointSource) -> None:
        self._endpoints = endpoints

    def get(self, endpoint_id: str, scope: Scope) -> Endpoint:
        return self._endpoints.get(endpoint_id)
