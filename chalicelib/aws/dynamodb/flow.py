"""Flow control on the table: an endpoint's flow settings and circuit (``cb_*`` attributes of its ``EP#``
item), and the conditional writes of its circuit breaker (``chalicelib.outbound.breaker``).

The circuit lives on the endpoint's item, so the endpoint cache hands it to every sender with the endpoint
(no extra read per attempt) and ``GET /v1/endpoints/{id}`` shows it. The indexes are keys-only, so these
updates write no index entry. An endpoint's circuit item is written only on that endpoint's failures
while closed, its probes, and the success that closes it: never a key shared between endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dynamodb.core import Table
from chalicelib.aws.dynamodb.keys import Item, KeyKind, int_of, n, num, opt_s, s
from chalicelib.errors import StorageError
from chalicelib.models import BreakerPolicy, Circuit, CircuitStateName, Ordering
from chalicelib.ports import Turn

KEYS = (
    KeyKind(
        "a pending delivery of a fifo endpoint (its place in accepted order)",
        "EP#{id}#FIFO",
        "Q#{received_at}#{message}",
        note="the task to send when its turn comes; deleted when the delivery ends; TTL",
    ),
    KeyKind(
        "a fifo endpoint's turn (the one delivery that may be attempted)",
        "EP#{id}#FIFO",
        "TURN",
        note="`holder`, `lease_until`: written when the turn is taken, stretched or handed on",
    ),
    KeyKind(
        "a parked delivery task (waiting longer than one SQS delay)",
        "PARK#{bucket}#{s}",
        "{due}#{message}#{endpoint}#{generation}#{attempt}",
        note="`bucket`: the 5-minute bucket of its due time; released and deleted by the release step; TTL",
    ),
    KeyKind(
        "a delivery task an open circuit holds",
        "HOLD#{endpoint}#{s}",
        "{due}#{message}#{endpoint}#{generation}#{attempt}",
        note="released (and deleted) by the endpoint's release job when its circuit closes; TTL",
    ),
    KeyKind(
        "an endpoint's throttle (its next free slot)",
        "EP#{id}",
        "THROTTLE",
        note="`tat`: one conditional write per attempt to a throttled endpoint; TTL a day after its last slot",
    ),
)

_STATES: tuple[CircuitStateName, ...] = ("closed", "open", "half_open")
_CIRCUIT = "cb_state, cb_failures, cb_opened_at, cb_next_probe_at, cb_cycle"


def flow_attributes(
    throttle_rate: int | None, ordering: Ordering, policy: BreakerPolicy | None, circuit: Circuit
) -> Item:
    """The flow settings and circuit of an endpoint, as item attributes (defaults are left out)."""
    item: Item = {}
    if throttle_rate is not None:
        item["throttle_rate"] = n(throttle_rate)
    if ordering != "none":
        item["ordering"] = s(ordering)
    if policy is not None:
        item["circuit_breaker"] = s(json.dumps([policy.failures, policy.probe_seconds]))
    item.update(circuit_attributes(circuit))
    return item


def circuit_attributes(circuit: Circuit) -> Item:
    """A circuit as item attributes (a closed circuit that never opened: none)."""
    item: Item = {}
    if circuit.state != "closed":
        item["cb_state"] = s(circuit.state)
    if circuit.failures:
        item["cb_failures"] = n(circuit.failures)
    if circuit.opened_at is not None:
        item["cb_opened_at"] = n(circuit.opened_at)
    if circuit.next_probe_at is not None:
        item["cb_next_probe_at"] = n(circuit.next_probe_at)
    if circuit.cycle:
        item["cb_cycle"] = n(circuit.cycle)
    return item


def circuit_of(item: Item) -> Circuit:
    """The circuit an item holds."""
    state = opt_s(item, "cb_state") or "closed"
    return Circuit(
        state=next((x for x in _STATES if x == state), "closed"),
        failures=int_of(item, "cb_failures", 0) or 0,
        opened_at=num(item, "cb_opened_at"),
        next_probe_at=num(item, "cb_next_probe_at"),
        cycle=int_of(item, "cb_cycle", 0) or 0,
    )


def flow_fields(item: Item) -> dict[str, Any]:
    """The flow settings and circuit of an endpoint item, as ``Endpoint`` keyword arguments."""
    policy = opt_s(item, "circuit_breaker")
    failures, probe = json.loads(policy) if policy else (0, 0)
    return {
        "throttle_rate": int_of(item, "throttle_rate"),
        "ordering": "fifo" if opt_s(item, "ordering") == "fifo" else "none",
        "circuit_breaker": BreakerPolicy(int(failures), int(probe)) if policy else None,
        "circuit": circuit_of(item),
    }


def endpoint_key(endpoint_id: str) -> Item:
    """The endpoint's item key (``endpoints.endpoint_key``; imported late: that module encodes with this one)."""
    from chalicelib.aws.dynamodb.endpoints import endpoint_key as key

    return key(endpoint_id)


