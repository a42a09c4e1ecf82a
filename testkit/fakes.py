"""In-memory fakes of Hookway's ports, with the same semantics as the AWS adapters.

Unit tests use them; the contract suites (``tests/integration/contracts/``, one per port) run against these
and against the real adapters on moto's server, so the fakes cannot drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.aws.dynamodb import (
    applications,
    attempts,
    catalog,
    endpoints,
    keys,
    listen,
    messages,
    sources,
)
from chalicelib.errors import NotFoundError, StorageError
from testkit.memory.applications import MemoryApplications
from testkit.memory.attempts import MemoryAttempts
from testkit.memory.base import MAX_ITEM_BYTES, item_size
from testkit.memory.catalog import MemoryCatalog
from testkit.memory.counters import MemoryCounters
from testkit.memory.endpoints import MemoryEndpoints
from testkit.memory.fanout import MemoryFanout
from testkit.memory.flow import MemoryFifo, MemoryFlow, MemoryParking, MemoryThrottle
from testkit.memory.idempotency import MemoryIdempotency
from testkit.memory.jobs import MemoryJobs
from testkit.memory.listen import MemoryListen
from testkit.memory.messages import EMPTY_DAYS, MemoryMessages
from testkit.memory.sessions import MemorySessions
from testkit.memory.sources import MemorySources

__all__ = ["EMPTY_DAYS", "MAX_ITEM_BYTES", "item_size"]  # re-exported: tests import them from here


class FakeClock:
    """A virtual clock: tests move time instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore(
    MemorySources,
    MemoryMessages,
    MemoryFanout,
    MemoryAttempts,
    MemoryEndpoints,
    MemoryApplications,
    MemoryCatalog,
    MemorySessions,
    MemoryListen,
    MemoryCounters,
    MemoryIdempotency,
    MemoryJobs,
    MemoryFlow,
    MemoryThrottle,
    MemoryParking,
    MemoryFifo,
):
    """Every table port in dicts, keyed and paginated like the DynamoDB layout (one module per aggregate in
    ``testkit.memory``)."""

    def __init__(self, clock: Any, *, page_size: int = keys.SUBSCRIPTION_PAGE) -> None:
        super().__init__(clock, page_size=page_size)


class MemoryQueue:
    """A Queue that keeps what was sent; ``fail_with`` makes the next sends fail."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.delays: list[int] = []
        self.deleted: list[str] = []
        self.visibility: list[tuple[str, int]] = []  # change_visibility's (receipt handle, seconds)
        self.fail_with: Exception | None = None
        self._n = 0

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        if len(body.encode()) > 1024 * 1024:
            raise StorageError("SQS SendMessage failed: InvalidParameterValue (message too long)")
        self.sent.append(body)
        self.delays.append(delay_seconds)
        self._n += 1
        return f"m-{self._n}"

    def send_batch(self, bodies: Sequence[str], *, delay_seconds: int = 0) -> None:
        for body in bodies:
            self.send(body, delay_seconds=delay_seconds)

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        self.deleted.extend(receipt_handles)

    def change_visibility(self, entries: Sequence[tuple[str, int]]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.visibility.extend(entries)


class MemoryBlobs:
    """A BlobStore in a dict."""

    bucket = "fake-bucket"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_with: Exception | None = None

    def put(self, key: str, data: bytes) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.objects[key] = bytes(data)
        return self.bucket

    def get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise NotFoundError(f"no stored body {key!r}", code="body_not_found") from None


class FakeKeyring:
    """The Keyring port without KMS: data keys wrapped under a master key in memory, every call counted.

    Like KMS, a wrapped key unwraps only with the same master key (another FakeKeyring's fails), and
    ``fail_with`` stands for KMS being unreachable or the grant being revoked.
    """

    def __init__(self) -> None:
        import os

        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._master = AESGCM(AESGCM.generate_key(256))
        self._random = os.urandom
        self.generated = 0
        self.unwrapped = 0
        self.fail_with: Exception | None = None

    @property
    def calls(self) -> int:
        """KMS calls made so far (GenerateDataKey and Decrypt)."""
        return self.generated + self.unwrapped

    def new_data_key(self) -> tuple[bytes, bytes]:
        if self.fail_with is not None:
            raise self.fail_with
        self.generated += 1
        plain, nonce = self._random(32), self._random(12)
        return plain, nonce + self._master.encrypt(nonce, plain, b"fake-kms")

    def unwrap(self, wrapped: bytes) -> bytes:
        if self.fail_with is not None:
            raise self.fail_with
        self.unwrapped += 1
        try:
            return self._master.decrypt(wrapped[:12], wrapped[12:], b"fake-kms")
        except Exception as exc:
            raise StorageError("KMS Decrypt failed: InvalidCiphertextException") from exc


# ----------------------------------------------------------------- DynamoDB's limits, as AWS enforces them
# Every write of MemoryStore is sized as the adapter encodes it (``chalicelib.aws.dynamodb``) and refused past
# 400 KB, as DynamoDB refuses it (chalicelib.aws.limits), so a unit test fails where AWS would. A fake
# method standing for a transaction or a batch calls ``limits.check_count(operation, n)`` with the number of
# items or keys the adapter sends in one request; a new writer gets its line here.
_ITEMS_WRITTEN: dict[str, Callable[..., list[keys.Item]]] = {
    "put_source": lambda source: [sources.source_to_item(source)],
    "store_message": lambda message, now, **_: [messages.message_to_item(message)],
    "list_messages": lambda batch, stored: messages.listing_items(batch, stored),
    "list_batch_attempts": lambda batch, done: attempts.endpoint_listing_items(batch, done),
    "record_rejections": lambda sample, counts, *, slot, until: [
        {**sources.rejection_key(sample.source_id, slot), **sources.rejection_fields(sample, until)}
    ],
    "put_endpoint": lambda endpoint: [endpoints.endpoint_to_item(endpoint)],
    "claim_attempt": lambda attempt, now: [attempts.attempt_to_item(attempt)],
    "finish_attempt": lambda attempt: [attempts.attempt_to_item(attempt)],
    "finish_counted": lambda attempt: [attempts.attempt_to_item(attempt)],
    "finish_batch": lambda batch, done: [
        attempts.batch_to_item(batch, done),
        *attempts.endpoint_listing_items(batch, done),
    ],
    "put_pulled": lambda pulled: [listen.pulled_to_item(pulled)],
    "create_application": lambda application: [applications.application_to_item(application)],
    "update_application": lambda old, new: [applications.application_to_item(new)],
    "put_event_type": lambda event_type: [catalog.event_type_to_item(event_type)],
}


def _within_limits(method: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    from chalicelib.aws import limits

    items_of = _ITEMS_WRITTEN[method.__name__]

    @functools.wraps(method)
    def write(self: MemoryStore, *args: Any, **kwargs: Any) -> Any:
        for item in items_of(*args, **kwargs):
            limits.check_item(item)
        return method(self, *args, **kwargs)

    return write


for _name in _ITEMS_WRITTEN:
    setattr(MemoryStore, _name, _within_limits(getattr(MemoryStore, _name)))
