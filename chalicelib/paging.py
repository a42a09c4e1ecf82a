"""Pages of a listing and their opaque cursors (re-exported by ``chalicelib.ports``, whose docstring says
what a cursor is): apart from the ports' Protocols, so an adapter on the ingest path imports these alone.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chalicelib.errors import BadRequestError

T = TypeVar("T")
MAX_CURSOR_CHARS = 2048
MAX_PAGE = 200
MAX_DELAY_SECONDS = 900  # the longest a queue holds a message back (SQS DelaySeconds)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the opaque cursor of the next (None at the end)."""

    items: list[T]
    cursor: str | None


@dataclass(frozen=True)
class PageRequest:
    """How much of a listing to return, and from where (a cursor from the previous page)."""

    limit: int = 50
    cursor: str | None = None


def encode_cursor(position: Sequence[str] | None) -> str | None:
    """An adapter's position as an opaque URL-safe cursor (None: the listing is done)."""
    if not position:
        return None
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[str] | None:
    """A position back from a cursor of ``size`` strings; a forged or damaged cursor is a 400, never a 500."""
    if not cursor:
        return None
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise BadRequestError("the cursor is not valid", code="invalid_cursor") from None
    if not (
        isinstance(position, list)
        and len(position) == size
        and all(isinstance(p, str) and 0 < len(p) <= 512 for p in position)
    ):
        raise BadRequestError("the cursor is not valid", code="invalid_cursor")
    return position


def offsets(cursor: str | None, size: int, upto: int = 999_999) -> list[int] | None:
    """A position of ``size`` whole numbers (each at most ``upto``) back from ``offsets_cursor``; a forged
    one is a 400 (ASCII digits only: ``"²".isdigit()`` is true, and ``int("²")`` fails)."""
    position = decode_cursor(cursor, size)
    if position is None:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) <= 6 and int(p) <= upto for p in position):
        raise BadRequestError("the cursor is not valid", code="invalid_cursor")
    return [int(p) for p in position]


def offsets_cursor(numbers: Sequence[int]) -> str | None:
    """The opaque cursor of a position of whole numbers (a page, an offset)."""
    return encode_cursor([str(number) for number in numbers])


def page_of(items: Sequence[T], page: PageRequest) -> Page[T]:
    """A page of a short list read whole, from an offset cursor."""
    position = offsets(page.cursor, 1, upto=len(items))
    start = position[0] if position else 0
    chunk = list(items[start : start + page.limit])
    end = start + len(chunk)
    return Page(chunk, offsets_cursor([end]) if end < len(items) else None)
