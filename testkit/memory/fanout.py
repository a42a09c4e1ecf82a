"""The in-memory fake of FanoutStore (see ``testkit.fakes``): pages in a dict; counting a page updates the
message kept by ``MemoryMessages``, as the adapter updates the message item."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.aws.dynamodb import fanout
from chalicelib.models import FanoutPage, Message
from testkit.memory.base import MemoryTable
from testkit.memory.base import check_size as _check_size


class MemoryFanout(MemoryTable):
    """FanoutStore in a dict (with ``MemoryMessages``, whose messages it counts pages on)."""

    messages: dict[str, Message]
    fanned: dict[str, set[int]]

    def __init__(self, clock: Any, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.fanout: dict[tuple[str, int], FanoutPage] = {}

    def put_fanout_page(self, page: FanoutPage) -> None:
        self._maybe_fail()
        _check_size(fanout.fanout_to_item(page))
        with self._lock:
            self.fanout[(page.message_id, page.number)] = page
            self.writes += 1

    def get_fanout_page(self, message_id: str, number: int) -> FanoutPage | None:
        self._maybe_fail()
        return self.fanout.get((message_id, number))

    def count_fanout_page(self, message_id: str, receipt_id: str, number: int, count: int) -> None:
        self._maybe_fail()
        with self._lock:
            message = self.messages.get(message_id)
            counted = self.fanned.setdefault(message_id, set())
            if message is None or message.receipt_id != receipt_id or number in counted:
                return
            counted.add(number)
            self.messages[message_id] = replace(
                message, endpoint_count=message.endpoint_count + count, fanned_pages=len(counted)
            )
            self.writes += 1
