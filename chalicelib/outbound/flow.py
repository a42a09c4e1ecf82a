"""Flow control of one endpoint's deliveries: the throttle (a shared token bucket), and the ordering choices.

**The throttle** is a bucket of one token every ``1 / throttle_rate`` seconds and no burst, kept as one
number per endpoint: the time its next slot is free (``tat``, the "theoretical arrival time" of the generic
cell rate algorithm). A task takes the next free slot with one conditional write on the endpoint's own
``THROTTLE`` item (``ThrottleStore.take_slot``): slots are handed out in the order tasks asked, each
``1 / rate`` after the last, across every sender invocation. A task whose slot is now (or within
``HOLD_SECONDS``) waits for it here and is sent at it; a later one goes back on the queue carrying its
slot, due back a second before it (``wake_at``), so a burst waits in order without holding a sender (at
most ``HOLD_SECONDS`` each), and is sent at its slot without another write. A task that comes
back more than one interval (at most ``LATE_SECONDS``) after its slot (a busy or dead worker) takes a new
one, so late tasks never add up to a burst: each POST is within one interval of its own slot, and no
second holds more than ``throttle_rate`` + 1 of them, however many senders run at once.

One write per attempt to a throttled endpoint, on that endpoint's own item: at most ``MAX_THROTTLE_RATE``
a second, half of DynamoDB's 1,000 writes a second of one item (a conditional write that loses a race is
paid too). An unthrottled endpoint costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.models import Endpoint, Ordering
from chalicelib.ports import EventPublisher, Queue, ThrottleStore

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.ports import Store

MAX_THROTTLE_RATE = 500
ORDERINGS: tuple[Ordering, ...] = ("none", "fifo")
HOLD_SECONDS = 2.0  # a slot this close is waited for in the sender rather than through the queue
# A task waiting on the queue for its slot comes back this much before it (SQS delays are whole seconds and
# arrive late by up to a poll), then waits the rest in the sender: it goes out at its slot, not whenever
# the queue hands it over, so late arrivals never bunch into a burst.
ARRIVE_EARLY_SECONDS = 1.0
LATE_SECONDS = 1.0  # a held slot this far past is given up for a new one


def wake_at(slot: float) -> float:
    """When a task waiting on the queue for ``slot`` is due back."""
    return slot - ARRIVE_EARLY_SECONDS


def next_slot(tat: float | None, now: float, interval: float) -> tuple[float, float]:
    """The slot a task gets and the bucket's next free time after it (pure): the later of now and the next
    free time, then one interval on."""
    slot = now if tat is None or tat <= now else tat
    return slot, slot + interval


class Throttle:
    """The sender's side of the throttle: a slot before the claim, a wait through the queue if it is later."""

    def __init__(
        self,
        store: ThrottleStore,
        clock: Callable[[], float],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sleep = sleep

    def admit(self, endpoint: Endpoint, held: float, now: float) -> float:
        """0 to send now (after at most ``HOLD_SECONDS`` waiting here), else the slot the task waits for
        on the queue. ``held``: the slot the task already holds (0: none)."""
        rate = endpoint.throttle_rate
        if not rate:
            return 0.0
        slot = held
        # A task later than one interval past its slot takes a new one: sent late beside the slots after
        # it (several senders at once), it would put more than ``throttle_rate`` + 1 in some second.
        if not slot or now - slot > min(LATE_SECONDS, 1.0 / rate):
            slot = self._store.take_slot(endpoint.id, 1.0 / rate, now)
        wait = slot - now
        if wait > HOLD_SECONDS:
            return slot
        if wait > 0:
            self._sleep(wait)
        return 0.0


class FlowQueues(Protocol):
    """The queues the flow controls send to (a composition root has them)."""

    @property
    def ingest_queue(self) -> Queue: ...
    @property
    def deliveries_queue(self) -> Queue: ...


def held_releaser(
    settings: Settings, store: Store, ingest_queue: Queue, clock: Callable[[], float]
) -> Callable[[Endpoint], None] | None:
    """What starts an endpoint's release jobs (``chalicelib.outbound.parking``) outside the sender: for an
    endpoint disabled or deleted while its circuit held tasks. None with parking off."""
    if not settings.park_after_seconds:
        return None
    from chalicelib.jobs import Jobs
    from chalicelib.outbound.parking import start_release

    start = Jobs(store=store, queue=ingest_queue, clock=clock).start
    return lambda endpoint: start_release(start, endpoint)


def flow_controls(
    settings: Settings,
    store: Store,
    publisher: EventPublisher | None,
    clock: Callable[[], float],
    *,
    queues: FlowQueues | None = None,
) -> dict[str, Any]:
    """The sender's flow controls from the stage's settings: its breaker, throttle, parking and fifo (keyword
    arguments of ``Sender``; the wiring passes them through). With parking on and the queues given, an
    open circuit's tasks are held in the table and released by jobs on the ingest queue when it closes."""
    from chalicelib.jobs import Jobs
    from chalicelib.models import BreakerPolicy
    from chalicelib.outbound.breaker import Breaker
    from chalicelib.outbound.fifo import Fifo
    from chalicelib.outbound.parking import Holding, Parking

    default = BreakerPolicy(settings.circuit_failures, settings.circuit_probe_seconds)
    after = settings.park_after_seconds
    holding = None
    # The slow lane is the queue consumers' (a worker root's): the API's sender (listen sessions) has none.
    slow: Queue | None = getattr(queues, "slow_deliveries_queue", None)
    if after and queues is not None:
        start = Jobs(store=store, queue=queues.ingest_queue, clock=clock).start
        holding = Holding(store, queues.deliveries_queue, start, carriers=slow)
    return {
        # What a sender's own writes taught it outlives a cached copy of the endpoint.
        "breaker": Breaker(
            store,
            publisher,
            clock,
            default=default,
            memory_seconds=settings.endpoint_cache_seconds,
            on_closed=holding.release_all if holding is not None else None,
        ),
        "holding": holding,
        "slow_queue": slow,
        # A virtual clock (tests, bench) moves instead of sleeping for a slot.
        "throttle": Throttle(store, clock, getattr(clock, "advance", time.sleep)),
        "parking": Parking(store, after=after) if after else None,
        # Ordering per endpoint: its turn outlasts the claim of the attempt that holds it.
        "fifo": Fifo(
            store,
            lease_seconds=settings.delivery_lease_seconds,
            settle_seconds=settings.fifo_settle_seconds,
        ),
    }
