"""One way to disable a failing endpoint: publish ``endpoint.disabled`` once, then disable it.

The sender disables an endpoint when an attempt finds it failing for too long (or answered 410 Gone); the
sweep does when no traffic came to find it. Both go through ``disable``, so the event, its dedupe key and
the order (event first: a crash between the two still tells the operator) are the same on every path.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.models import Endpoint
from chalicelib.ports import EndpointHealthStore, EventPublisher


def failing_since(endpoint: Endpoint) -> float | None:
    """When the endpoint's current run of failures began: its failure clock, or the opening of its circuit
    while that is open or half open (the circuit is written with every failure that counts, so it holds
    even when the best-effort clock write was dropped), whichever is earlier; None while healthy."""
    circuit = endpoint.circuit
    starts = [endpoint.failing_since, circuit.opened_at if circuit.state != "closed" else None]
    known = [t for t in starts if t is not None]
    return min(known) if known else None


def failed_too_long(endpoint: Endpoint, now: float, disable_after: float) -> bool:
    """Whether the endpoint has failed for ``disable_after`` seconds (see ``failing_since``)."""
    since = failing_since(endpoint)
    return since is not None and now - since >= disable_after


def failing_reason(disable_after: float) -> str:
    """The reason an endpoint that failed for too long is disabled with."""
    return f"every attempt failed for {disable_after / 86400:g} days"


def disable(
    store: EndpointHealthStore,
    publisher: EventPublisher | None,
    endpoint: Endpoint,
    reason: str,
    now: float,
    *,
    release: Callable[[Endpoint], None] | None = None,
) -> bool:
    """Publish ``endpoint.disabled``, then disable; True if this call disabled it.

    The event's id names this enabled state of the endpoint (its ``updated_at``), so workers racing to
    disable it, the sweep meeting the sender, or a retried task, publish it once.
    """
    if publisher is not None:
        publisher.operational(
            "endpoint.disabled",
            {
                "endpoint_id": endpoint.id,
                "application_id": endpoint.application_id,
                "url": endpoint.url,
                "reason": reason,
            },
            dedupe=f"endpoint.disabled:{endpoint.id}:{endpoint.updated_at!r}",
            application_id=endpoint.application_id,
        )
    disabled = store.disable_endpoint(endpoint.id, reason, now)
    if disabled and release is not None and endpoint.circuit.state != "closed":
        release(endpoint)  # its held tasks come back and end skipped: no probe will ever close it now
    return disabled
