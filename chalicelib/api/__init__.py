"""The HTTP contract in one place: one Chalice Blueprint per resource, registered by ``app.py``.

Each module declares its routes with their access (``chalicelib.api.access``: the token policy is derived
from these declarations), parses requests into the commands its services take, and shapes their results
into replies. ``openapi.yaml`` beside them is the one committed description of the contract
(``tests/unit/test_openapi.py`` checks it against these routes and real answers).

Adding a route: declare it in its resource's module (``@routes.operation(path, methods, access=...)``), add
its operation to ``openapi.yaml``. Adding a resource: a module here with ``routes = Resource(__name__)``,
listed in ``resources()``. No module here imports a service at module level (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.api.resource import Resource


def resources() -> tuple[Resource, ...]:
    """Every resource's Blueprint, in the order ``app.py`` registers them."""
    from chalicelib.api import (
        applications,
        console,
        endpoints,
        event_types,
        filters,
        inbound,
        jobs,
        listen,
        messages,
        pages,
        sources,
        system,
    )

    return (
        inbound.routes,
        pages.routes,
        system.routes,
        console.routes,
        sources.routes,
        applications.routes,
        messages.routes,
        endpoints.routes,
        jobs.routes,
        listen.routes,
        event_types.routes,
        filters.routes,
    )
