"""An endpoint's circuit breaker: the pure state machine, and the sender's side of it.

States (``Circuit.state``):

- ``closed``: attempts go out; each failed attempt adds one to ``failures``, a success resets it. At
  ``policy.failures`` consecutive failures the circuit opens (``cycle`` + 1).
- ``open``: no attempt goes out; a task that comes for the endpoint waits (see ``Sender``) until
  ``next_probe_at``. Then the first task to take the probe (one conditional write, so one worker wins)
  is sent: a real pending delivery, not a synthetic request.
- ``half_open``: that probe is in flight. Its success closes the circuit (the waiting deliveries flow
  again); its failure opens it for another ``probe_seconds``. A probe that never reports (its worker
  died) is presumed lost at ``next_probe_at`` and another task takes the next probe.

The state lives on the endpoint's own item (``cb_*`` attributes): written on a failure while closed, on a
probe, and on the change back to closed, never on a healthy endpoint's success, so no item is written
more than once per failed attempt of that endpoint (and an open circuit stops the failures). Senders read
it with the endpoint (the endpoint cache, seconds old) and remember what their own writes returned, so a
container that opened the circuit stops at once, and the others within the cache's lifetime.

``endpoint.circuit_opened`` and ``endpoint.circuit_closed`` are published like ``endpoint.disabled``
(``chalicelib.outbound.disabling``): deduplicated on the circuit's ``cycle``, so racing workers publish each
once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from chalicelib.models import BreakerPolicy, Circuit, Endpoint
from chalicelib.ports import CircuitStore, EventPublisher

__all__ = [
    "MAX_FAILURES",
    "MAX_PROBE_SECONDS",
    "Admission",
    "Breaker",
    "admit",
    "after_failure",
    "after_probe_taken",
    "after_success",
    "come_back_at",
]

MAX_FAILURES = 1000
MAX_PROBE_SECONDS = 3600
MAX_WAIT_SECONDS = 900.0  # the longest a held task waits before it looks again (one SQS delay)
EARLY_SHARE = 0.125  # of the held tasks, those that come back spread over the wait (to meet the probes)
REMEMBERED = 10_000  # endpoints whose circuit a container remembers from its own writes


# ---------------------------------------------------------------------------------------- pure machine


@dataclass(frozen=True)
class Admission:
    """What a task for the endpoint does now: ``send`` it, send it as the ``probe``, or ``wait`` until."""

    action: Literal["send", "probe", "wait"]
    until: float = 0.0


def admit(circuit: Circuit, now: float) -> Admission:
    """Whether an attempt may go out now."""
    if circuit.state == "closed":
        return Admission("send")
    due = circuit.next_probe_at if circuit.next_probe_at is not None else now
    if now >= due:
        return Admission("probe")
    return Admission("wait", due)


def come_back_at(circuit: Circuit, now: float, probe_due: float, sample: float) -> float:
    """When a task that an open circuit holds comes back (pure; ``sample`` in [0, 1)).

    The longest wait grows with the outage (a quarter of its length so far, at most ``MAX_WAIT_SECONDS``,
    never before the next probe). ``EARLY_SHARE`` of the tasks come back spread over the whole span, so
    some task is there soon after each probe time; the rest come back at the end of it (its last tenth).
    In a short outage the waiting deliveries flow again within seconds of the probe that closes it; in a
    day-long one a waiting task costs about four SendMessage an hour (as a retry's 15-minute hops did
    before), and no attempt, write, log line or operational event.
    """
    opened = circuit.opened_at if circuit.opened_at is not None else now
    longest = max(probe_due, now + min(MAX_WAIT_SECONDS, (now - opened) / 4))
    if sample < EARLY_SHARE:
        fraction = 0.9 * sample / EARLY_SHARE
    else:
        fraction = 0.9 + 0.1 * (sample - EARLY_SHARE) / (1 - EARLY_SHARE)
    return probe_due + (longest - probe_due) * fraction


def after_failure(circuit: Circuit, policy: BreakerPolicy, now: float, *, probe: bool) -> Circuit:
    """The circuit after a failed attempt (``probe``: the attempt was the circuit's probe)."""
    if circuit.state == "closed":
        failures = circuit.failures + 1
        if failures >= policy.failures:
            return Circuit("open", failures, now, now + policy.probe_seconds, circuit.cycle + 1)
        return replace(circuit, failures=failures)
    if probe:
        return replace(circuit, state="open", next_probe_at=now + policy.probe_seconds)
    return circuit  # an attempt that started before the circuit opened: the probe decides


def after_probe_taken(circuit: Circuit, policy: BreakerPolicy, now: float) -> Circuit:
    """The circuit once a task took its probe: ``half_open`` until the probe reports or is presumed lost."""
    return replace(circuit, state="half_open", next_probe_at=now + policy.probe_seconds)


def after_success(circuit: Circuit) -> Circuit:
    """The circuit after a successful attempt: closed, no failures counted."""
    return Circuit("closed", 0, None, None, circuit.cycle)


# ------------------------------------------------------------------------------------- the sender's side


class Breaker:
    """The sender's circuit breaker: admission before the claim, outcomes after the attempt."""

    def __init__(
        self,
        store: CircuitStore,
        publisher: EventPublisher | None,
        clock: Callable[[], float],
        *,
        default: BreakerPolicy,
        memory_seconds: float,
        on_closed: Callable[[Endpoint], None] | None = None,
    ) -> None:
        self._on_closed = on_closed  # releases the tasks the open circuit held (parking.Holding)
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._default = default
        self._memory = memory_seconds
        self._seen: dict[str, tuple[Circuit, float]] = {}
        self._lock = threading.Lock()

    def come_back_at(self, endpoint: Endpoint, probe_due: float, now: float, sample: float) -> float:
        """When a task held by the endpoint's open circuit comes back (see ``come_back_at``)."""
        return come_back_at(self.circuit(endpoint, now), now, probe_due, sample)

    def policy(self, endpoint: Endpoint) -> BreakerPolicy:
        """The endpoint's own policy, else the deployment's."""
        return endpoint.circuit_breaker or self._default

    def circuit(self, endpoint: Endpoint, now: float) -> Circuit:
        """The freshest circuit this container knows: its own last write's result while it is recent
        (and not older than the copy in hand), else the endpoint's cached copy."""
        with self._lock:
            seen = self._seen.get(endpoint.id)
        if seen is not None and now - seen[1] < self._memory and seen[0].cycle >= endpoint.circuit.cycle:
            return seen[0]
        return endpoint.circuit

    def _remember(self, endpoint_id: str, circuit: Circuit, now: float) -> None:
        with self._lock:
            if len(self._seen) >= REMEMBERED:
                self._seen.clear()  # bounded memory: the cached copies still hold the state
            self._seen[endpoint_id] = (circuit, now)

    def admit(self, endpoint: Endpoint, now: float) -> Admission:
        """``send`` (closed), ``probe`` (this task won the probe) or ``wait`` until a time."""
        admission = admit(self.circuit(endpoint, now), now)
        if admission.action != "probe":
            return admission
        policy = self.policy(endpoint)
        stands = self._store.circuit_probe(endpoint.id, policy, now)
        if stands is None:
            self._remember(endpoint.id, after_probe_taken(self.circuit(endpoint, now), policy, now), now)
            return admission
        # Closed meanwhile: send. Else another worker's probe is in flight: this container waits for it
        # without writing again (so parked tasks arriving together cost one write per container).
        self._remember(endpoint.id, stands, now)
        if stands.state == "closed":
            return Admission("send")
        return Admission("wait", max(stands.next_probe_at or now, now + 1.0))

    def failed(self, endpoint: Endpoint, *, probe: bool) -> Circuit | None:
        """Count a failed attempt; publish ``endpoint.circuit_opened`` if it opened the circuit. Returns the
        circuit the write left (None: no write)."""
        now = self._clock()
        before = self.circuit(endpoint, now)
        policy = self.policy(endpoint)
        if before.state != "closed" and not probe:
            return None  # a straggler that started before the circuit opened: no write
        after = self._store.circuit_failed(endpoint.id, policy, now, probe=probe)
        if after is None:
            return None
        self._remember(endpoint.id, after, now)
        if after.state == "open" and after.cycle > before.cycle and after.opened_at == now:
            self._publish(
                "endpoint.circuit_opened",
                endpoint,
                after.cycle,
                {
                    "failures": after.failures,
                    "opened_at": after.opened_at,
                    "next_probe_at": after.next_probe_at,
                    "probe_seconds": policy.probe_seconds,
                },
            )
        return after

    def succeeded(self, endpoint: Endpoint) -> None:
        """Close the circuit (and reset its count) when this container knows it needs it; publish
        ``endpoint.circuit_closed`` if it was open.

        Known from the endpoint's cached copy or this container's own last write, never guessed: a
        conditional write that finds nothing to do still costs a write unit, and a busy endpoint's
        successes would otherwise all land on its one item. After the reset the container remembers the
        closed circuit, so it writes once per change, not once per success.
        """
        now = self._clock()
        known = self.circuit(endpoint, now)
        if known.state == "closed" and known.failures == 0:
            return  # a healthy endpoint's success costs no write
        before = self._store.circuit_succeeded(endpoint.id)
        if before is None:
            return
        self._remember(endpoint.id, after_success(before), now)
        if before.state != "closed":
            if self._on_closed is not None:
                self._on_closed(endpoint)
            self._publish("endpoint.circuit_closed", endpoint, before.cycle, {"opened_at": before.opened_at})

    def _publish(self, event_type: str, endpoint: Endpoint, cycle: int, extra: dict[str, object]) -> None:
        if self._publisher is None:
            return
        self._publisher.operational(
            event_type,
            {
                "endpoint_id": endpoint.id,
                "application_id": endpoint.application_id,
                "url": endpoint.url,
                **extra,
            },
            dedupe=f"{event_type}:{endpoint.id}:{cycle}",
            application_id=endpoint.application_id,
        )
