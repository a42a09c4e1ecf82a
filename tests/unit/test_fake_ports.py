"""One fake per port: each in-memory fake has every method of its port, with the port's parameters."""

from __future__ import annotations

import inspect

import pytest

from chalicelib import ports
from testkit.fakes import MemoryStore
from testkit.memory.applications import MemoryApplications
from testkit.memory.catalog import MemoryCatalog
from testkit.memory.counters import MemoryCounters
from testkit.memory.endpoints import MemoryEndpoints
from testkit.memory.idempotency import MemoryIdempotency
from testkit.memory.jobs import MemoryJobs
from testkit.memory.listen import MemoryListen
from testkit.memory.sessions import MemorySessions
from testkit.memory.sources import MemorySources

FAKES: list[tuple[type, type]] = [
    (MemorySources, ports.SourceStore),
    (MemorySources, ports.RejectionStore),
    (MemoryEndpoints, ports.EndpointStore),
    (MemoryEndpoints, ports.EndpointHealthStore),
    (MemoryEndpoints, ports.SubscriptionStore),
    (MemoryApplications, ports.ApplicationStore),
    (MemoryCatalog, ports.EventTypeStore),
    (MemorySessions, ports.SessionStore),
    (MemoryListen, ports.ListenStore),
    (MemoryCounters, ports.CounterStore),
    (MemoryCounters, ports.CheckpointStore),
    (MemoryIdempotency, ports.IdempotencyStore),
    (MemoryJobs, ports.JobStore),
    (MemoryStore, ports.Store),
]


def _methods(cls: type) -> dict[str, inspect.Signature]:
    names = {n for klass in cls.__mro__ if klass is not object for n, v in vars(klass).items() if callable(v)}
    return {n: inspect.signature(getattr(cls, n)) for n in names if not n.startswith("_")}


@pytest.mark.parametrize(("fake", "port"), FAKES, ids=lambda c: c.__name__)
def test_the_fake_has_every_method_of_its_port_with_its_parameters(fake: type, port: type) -> None:
    # GIVEN a port and its fake
    wanted = _methods(port)
    have = _methods(fake)
    # THEN every method of the port is there, with the same parameter names and kinds
    assert wanted, port
    for name, signature in wanted.items():
        assert name in have, f"{fake.__name__} lacks {name}"
        shape = [(p.name, p.kind) for p in signature.parameters.values()]
        assert [(p.name, p.kind) for p in have[name].parameters.values()] == shape, (fake.__name__, name)
