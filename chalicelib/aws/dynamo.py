"""The DynamoDB adapter of every table port: one class per aggregate in ``chalicelib.aws.dynamodb``
(the item layout of each beside its reads and writes), and ``DynamoStore``, all of them on one table.
"""

from __future__ import annotations

from chalicelib.aws.dynamodb.applications import ApplicationTable
from chalicelib.aws.dynamodb.attempts import AttemptTable
from chalicelib.aws.dynamodb.catalog import CatalogTable
from chalicelib.aws.dynamodb.counters import CounterTable
from chalicelib.aws.dynamodb.fanout import FanoutTable
from chalicelib.aws.dynamodb.flow import FifoTable, FlowTable, ParkTable, ThrottleTable
from chalicelib.aws.dynamodb.health import EndpointHealthTable
from chalicelib.aws.dynamodb.idempotency import IdempotencyTable
from chalicelib.aws.dynamodb.jobs import JobTable
from chalicelib.aws.dynamodb.listen import ListenTable
from chalicelib.aws.dynamodb.messages import MessageTable
from chalicelib.aws.dynamodb.sessions import SessionTable
from chalicelib.aws.dynamodb.sources import SourceTable


class DynamoStore(
    SourceTable,
    MessageTable,
    FanoutTable,
    AttemptTable,
    EndpointHealthTable,
    ApplicationTable,
    CatalogTable,
    SessionTable,
    ListenTable,
    CounterTable,
    IdempotencyTable,
    JobTable,
    FlowTable,
    ThrottleTable,
    ParkTable,
    FifoTable,
):
    """Every port of the table at once (``ports.Store``), for wiring: one client, one table name."""