def _failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class FlowTable(Table):
    """The circuit breaker's writes (``breaker.CircuitStore``)."""

    def _circuit_now(self, endpoint_id: str) -> Circuit | None:
        item = self._call(
            "get_item",
            Key=endpoint_key(endpoint_id),
            ConsistentRead=True,
            ProjectionExpression=f"pk, {_CIRCUIT}",
        ).get("Item")
        return circuit_of(item) if item else None

    def circuit_failed(
        self, endpoint_id: str, policy: BreakerPolicy, now: float, *, probe: bool
    ) -> Circuit | None:
        """Count a failure (closed), or reopen after a failed probe (half open); the circuit after it."""
        key = endpoint_key(endpoint_id)
        values: dict[str, Any] = {":closed": s("closed")}
        try:
            if probe:
                done = self._call(
                    "update_item",
                    Key=key,
                    UpdateExpression="SET cb_state = :open, cb_next_probe_at = :due",
                    ConditionExpression="cb_state = :half",
                    ExpressionAttributeValues={
                        ":open": s("open"),
                        ":half": s("half_open"),
                        ":due": n(now + policy.probe_seconds),
                    },
                    ReturnValues="ALL_NEW",
                )
                return circuit_of(done["Attributes"])
            done = self._call(
                "update_item",
                Key=key,
                UpdateExpression="ADD cb_failures :one",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(cb_state) OR cb_state = :closed)",
                ExpressionAttributeValues={**values, ":one": n(1)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not _failed(exc):
                raise
            return self._circuit_now(endpoint_id)
        counted = circuit_of(done["Attributes"])
        if counted.failures < policy.failures:
            return counted
        cycle = counted.cycle + 1
        try:
            # One opening per cycle: the first to move it from closed at this cycle wins.
            self._call(
                "update_item",
                Key=key,
                UpdateExpression="SET cb_state = :open, cb_opened_at = :now, cb_next_probe_at = :due, "
                "cb_cycle = :cycle",
                ConditionExpression="(attribute_not_exists(cb_state) OR cb_state = :closed) AND "
                "(attribute_not_exists(cb_cycle) OR cb_cycle = :prev)",
                ExpressionAttributeValues={
                    **values,
                    ":open": s("open"),
                    ":now": n(now),
                    ":due": n(now + policy.probe_seconds),
                    ":cycle": n(cycle),
                    ":prev": n(counted.cycle),
                },
            )
        except ClientError as exc:
            if not _failed(exc):
                raise
            return self._circuit_now(endpoint_id)
        return Circuit("open", counted.failures, now, now + policy.probe_seconds, cycle)

    def circuit_probe(self, endpoint_id: str, policy: BreakerPolicy, now: float) -> Circuit | None:
        """Take the probe of a circuit whose probe time has come (None), or say how it stands: the losing
        write returns the item (ReturnValuesOnConditionCheckFailure), so a loser needs no read."""
        try:
            self._call(
                "update_item",
                Key=endpoint_key(endpoint_id),
                UpdateExpression="SET cb_state = :half, cb_next_probe_at = :due",
                ConditionExpression="cb_state IN (:open, :half) AND cb_next_probe_at <= :now",
                ExpressionAttributeValues={
                    ":open": s("open"),
                    ":half": s("half_open"),
                    ":now": n(now),
                    ":due": n(now + policy.probe_seconds),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _failed(exc):
                raise
            item: Any = exc.response.get("Item") or {}
            return circuit_of(item)
        return None

    def circuit_succeeded(self, endpoint_id: str) -> Circuit | None:
        """Close the circuit and reset its count, if either is needed; the circuit before."""
        try:
            done = self._call(
                "update_item",
                Key=endpoint_key(endpoint_id),
                UpdateExpression="SET cb_failures = :zero REMOVE cb_state, cb_opened_at, cb_next_probe_at",
                ConditionExpression="attribute_exists(pk) AND (cb_failures > :zero OR cb_state IN (:open, :half))",
                ExpressionAttributeValues={":zero": n(0), ":open": s("open"), ":half": s("half_open")},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if not _failed(exc):
                raise
            return None
        return circuit_of(done.get("Attributes", {}))


THROTTLE_TRIES = 25  # conditional writes one slot may take under contention (then the task is retried)
THROTTLE_KEEP_SECONDS = 86400  # a bucket item outlives its last slot by a day (TTL), then it is gone


def throttle_key(endpoint_id: str) -> Item:
    """The primary key of an endpoint's throttle item (its next free slot)."""
    return {"pk": s(f"EP#{endpoint_id}"), "sk": s("THROTTLE")}


class ThrottleTable(Table):
    """The throttle's token bucket (``flow.ThrottleStore``): one item per throttled endpoint."""

    def take_slot(self, endpoint_id: str, interval: float, now: float) -> float:
        """Take the next free slot: a conditional write on what the bucket held (``tat``); a lost race
        returns the item as it stands (ReturnValuesOnConditionCheckFailure), so a retry needs no read."""
        from chalicelib.outbound.flow import next_slot

        seen: float | None = None
        for _ in range(THROTTLE_TRIES):
            slot, following = next_slot(seen, now, interval)
            if seen is None or seen <= now:
                condition, values = "attribute_not_exists(tat) OR tat <= :now", {":now": n(now)}
            else:
                condition, values = "tat = :seen", {":seen": n(seen)}
            try:
                self._call(
                    "update_item",
                    Key=throttle_key(endpoint_id),
                    UpdateExpression="SET tat = :next, #ttl = :ttl",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues={
                        **values,
                        ":next": n(following),
                        ":ttl": n(int(following) + THROTTLE_KEEP_SECONDS),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not _failed(exc):
                    raise
                item: Any = exc.response.get("Item") or {}
                seen = num(item, "tat")
                continue
            return slot
        raise StorageError("the endpoint's throttle is contended: the task is retried")


PARK_KEEP_SECONDS = 30 * 86400  # a parked task's TTL past its due time: past any message's retention


def park_partition(bucket: int, shard: int) -> str:
    """The partition of one due-time bucket's shard of parked tasks."""
    return f"PARK#{bucket}#{shard}"


def hold_partition(endpoint_id: str, shard: int) -> str:
    """The partition of one shard of the tasks an endpoint's open circuit holds."""
    return f"HOLD#{endpoint_id}#{shard}"


class ParkTable(Table):
    """Parked delivery tasks (``ports.ParkStore``): ``PARK#{bucket}#{shard}`` / the task's due-ordered key;
    tasks an open circuit holds: ``HOLD#{endpoint}#{shard}`` / the same key."""

    def park(self, bucket: int, shard: int, key: str, body: str) -> None:
        """One PutItem (a second park of the same task overwrites it: still one task)."""
        self._put_parked(park_partition(bucket, shard), key, body, bucket + PARK_KEEP_SECONDS)

    def hold(self, endpoint_id: str, shard: int, key: str, body: str, now: float) -> None:
        """One PutItem under the endpoint's hold partition."""
        self._put_parked(hold_partition(endpoint_id, shard), key, body, int(now) + PARK_KEEP_SECONDS)

    def _put_parked(self, pk: str, key: str, body: str, ttl: int) -> None:
        self._call("put_item", Item={"pk": s(pk), "sk": s(key), "task": s(body), "ttl": n(ttl)})

    def parked(self, bucket: int, shard: int, *, limit: int) -> list[tuple[str, str]]:
        """One consistent Query of the bucket's shard, in due order."""
        return self._parked(park_partition(bucket, shard), limit)

    def held(self, endpoint_id: str, shard: int, *, limit: int) -> list[tuple[str, str]]:
        """One consistent Query of a shard of the endpoint's held tasks, in due order."""
        return self._parked(hold_partition(endpoint_id, shard), limit)

    def _parked(self, pk: str, limit: int) -> list[tuple[str, str]]:
        items = self._call(
            "query",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": s(pk)},
            ConsistentRead=True,
            Limit=limit,
        ).get("Items", [])
        return [(item["sk"]["S"], item["task"]["S"]) for item in items]

    def unpark(self, bucket: int, shard: int, keys: Sequence[str]) -> None:
        """BatchWriteItem deletes, 25 a call, unprocessed ones retried."""
        self._delete_parked(park_partition(bucket, shard), keys)

    def unhold(self, endpoint_id: str, shard: int, keys: Sequence[str]) -> None:
        """Delete released held tasks (as ``unpark``)."""
        self._delete_parked(hold_partition(endpoint_id, shard), keys)

    def _delete_parked(self, partition: str, keys: Sequence[str]) -> None:
        pk = s(partition)
        requests = [{"DeleteRequest": {"Key": {"pk": pk, "sk": s(key)}}} for key in keys]
        self._write_many(requests, "parked tasks undeleted")


FIFO_TURN = "TURN"
FIFO_ENTRY = "Q#"
FIFO_KEEP_SECONDS = 35 * 86400  # an entry outlives any message's retention past its acceptance (TTL)


def fifo_partition(endpoint_id: str) -> Item:
    """The partition key of a fifo endpoint's list and turn."""
    return s(f"EP#{endpoint_id}#FIFO")


def _turn_condition(seen: Turn, to: str) -> tuple[str, dict[str, Any]]:
    """The condition that the turn is still as ``seen`` (or already ``to``'s)."""
    if seen.holder is None:
        return "attribute_not_exists(holder)", {}
    if seen.holder == to:
        return "holder = :to", {}
    return "holder = :seen AND lease_until = :seen_lease", {
        ":seen": s(seen.holder),
        ":seen_lease": n(seen.lease_until),
    }


class FifoTable(Table):
    """A fifo endpoint's ordered list and its turn (``ports.FifoStore``): ``EP#{id}#FIFO`` /
    ``Q#{received_at}#{message}`` (one per pending delivery) and ``TURN``."""

    def _entry(self, endpoint_id: str, key: str) -> Item:
        return {"pk": fifo_partition(endpoint_id), "sk": s(FIFO_ENTRY + key)}

    def _turn_key(self, endpoint_id: str) -> Item:
        return {"pk": fifo_partition(endpoint_id), "sk": s(FIFO_TURN)}

    def fifo_enter(self, endpoint_id: str, key: str, body: str) -> None:
        """One conditional PutItem (an entry already there is kept)."""
        from chalicelib.outbound.fifo import accepted_at

        try:
            self._call(
                "put_item",
                Item={
                    **self._entry(endpoint_id, key),
                    "task": s(body),
                    "ttl": n(int(accepted_at(key)) + FIFO_KEEP_SECONDS),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not _failed(exc):
                raise

    def fifo_update(self, endpoint_id: str, key: str, body: str) -> None:
        """One conditional UpdateItem (never creates an entry)."""
        try:
            self._call(
                "update_item",
                Key=self._entry(endpoint_id, key),
                UpdateExpression="SET task = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": s(body)},
            )
        except ClientError as exc:
            if not _failed(exc):
                raise

    def fifo_has(self, endpoint_id: str, key: str) -> bool:
        """One consistent GetItem of the key alone."""
        item = self._call(
            "get_item", Key=self._entry(endpoint_id, key), ConsistentRead=True, ProjectionExpression="pk"
        ).get("Item")
        return bool(item)

    def fifo_head(self, endpoint_id: str, *, limit: int) -> list[tuple[str, str]]:
        """One consistent Query of the entries, in key order."""
        items = self._call(
            "query",
            KeyConditionExpression="pk = :p AND begins_with(sk, :q)",
            ExpressionAttributeValues={":p": fifo_partition(endpoint_id), ":q": s(FIFO_ENTRY)},
            ConsistentRead=True,
            Limit=limit,
        ).get("Items", [])
        return [(item["sk"]["S"][len(FIFO_ENTRY) :], item["task"]["S"]) for item in items]

    def fifo_turn(self, endpoint_id: str) -> Turn:
        """One consistent GetItem."""
        item = self._call("get_item", Key=self._turn_key(endpoint_id), ConsistentRead=True).get("Item")
        if not item:
            return Turn()
        return Turn(opt_s(item, "holder"), num(item, "lease_until") or 0.0)

    def _set_turn(self, endpoint_id: str, to: str, lease_until: float, condition: str, values: Item) -> None:
        self._call(
            "update_item",
            Key=self._turn_key(endpoint_id),
            UpdateExpression="SET holder = :to, lease_until = :lease, #ttl = :ttl",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                **values,
                ":to": s(to),
                ":lease": n(lease_until),
                ":ttl": n(int(lease_until) + FIFO_KEEP_SECONDS),
            },
        )

    def fifo_give(self, endpoint_id: str, seen: Turn, to: str, lease_until: float) -> bool:
        """One conditional UpdateItem on the turn as it was seen."""
        condition, values = _turn_condition(seen, to)
        try:
            self._set_turn(endpoint_id, to, lease_until, condition, values)
        except ClientError as exc:
            if not _failed(exc):
                raise
            return False
        return True

    def fifo_hold(self, endpoint_id: str, key: str, lease_until: float) -> None:
        """One conditional UpdateItem (the turn is ``key``'s)."""
        try:
            self._set_turn(endpoint_id, key, lease_until, "holder = :to", {})
        except ClientError as exc:
            if not _failed(exc):
                raise

    def fifo_leave(self, endpoint_id: str, key: str) -> None:
        """One DeleteItem."""
        self._call("delete_item", Key=self._entry(endpoint_id, key))

    def fifo_pass(self, endpoint_id: str, key: str, to: str | None, lease_until: float) -> bool:
        """One conditional UpdateItem (``key`` holds the turn); a lost condition returns the turn as it
        stands (ReturnValuesOnConditionCheckFailure), so an earlier hand-off to ``to`` needs no read."""
        try:
            if to is None:
                self._call(
                    "update_item",
                    Key=self._turn_key(endpoint_id),
                    UpdateExpression="REMOVE holder, lease_until",
                    ConditionExpression="holder = :me",
                    ExpressionAttributeValues={":me": s(key)},
                )
                return False
            self._call(
                "update_item",
                Key=self._turn_key(endpoint_id),
                UpdateExpression="SET holder = :to, lease_until = :lease, #ttl = :ttl",
                ConditionExpression="holder = :me",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":me": s(key),
                    ":to": s(to),
                    ":lease": n(lease_until),
                    ":ttl": n(int(lease_until) + FIFO_KEEP_SECONDS),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _failed(exc):
                raise
            item: Any = exc.response.get("Item") or {}
            return to is not None and opt_s(item, "holder") == to
        return True
