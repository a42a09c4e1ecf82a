"""The deliveries queue's message: one attempt of one (message, endpoint) delivery."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, replace
from typing import Literal

from chalicelib.ids import new_id
from chalicelib.models import Attempt, Message
from chalicelib.packing import pack_message, unpacked_fields

VERSION = 1
REOPENABLE = ("", "succeeded", "failed", "skipped")
# A first attempt's task carries its message when the packed form is at most this (base64: 4/3 more),
# so the sender reads no message item; ten such tasks stay within one 64 KB SQS request chunk.
CARRIED_BYTES = 4096


class PoisonTaskError(Exception):
    """A delivery task that can never be processed (unreadable)."""


def _carried(message: Message) -> tuple[str, bool] | None:
    """A small message's packed form (base64, and whether deflated) to carry in a task, or None (its body
    is in S3, or it packs larger than ``CARRIED_BYTES``). Without its endpoint ids: no reader needs them."""
    if message.body_ref is not None:
        return None
    data, deflated = pack_message(replace(message, endpoints=()))
    if len(data) > CARRIED_BYTES:
        return None
    return base64.b64encode(data).decode(), deflated


def _uncarried(message_id: str, carried: str, deflated: bool, receipt_id: str) -> Message | None:
    """The message a task carries, or None when it carries none (PoisonTaskError if unreadable)."""
    if not carried:
        return None
    try:
        fields = unpacked_fields(base64.b64decode(carried), deflated=deflated)
        return Message(id=message_id, status="stored", receipt_id=receipt_id, **fields)
    except (binascii.Error, zlib.error, KeyError, TypeError, ValueError) as exc:
        raise PoisonTaskError(f"unreadable message in a task: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Task:
    """One attempt of one delivery, as queued."""

    message_id: str
    endpoint_id: str
    attempt: int = 1
    not_before: float = 0.0
    generation: str = ""
    # A resend of a delivery that had ended: the status it ended in, taken off its message's delivery
    # counters when this delivery ends again (messages with attempt shards only); "" otherwise.
    reopens: str = ""
    # The endpoint's throttle slot this task holds (chalicelib.outbound.flow): it is sent at that time
    # without taking another. 0: none.
    slot: float = 0.0
    # The message, packed (``chalicelib.packing``), base64; "" when the sender reads it from the table.
    carried: str = ""
    carried_deflated: bool = False
    carried_receipt: str = ""
    # Its delivery's key in a fifo endpoint's list (``chalicelib.outbound.fifo``) once it entered it; "".
    fifo: str = ""

    def carrying(self, message: Message) -> Task:
        """This task with its message in it, if the message is small and inline; else this task."""
        if message.fanout_pages or message.attempt_shards or message.first_claim is not None:
            # (a stored router claim must be read by the sender from the item: the packed form lacks it)
            return self
        packed = _carried(message)
        if packed is None:
            return self
        return replace(
            self, carried=packed[0], carried_deflated=packed[1], carried_receipt=message.receipt_id
        )

    def message(self) -> Message | None:
        """The message the task carries, or None (PoisonTaskError if it is unreadable)."""
        return _uncarried(self.message_id, self.carried, self.carried_deflated, self.carried_receipt)

    def encode(self) -> str:
        """The queue's text form."""
        return json.dumps(
            {
                "v": VERSION,
                "message_id": self.message_id,
                "endpoint_id": self.endpoint_id,
                "attempt": self.attempt,
                "not_before": self.not_before,
                "generation": self.generation,
                **({"reopens": self.reopens} if self.reopens else {}),
                **({"slot": self.slot} if self.slot else {}),
                **({"q": self.fifo} if self.fifo else {}),
                **(
                    {"m": self.carried, "mz": self.carried_deflated, "r": self.carried_receipt}
                    if self.carried
                    else {}
                ),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Task:
        """Parse the queue's text form, or PoisonTaskError."""
        try:
            doc = json.loads(text)
            task = cls(
                str(doc["message_id"]),
                str(doc["endpoint_id"]),
                int(doc["attempt"]),
                float(doc["not_before"]),
                str(doc.get("generation", "")),
                str(doc.get("reopens", "")),
                float(doc.get("slot", 0.0)),
                str(doc.get("m", "")),
                doc.get("mz") is True,
                str(doc.get("r", "")),
                str(doc.get("q", "")),
            )
            if doc.get("v") != VERSION or task.attempt < 1 or task.reopens not in REOPENABLE:
                raise ValueError("bad version or attempt")
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise PoisonTaskError(f"unreadable delivery task: {type(exc).__name__}") from exc
        return task


def count_due(shards: int, status: str, reopens: str) -> bool:
    """Whether a delivery that ends ``status`` moves its message's delivery counters: only a message
    with attempt shards keeps them, and a reopened delivery that ends as it had ended leaves them."""
    return shards > 0 and status in ("succeeded", "failed", "skipped") and reopens != status


def ending(
    task: Task,
    generation: str,
    now: float,
    *,
    outcome: Literal["failed", "skipped"],
    error_class: str,
    error: str | None = None,
    expires_at: float,
    shards: int = 0,
) -> Attempt:
    """The attempt that ends a task's delivery without a request: the endpoint is disabled or gone
    (``skipped``), its listen session is over or the task was dead-lettered (``failed``). ``shards``: the
    message's ``attempt_shards``; the attempt carries the task's ``reopens`` and whether it is to be
    counted (claimed with the mark, then counted: see ``SenderStore.count_delivery_ending``)."""
    return Attempt(
        message_id=task.message_id,
        endpoint_id=task.endpoint_id,
        number=task.attempt,
        claim_id=new_id("clm"),
        started_at=now,
        status=outcome,
        delivery_status=outcome,
        error_class=error_class,
        error=error,
        expires_at=expires_at,
        generation=generation,
        shards=shards,
        reopens=task.reopens,
        count_due=count_due(shards, outcome, task.reopens),
    )


CHUNK_PREFIX = '{"fanout":'
CHUNK_FANOUT = 10  # sub-ranges one chunk task hands on: a 10-ary tree, so every chunk sends one batch


@dataclass(frozen=True)
class FanoutChunk:
    """A fan-out task on the ingest queue: match and enqueue slots ``lo`` (itself) to ``hi`` of a message.

    A message whose owners have more than one subscription page has one slot per page (``parts``: each
    owner with its page count, in order). The router does slot 0 and queues the rest as chunk tasks; a
    chunk does its first slot and hands the rest on in at most ten sub-ranges. It carries what matching
    needs, so it reads no message.
    """

    message_id: str
    receipt_id: str
    generation: str
    source_id: str
    event_type: str | None
    received_at: float
    expires_at: float
    parts: tuple[tuple[str | None, int], ...]
    lo: int
    hi: int
    # The message, packed and base64 (as a delivery task carries it), when it is small: payload filters
    # match it without reading the message item. "" when a chunk must read it (``FanoutChunk.message``).
    carried: str = ""
    carried_deflated: bool = False

    def encode(self) -> str:
        """The queue's text form (starts with ``CHUNK_PREFIX``, which no envelope does)."""
        return json.dumps(
            {
                "fanout": VERSION,
                "message_id": self.message_id,
                "receipt_id": self.receipt_id,
                "generation": self.generation,
                "source_id": self.source_id,
                "event_type": self.event_type,
                "received_at": self.received_at,
                "expires_at": self.expires_at,
                "parts": [list(p) for p in self.parts],
                "lo": self.lo,
                "hi": self.hi,
                **({"m": self.carried, "mz": self.carried_deflated} if self.carried else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> FanoutChunk:
        """Parse the queue's text form, or PoisonTaskError."""
        try:
            doc = json.loads(text)
            if doc.get("fanout") != VERSION:
                raise ValueError("bad version")
            event_type = doc["event_type"]
            chunk = cls(
                str(doc["message_id"]),
                str(doc["receipt_id"]),
                str(doc["generation"]),
                str(doc["source_id"]),
                None if event_type is None else str(event_type),
                float(doc["received_at"]),
                float(doc["expires_at"]),
                tuple((None if o is None else str(o), int(n)) for o, n in doc["parts"]),
                int(doc["lo"]),
                int(doc["hi"]),
                str(doc.get("m", "")),
                doc.get("mz") is True,
            )
            if not 0 <= chunk.lo < chunk.hi <= sum(n for _, n in chunk.parts):
                raise ValueError("bad range")
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            raise PoisonTaskError(f"unreadable fan-out task: {type(exc).__name__}") from exc
        return chunk

    def carrying(self, message: Message) -> FanoutChunk:
        """This chunk with its message in it, if the message is small and its body inline."""
        packed = _carried(message)
        return self if packed is None else replace(self, carried=packed[0], carried_deflated=packed[1])

    def message(self) -> Message | None:
        """The message the chunk carries, or None (PoisonTaskError if it is unreadable)."""
        return _uncarried(self.message_id, self.carried, self.carried_deflated, self.receipt_id)

    def slot(self, number: int) -> tuple[str | None, int]:
        """The (owner, subscription page) of one slot."""
        for owner, pages in self.parts:
            if number < pages:
                return owner, number
            number -= pages
        raise IndexError(number)

    def split(self) -> list[FanoutChunk]:
        """The chunks for slots ``lo + 1`` to ``hi``: at most ``CHUNK_FANOUT`` contiguous ranges."""
        rest = self.hi - self.lo - 1
        if rest <= 0:
            return []
        ways = min(CHUNK_FANOUT, rest)
        out = []
        start = self.lo + 1
        for i in range(ways):
            size = rest // ways + (1 if i < rest % ways else 0)
            out.append(replace(self, lo=start, hi=start + size))
            start += size
        return out
