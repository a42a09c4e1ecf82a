"""The in-memory fake of AttemptStore (see ``testkit.fakes``): attempts in a dict, each in the partition the
adapter keeps it in (its message's key, or one of its attempt shards), so a read of another partition misses
it as DynamoDB's does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chalicelib.aws.dynamodb import attempts, keys
from chalicelib.errors import BadRequestError, StorageError
from chalicelib.models import Attempt, Message, first_attempt, generation_of
from chalicelib.ports import Page, decode_cursor, encode_cursor
from testkit.memory.base import MemoryTable


def attempt_pk(attempt: Attempt) -> str:
    """The partition the adapter keeps an attempt in (its message's key, or one of its attempt shards)."""
    return attempts.attempt_partition(attempt.message_id, attempt.endpoint_id, attempt.shards)


_attempt_pk = attempt_pk


def _listed_key(a: Attempt) -> tuple[str, str, str, int, float]:
    return (a.message_id, a.endpoint_id, a.generation, a.number, a.started_at)


class MemoryAttempts(MemoryTable):
    """AttemptStore and the delivery counters, in dicts, keyed and paged like the DynamoDB layout."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.attempts: dict[tuple[str, str, str, int], Attempt] = {}
        self.delivery_counters: dict[tuple[str, str], dict[str, int]] = {}  # (pk, sk) -> counts
        self.fail_counts = 0  # how many delivery-count writes to refuse next (see _maybe_fail_count)
        self.batch_listed: set[tuple[str, str, str, int, float]] = set()  # packed endpoint listings
        # Router first claims a batch recorded (the adapter's result item; they have no attempt item).
        self.first_results: dict[tuple[str, str, str, int], Attempt] = {}

    def claim_attempt(self, attempt: Attempt, now: float) -> bool:
        self._maybe_fail()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is not None and not (old.status == "in_flight" and old.lease_until < now):
                return False
            self.attempts[key] = attempt
            self.writes += 1
            return True

    def get_attempt(
        self, message_id: str, endpoint_id: str, generation: str, number: int, *, shards: int = 0
    ) -> Attempt | None:
        found = self.attempts.get((message_id, endpoint_id, generation, number))
        if found is None or _attempt_pk(found) != attempts.attempt_partition(message_id, endpoint_id, shards):
            return None  # kept in another partition than the one asked for: AWS's GetItem misses it too
        return found

    def finish_attempt(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is None and not attempt.count_due:
                self.attempts[key] = attempt  # the router's first claim, held in its message's item
                self.writes += 1
                return True
            if old is None or old.claim_id != attempt.claim_id:
                return False
            if attempt.count_due and old.status != "in_flight":
                return False  # as the adapter: never marks an outcome already recorded (and counted)
            self.attempts[key] = attempt
            self.writes += 1
            return True

    def list_batch_attempts(self, batch: str, attempts: Sequence[Attempt]) -> None:
        """As the adapter's packed endpoint listing items: each attempt listed at its start time."""
        self._maybe_fail()
        with self._lock:
            self.writes += len({a.endpoint_id for a in attempts})
            for a in attempts:
                self.batch_listed.add(_listed_key(a))

    def _endpoint_listed(self, a: Attempt) -> bool:
        """Whether the endpoint listing shows an attempt, as the adapter's: a claim that names a sender
        batch only once its batch listed it (or once an outcome was written on its own item)."""
        return not (a.batch and a.status == "in_flight") or _listed_key(a) in self.batch_listed

    def finish_batch(self, batch: str, attempts: Sequence[Attempt]) -> None:
        """As the adapter's one result item: each outcome counts while its claim still holds (the
        adapter's readers take it from the item; here it is applied to the claim at once)."""
        self._maybe_fail()
        with self._lock:
            self.writes += 1
            for a in attempts:
                self.batch_listed.add(_listed_key(a))
            for attempt in attempts:
                key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
                old = self.attempts.get(key)
                if old is not None and old.claim_id == attempt.claim_id and old.status == "in_flight":
                    self.attempts[key] = attempt
                elif attempt.batch and attempt.claim_id.startswith(f"{attempt.batch}."):
                    self.first_results[key] = attempt  # the router's claim: read with its message

    def first_attempts(self, message: Message, attempts: Sequence[Attempt]) -> list[Attempt]:
        """As the adapter: attempt 1 of each claimed delivery with no attempt item, from the claim and
        what its batch recorded."""
        claim = message.first_claim
        if claim is None or not claim.batch:
            return list(attempts)
        generation = generation_of(message)
        have = {a.endpoint_id for a in attempts if a.number == 1 and a.generation == generation}
        found: list[Attempt] = []
        for endpoint_id in claim.endpoint_ids:
            if endpoint_id in have:
                continue
            held = first_attempt(message, claim, endpoint_id)
            recorded = self.first_results.get((message.id, endpoint_id, generation, 1))
            found.append(recorded if recorded is not None and recorded.claim_id == held.claim_id else held)
        if not found:
            return list(attempts)
        return sorted([*attempts, *found], key=lambda a: (a.started_at, a.number), reverse=True)

    def list_attempts(self, message_id: str, *, shards: int = 0) -> list[Attempt]:
        partitions = attempts.attempt_partitions(message_id, shards)
        mine = [a for a in list(self.attempts.values()) if _attempt_pk(a) in partitions]
        return sorted(mine, key=lambda a: (a.started_at, a.number), reverse=True)

    def message_attempts(
        self, message_id: str, *, limit: int, cursor: str | None, shards: int = 0
    ) -> Page[Attempt]:
        """As the adapter: key order within each attempt partition, the partitions in turn."""
        self._maybe_fail()
        partitions = attempts.attempt_partitions(message_id, shards)
        position = decode_cursor(cursor, 1 if shards <= 0 else 2)
        start: tuple[int, str] = (0, "")
        if position is not None:
            number, sk = ("0", *position) if shards <= 0 else position
            if not (number.isdigit() and int(number) < len(partitions) and sk.startswith("ATT#")):
                raise BadRequestError("the cursor is not valid", code="invalid_cursor")
            start = (int(number), sk)
        keyed = sorted(
            (
                (partitions.index(_attempt_pk(a)), attempts.attempt_key(m, e, g, n)["sk"]["S"]),
                a,
            )
            for (m, e, g, n), a in list(self.attempts.items())
            if _attempt_pk(a) in partitions
        )
        after = [(key, a) for key, a in keyed if key > start]
        chunk, more = after[:limit], len(after) > limit
        if not more:
            return Page([a for _, a in chunk], None)
        number, sk = chunk[-1][0]
        return Page([a for _, a in chunk], encode_cursor([sk] if shards <= 0 else [str(number), sk]))

    def finish_counted(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        self._maybe_fail_count()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            old = self.attempts.get(key)
            if old is None or old.claim_id != attempt.claim_id or old.status != "in_flight":
                return False
            self.attempts[key] = replace(attempt, count_due=False)
            self._add_count(attempt)
            self.writes += 2
            return True

    def count_delivery_ending(self, attempt: Attempt) -> bool:
        self._maybe_fail()
        self._maybe_fail_count()
        key = (attempt.message_id, attempt.endpoint_id, attempt.generation, attempt.number)
        with self._lock:
            current = self.attempts.get(key)
            if current is None or not current.count_due:
                return False
            self.attempts[key] = replace(current, count_due=False)
            self._add_count(current)
            self.writes += 2
            return True

    def _maybe_fail_count(self) -> None:
        """A counter write refused (throttled, or a transaction conflict on the busy counter item)."""
        with self._lock:
            if self.fail_counts <= 0:
                return
            self.fail_counts -= 1
        raise StorageError("DynamoDB transact_write_items failed: TransactionCanceledException")

    def _add_count(self, attempt: Attempt) -> None:
        key = attempts.delivery_counter_key(
            attempt.message_id, attempt.generation, attempt.endpoint_id, attempt.shards
        )
        counts = self.delivery_counters.setdefault((key["pk"]["S"], key["sk"]["S"]), {})
        counts[attempt.delivery_status] = counts.get(attempt.delivery_status, 0) + 1
        if attempt.reopens in attempts.ENDED_STATUSES:
            counts[attempt.reopens] = counts.get(attempt.reopens, 0) - 1

    def delivery_counts(self, message_id: str, generation: str, shards: int) -> dict[str, int]:
        self._maybe_fail()
        totals = dict.fromkeys(attempts.ENDED_STATUSES, 0)
        for key in attempts.delivery_counter_keys(message_id, generation, shards):
            for name, value in self.delivery_counters.get((key["pk"]["S"], key["sk"]["S"]), {}).items():
                totals[name] += value
        return totals

    def latest_attempt(
        self, message_id: str, endpoint_id: str, generation: str, *, shards: int = 0
    ) -> Attempt | None:
        self._maybe_fail()
        partition = attempts.attempt_partition(message_id, endpoint_id, shards)
        mine = [
            a
            for (m, e, g, _), a in list(self.attempts.items())
            if m == message_id and e == endpoint_id and g == generation and _attempt_pk(a) == partition
        ]
        return max(mine, key=lambda a: a.number, default=None)

    def list_endpoint_attempts(self, endpoint_id: str, *, limit: int, cursor: str | None) -> Page[Attempt]:
        self._maybe_fail()
        entries = [
            (
                f"{keys.time_key(a.started_at)}#{a.message_id}#{a.number:03d}",
                _attempt_pk(a),
                f"ATT#{a.endpoint_id}#{a.generation}#{a.number:03d}",
                a,
            )
            for a in [
                *self.attempts.values(),
                *(r for k, r in list(self.first_results.items()) if k not in self.attempts),
            ]
            if a.endpoint_id == endpoint_id and self._endpoint_listed(a)
        ]
        return self._page(entries, limit, cursor, forward=False)
