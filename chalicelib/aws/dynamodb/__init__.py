"""The DynamoDB adapter, one module per aggregate: each holds its item layout (keys, item to model and
back, ``KEYS``) beside its reads and writes, on the shared ``core.Table``.

    core          the client call, batched reads, transactions, index pages, cursors, sharded merges
    keys          attribute values, sortable times, write shards, ``KeyKind``
    sources       SRC#        sources, sampled rejections and their counters
    messages      MSG#        messages, and the message search over every message index
    listing       LIST#       packed listings: one item per batch and key (messages, endpoint attempts)
    fanout        MSG#/FAN#   a big message's fan-out pages
    attempts      MSG#/ATT#   attempts (the claim on a delivery), a fanned-out message's counters
    endpoints     EP#, SUBS#  endpoints and their owners' subscription pages
    health        EP#         an endpoint's failure clock, disabling, the "needs attention" index
    applications  APP#, APPUID#
    catalog       ET#         event types
    sessions      SESSION#    console sessions
    listen        LISTEN#     deliveries waiting for a listen session
    counters      STATS#, CHECKPOINT#
    idempotency   IDEM#
    jobs          JOB#

``chalicelib.aws.dynamo.DynamoStore`` is all of them on one table, for wiring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.aws.dynamodb.keys import KeyKind


def catalogue() -> tuple[KeyKind, ...]:
    """Every kind of item the adapter writes, from the modules that write them (``docs/data-model.md``)."""
    from chalicelib.aws.dynamodb import (
        applications,
        attempts,
        catalog,
        counters,
        endpoints,
        fanout,
        flow,
        idempotency,
        jobs,
        listen,
        listing,
        messages,
        sessions,
        sources,
    )

    modules = (
        sources,
        messages,
        listing,
        fanout,
        attempts,
        endpoints,
        flow,
        counters,
        applications,
        catalog,
        idempotency,
        jobs,
        listen,
        sessions,
    )
    return tuple(kind for module in modules for kind in module.KEYS)
