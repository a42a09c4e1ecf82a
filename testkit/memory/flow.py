"""The in-memory fake of the circuit breaker's writes (``breaker.CircuitStore``; see ``testkit.fakes``),
on the endpoints ``MemoryEndpoints`` keeps, with the conditions of ``chalicelib.aws.dynamodb.flow``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chalicelib.models import BreakerPolicy, Circuit, Endpoint
from chalicelib.outbound.breaker import after_failure, after_probe_taken, after_success
from chalicelib.outbound.flow import next_slot
from chalicelib.ports import Turn
from testkit.memory.base import MemoryTable


class MemoryFlow(MemoryTable):
    """``CircuitStore`` in the endpoints dict of ``MemoryEndpoints``."""

    endpoints: dict[str, Endpoint]

    def _set_circuit(self, endpoint: Endpoint, circuit: Circuit) -> None:
        self.endpoints[endpoint.id] = replace(endpoint, circuit=circuit)
        self.writes += 1

    def circuit_failed(
        self, endpoint_id: str, policy: BreakerPolicy, now: float, *, probe: bool
    ) -> Circuit | None:
        self._maybe_fail()
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return None
            circuit = endpoint.circuit
            if (probe and circuit.state != "half_open") or (not probe and circuit.state != "closed"):
                return circuit
            after = after_failure(circuit, policy, now, probe=probe)
            self._set_circuit(endpoint, after)
            return after

    def circuit_probe(self, endpoint_id: str, policy: BreakerPolicy, now: float) -> Circuit | None:
        self._maybe_fail()
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return Circuit()
            circuit = endpoint.circuit
            due = circuit.next_probe_at
            if circuit.state == "closed" or due is None or due > now:
                self.writes += 1  # a failed conditional write is paid too
                return circuit
            self._set_circuit(endpoint, after_probe_taken(circuit, policy, now))
            return None

    def circuit_succeeded(self, endpoint_id: str) -> Circuit | None:
        self._maybe_fail()
        with self._lock:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return None
            circuit = endpoint.circuit
            if circuit.state == "closed" and circuit.failures == 0:
                return None
            self._set_circuit(endpoint, after_success(circuit))
            return circuit


class MemoryThrottle(MemoryTable):
    """``ThrottleStore``: each endpoint's next free slot, taken atomically."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.slots: dict[str, float] = {}

    def take_slot(self, endpoint_id: str, interval: float, now: float) -> float:
        self._maybe_fail()
        with self._lock:
            slot, following = next_slot(self.slots.get(endpoint_id), now, interval)
            self.slots[endpoint_id] = following
            self.writes += 1
            return slot


class MemoryParking(MemoryTable):
    """``ParkStore``: each bucket shard's tasks, read in key (due) order."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.parked_tasks: dict[tuple[int, int], dict[str, str]] = {}
        self.held_tasks: dict[tuple[str, int], dict[str, str]] = {}  # an open circuit's, by endpoint

    def park(self, bucket: int, shard: int, key: str, body: str) -> None:
        self._put(self.parked_tasks, (bucket, shard), key, body)

    def parked(self, bucket: int, shard: int, *, limit: int) -> list[tuple[str, str]]:
        return self._first(self.parked_tasks, (bucket, shard), limit)

    def unpark(self, bucket: int, shard: int, keys: Sequence[str]) -> None:
        self._drop(self.parked_tasks, (bucket, shard), keys)

    def hold(self, endpoint_id: str, shard: int, key: str, body: str, now: float) -> None:
        self._put(self.held_tasks, (endpoint_id, shard), key, body)

    def held(self, endpoint_id: str, shard: int, *, limit: int) -> list[tuple[str, str]]:
        return self._first(self.held_tasks, (endpoint_id, shard), limit)

    def unhold(self, endpoint_id: str, shard: int, keys: Sequence[str]) -> None:
        self._drop(self.held_tasks, (endpoint_id, shard), keys)

    # One partition of tasks (a due bucket's shard, or an endpoint's held shard), as the table keeps it.
    def _put(self, tasks: dict[Any, dict[str, str]], partition: Any, key: str, body: str) -> None:
        self._maybe_fail()
        with self._lock:
            tasks.setdefault(partition, {})[key] = body
            self.writes += 1

    def _first(self, tasks: dict[Any, dict[str, str]], partition: Any, limit: int) -> list[tuple[str, str]]:
        self._maybe_fail()
        with self._lock:
            return sorted(tasks.get(partition, {}).items())[:limit]

    def _drop(self, tasks: dict[Any, dict[str, str]], partition: Any, keys: Sequence[str]) -> None:
        self._maybe_fail()
        with self._lock:
            partition_tasks = tasks.get(partition, {})
            for key in keys:
                partition_tasks.pop(key, None)


class MemoryFifo(MemoryTable):
    """``FifoStore``: each fifo endpoint's entries (read in key order) and its turn, with the conditions of
    ``chalicelib.aws.dynamodb.flow.FifoTable``."""

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.fifo_entries: dict[str, dict[str, str]] = {}
        self.fifo_turns: dict[str, Turn] = {}

    def fifo_enter(self, endpoint_id: str, key: str, body: str) -> None:
        self._maybe_fail()
        with self._lock:
            self.fifo_entries.setdefault(endpoint_id, {}).setdefault(key, body)
            self.writes += 1

    def fifo_update(self, endpoint_id: str, key: str, body: str) -> None:
        self._maybe_fail()
        with self._lock:
            entries = self.fifo_entries.get(endpoint_id, {})
            if key in entries:
                entries[key] = body
            self.writes += 1

    def fifo_has(self, endpoint_id: str, key: str) -> bool:
        self._maybe_fail()
        with self._lock:
            return key in self.fifo_entries.get(endpoint_id, {})

    def fifo_head(self, endpoint_id: str, *, limit: int) -> list[tuple[str, str]]:
        self._maybe_fail()
        with self._lock:
            return sorted(self.fifo_entries.get(endpoint_id, {}).items())[:limit]

    def fifo_turn(self, endpoint_id: str) -> Turn:
        self._maybe_fail()
        with self._lock:
            return self.fifo_turns.get(endpoint_id, Turn())

    def fifo_give(self, endpoint_id: str, seen: Turn, to: str, lease_until: float) -> bool:
        self._maybe_fail()
        with self._lock:
            self.writes += 1
            now = self.fifo_turns.get(endpoint_id, Turn())
            if now.holder != seen.holder or (
                now.holder not in (None, to) and now.lease_until != seen.lease_until
            ):
                return False
            self.fifo_turns[endpoint_id] = Turn(to, lease_until)
            return True

    def fifo_hold(self, endpoint_id: str, key: str, lease_until: float) -> None:
        self._maybe_fail()
        with self._lock:
            self.writes += 1
            if self.fifo_turns.get(endpoint_id, Turn()).holder == key:
                self.fifo_turns[endpoint_id] = Turn(key, lease_until)

    def fifo_leave(self, endpoint_id: str, key: str) -> None:
        self._maybe_fail()
        with self._lock:
            self.writes += 1
            self.fifo_entries.get(endpoint_id, {}).pop(key, None)

    def fifo_pass(self, endpoint_id: str, key: str, to: str | None, lease_until: float) -> bool:
        self._maybe_fail()
        with self._lock:
            self.writes += 1
            holder = self.fifo_turns.get(endpoint_id, Turn()).holder
            if holder == key:
                self.fifo_turns[endpoint_id] = Turn(to, lease_until if to is not None else 0.0)
                return to is not None
            return to is not None and holder == to
