"""The local emulator, made to hold big fan-outs: moto's server with its per-request costs taken out.

Installed in the emulator's process before its server starts (``local/moto_child.py``). A fan-out of
11,000 deliveries is ~40,000 requests to the emulator; moto spends most of its time on three things that
are not AWS's semantics, and each is replaced here by the same answer computed cheaply:

* **Routing a request to its service** lists moto's package directory (``os.listdir`` and one
  ``isdir`` per service, ~150) on every request, under one lock that serializes every request: the list
  is computed once (``_cached_modules``).
* **A table Query** sorted a copy of the whole table to keep one partition (``_install_dynamodb``), then
  sorted the partition with ``DynamoType``'s Python comparisons and tested its sort key condition on
  every item: ~15 ms for a ``Limit 1`` Query of a 500-attempt partition (the message detail makes one per
  delivery shown). The condition is tested first and the survivors ordered by a key computed once
  (``_in_range``).
* **A transaction** (``TransactWriteItems``) deep-copied every table it names, to roll back on a
  cancellation: each one cost the table's size (a fan-out's deliveries each end in one, so the table's
  size times the deliveries). It keeps a copy of the items it names instead, and puts them back
  itself when it is cancelled (``_install_transactions``).
* **The access log**: one line per request through a locked handler; 2xx lines are dropped (errors and
  the line that announces the port stay), before they are even formatted.
* **DynamoDB's answers** went through moto's model-driven serializer, which looks each member of each
  ``AttributeValue`` up under half a dozen aliases: ~5 ms for a GetItem of one endpoint item, 0.1-0.5 s
  for a BatchGetItem of 100. Attribute values are copied to JSON as that walk would write them
  (``_install_serializer``), and a new item sums its size once instead of once per attribute
  (``_install_items``); a handler's method names are listed once per class, not per request.
* **DynamoDB's requests** went through the same kind of walk on the way in (~130 shape lookups per
  request, an ``AttributeValue`` member by member): attribute values are read straight from their JSON
  (``_install_parser``), blobs decoded from base64 as the walk does.
* **Attribute names**: ``camelcase_to_underscores`` (a loop over every character) ran ~14 times per
  SendMessage, through ``Queue.attributes`` (a fifth of a send's time); names are converted once each
  (``_install_names``).
* **Expressions**: every conditional write lexed its condition with a ``re.compile`` lookup per token and
  character class, and every update parsed its update expression, though a pipeline sends the same few
  expression strings each time (only the values change). The tokens of a condition and the syntax tree
  of an update expression are kept per expression string; names and values are bound afresh on every
  request, as before (``_install_expressions``).
* **Random strings**: every answer's request id (52 characters) and every received message's receipt
  handle (185) drew one ``random.choice`` per character; they are drawn with one ``choices`` call, from
  the same generator, alphabet and length (``_install_random_strings``).
* **DynamoDB's writes** are applied one at a time (``_install_write_lock``): moto's backend takes no lock,
  so two transactions ADDing to one counter on two server threads could lose a count. This one restores
  DynamoDB's semantics rather than speeding anything up.
* **SQS** keeps a queue as a list and walks all of it on every ReceiveMessage (each message's visibility
  read through a clock of ``datetime`` arithmetic), on every DeleteMessage (twice) and on every
  SendMessage (``Queue.attributes`` counts every message three times, to read one flag): minutes per
  thousand queued tasks. The same queue objects get an index beside the list:

  - a heap of messages by the instant they become receivable (the later of their visibility and their
    delay), each entry stamped with a version so a message whose visibility changed is found again at
    its new instant; a receive pops what is due, in that order, instead of scanning;
  - a map from every receipt handle a message had to the message, for DeleteMessage and
    ChangeMessageVisibility;
  - the clock moto's SQS reads, as ``time.time()`` (the same instant, without the ``datetime`` detour).

What SQS does is kept: visibility timeouts (a received message comes back when its timeout passes, or at
once after ``ChangeMessageVisibility`` to 0), receive counts, redrive to the dead-letter queue once a
message's receive count reaches ``maxReceiveCount``, delays, retention, long polling (a waiting receive
wakes when a message is sent or made visible), old receipt handles still deleting. FIFO queues, queues
with a Lambda event source mapping and anything the index did not see keep moto's own code.
``tests/integration/test_moto_speedups.py`` checks each behaviour on the server.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from copy import deepcopy
from typing import Any

_installed: list[bool] = []
_sending = threading.local()


def _now() -> float:
    return time.time()


def _now_ms() -> float:
    return time.time() * 1000


class _Index:
    """What a standard queue's messages are looked up by (guarded by the queue's own lock)."""

    def __init__(self, queue: Any) -> None:
        self.heap: list[tuple[float, int, int, Any]] = []
        self.live: dict[int, Any] = {}  # id(message) -> message, for the messages still in the queue
        self.handles: dict[str, Any] = {}  # every receipt handle a live message had -> the message
        self._seq = itertools.count()
        for message in queue._messages:
            self.add(message)

    @staticmethod
    def due(message: Any) -> float:
        """When a message can be received (moto: visible once past ``visible_at``, not before its delay)."""
        return float(max(message.visible_at, message.delayed_until))

    def push(self, message: Any) -> None:
        version = message.__dict__.get("_hw_version", 0) + 1
        message._hw_version = version
        heapq.heappush(self.heap, (self.due(message), next(self._seq), version, message))

    def add(self, message: Any) -> None:
        if id(message) in self.live:
            return
        self.live[id(message)] = message
        for handle in message.all_receipt_handles:
            if handle:
                self.handles[handle] = message
        self.push(message)

    def remove(self, queue: Any, message: Any) -> None:
        if self.live.pop(id(message), None) is None:
            return
        for handle in message.all_receipt_handles:
            if handle:
                self.handles.pop(handle, None)
        queue._messages.remove(message)
        queue.pending_messages.discard(message)

    def next_due(self, now_ms: float) -> tuple[Any | None, float | None]:
        """The first message receivable now (popped), or None and when the next one will be."""
        while self.heap:
            due, _, version, message = self.heap[0]
            if id(message) not in self.live or version != message.__dict__.get("_hw_version"):
                heapq.heappop(self.heap)  # deleted, or re-stamped since (a newer entry stands for it)
                continue
            current = self.due(message)
            if current != due:
                heapq.heappop(self.heap)  # its visibility changed behind the index's back: re-stamp
                self.push(message)
                continue
            if now_ms <= due:
                return None, due
            heapq.heappop(self.heap)
            return message, None
        return None, None


def _index(queue: Any) -> _Index:
    index = queue.__dict__.get("_hw_index")
    if index is None:
        index = queue._hw_index = _Index(queue)
    return index


def _indexed(queue: Any) -> bool:
    return not queue.fifo_queue and not queue.lambda_event_source_mappings


class _QuietAccessLog(logging.Filter):
    """Drop the access log's line of each successful request (werkzeug's ``"%s" %s %s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            isinstance(record.msg, str)
            and record.msg.rstrip().endswith('"%s" %s %s')
            and len(args) == 3
            and str(args[1]).startswith("2")
        )


def install() -> None:
    """Patch moto in this process (idempotent)."""
    if _installed:
        return
    _installed.append(True)
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())

    def _cached_modules() -> tuple[str, ...]:
        return modules

    backends.list_of_moto_modules = _cached_modules  # type: ignore[assignment]
    _install_names()
    _install_expressions()
    _install_random_strings()
    logging.getLogger("werkzeug").addFilter(_QuietAccessLog())
    _install_access_log()
    _install_sqs()
    _install_dynamodb()
    _install_transactions()
    _install_items()
    _install_write_lock()
    _install_serializer()
    _install_parser()
    _install_dispatch()


_partition = threading.local()


def _install_dynamodb() -> None:
    """A Query of the table (not an index) reads its partition, not a sorted copy of the whole table.

    moto's ``Table.query`` starts from ``all_items()`` (every item of the table, sorted) and keeps those of
    the partition key: each Query costs the table's size. While a table Query runs, ``all_items`` hands it
    that partition's items alone (what its filter would keep, in the same order), so a Query costs its
    partition. An index Query still reads every item, but no longer sorts the whole table first (it
    gets the items its hash key conditions keep, which it sorts itself). Scans are unchanged.
    """
    import inspect

    from moto.dynamodb.models.table import Table

    original_query, original_all = Table.query, Table.all_items
    signature = inspect.signature(original_query)

    def all_items(self: Any) -> Any:
        hash_key = getattr(_partition, "key", None)
        if not self.range_key_attr:
            return original_all(self)
        if hash_key is None:
            conditions = getattr(_partition, "index_keys", None)
            if not conditions:
                return original_all(self)
            # An index Query: the items its hash key conditions keep (moto's own test), unsorted: the
            # query sorts what it keeps by the index's keys and then the table's, a total order.
            return [
                item
                for partition in self.items.values()
                for item in partition.values()
                if all((v := item.attrs.get(a)) and v == want for a, want in conditions)
            ]
        return _in_range(list(self.items.get(hash_key, {}).values()))

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("index_name"):
            _partition.index_keys = bound.arguments.get("hash_key_conditions")
            try:
                return original_query(self, *args, **kwargs)
            finally:
                _partition.index_keys = None
        if bound.arguments.get("hash_key") is None:
            return original_query(self, *args, **kwargs)
        _partition.key = bound.arguments["hash_key"]
        _partition.range = (bound.arguments.get("range_comparison"), bound.arguments.get("range_objs"))
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _partition.key = None
            _partition.range = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _in_range(items: list[Any]) -> list[Any]:
    """A table Query's partition: the items its sort key condition keeps, in sort key order.

    moto sorts the whole partition with ``DynamoType``'s comparisons (a Python call and two ``cast_value``
    conversions each), then tests the condition on every item: ~15 ms for a partition of 500 attempts, for
    a Query of ``Limit 1``. Here the condition is tested first, with moto's own comparison function on
    the same ``cast_value``s, and the survivors are ordered by their ``cast_value`` computed once (the
    order ``DynamoType.__lt__`` gives); moto then sorts and tests what is left, as before. Anything the
    comparison cannot judge (a type it raises on) is left to moto's own loop, unfiltered.
    """
    from moto.dynamodb.comparisons import get_comparison_func

    comparison, objs = getattr(_partition, "range", None) or (None, None)
    func = get_comparison_func(comparison) if comparison else None
    if func is not None:
        try:
            wanted = [obj.cast_value for obj in objs or ()]
            items = [
                item
                for item in items
                if item.range_key is not None and func(item.range_key.cast_value, *wanted)
            ]
        except Exception:  # noqa: S110 - moto's own loop meets (and reports) it as before
            pass
    return sorted(items, key=lambda item: item.range_key.cast_value)


class _TableCopies:
    """``copy`` as moto's DynamoDB backend sees it: while a transaction starts, a table's "copy" is the
    table itself (so moto's own rollback, a reassignment of that copy, changes nothing)."""

    def __getattr__(self, name: str) -> Any:
        import copy

        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_transaction, "active", False) and isinstance(value, Table):
            return value
        return deepcopy(value, memo)


_transaction = threading.local()


def _install_transactions() -> None:
    """A transaction that is cancelled puts back the items it names, from copies of those items alone."""
    from moto.dynamodb import models

    backend_class = models.DynamoDBBackend
    original = backend_class.transact_write_items
    models.copy = _TableCopies()  # type: ignore[attr-defined]

    def named(backend: Any, op_type: str, op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if op_type != "Put":
            return op["TableName"], op["Key"]
        table = backend.get_table(op["TableName"])
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return op["TableName"], key

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            try:
                op_type, op = next(iter(entry.items()))
                table_name, key = named(self, op_type, op)
                current = self.get_item(table_name, key)
            except Exception:  # noqa: S112 - moto's own call below reports what is wrong with it
                continue
            saved.append((table_name, key, deepcopy(current.to_json()["Attributes"]) if current else None))
        _transaction.active = True
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(saved):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise
        finally:
            _transaction.active = False

    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _install_sqs() -> None:
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidParameterValue

    models.unix_time = _now  # type: ignore[attr-defined]
    models.unix_time_millis = _now_ms  # type: ignore[attr-defined]
    backend_class, queue_class = models.SQSBackend, models.Queue
    original_receive = backend_class.receive_message
    original_send = backend_class.send_message
    original_visibility = backend_class.change_message_visibility
    original_purge = backend_class.purge_queue
    original_add = queue_class.add_message
    original_delete = queue_class.delete_message

    # SendMessage reads Queue.attributes for one flag; its message counts are not needed there.
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        counted = getattr(queue_class, name).fget

        def count(self: Any, _counted: Any = counted) -> int:
            return 0 if getattr(_sending, "active", False) else int(_counted(self))

        setattr(queue_class, name, property(count))

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            _sending.active = False

    def add_message(self: Any, message: Any) -> None:
        original_add(self, message)
        if _indexed(self):
            with self._messages_lock:
                _index(self).add(message)
                self._messages_lock.notify_all()

    def delete_message(self: Any, receipt_handle: str) -> None:
        if not _indexed(self) or receipt_handle in self.deleted_messages:
            return original_delete(self, receipt_handle)
        with self._messages_lock:
            index = _index(self)
            message = index.handles.get(receipt_handle)
            if message is None:
                return original_delete(self, receipt_handle)  # unknown: moto's answer (invalid handle)
            index.remove(self, message)
            self.deleted_messages.update(message.all_receipt_handles)
        return None

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        queue = self.get_queue(queue_name)
        return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > _now())

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        queue = self.get_queue(queue_name)
        if not _indexed(queue):
            return original_receive(
                self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names
            )
        names = message_attribute_names or []
        deadline = _now() + (wait_seconds_timeout or 0)
        retention = int(queue.message_retention_period)
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        result: list[Any] = []
        with queue._messages_lock:
            index = _index(queue)
            while True:
                to_dlq: list[Any] = []
                upcoming: float | None = None
                while len(result) < count:
                    now_ms = _now_ms()
                    message, upcoming = index.next_due(now_ms)
                    if message is None:
                        break
                    if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                        to_dlq.append(message)
                        continue
                    if retention + message.sent_timestamp / 1000 <= now_ms / 1000:
                        index.remove(queue, message)  # past the queue's retention: gone, as in SQS
                        continue
                    queue.pending_messages.add(message)
                    message.mark_received(visibility_timeout=visibility_timeout)
                    index.handles[message.receipt_handle] = message
                    index.push(message)
                    copy = deepcopy(message)
                    models._filter_message_attributes(copy, names)
                    result.append(copy)
                for message in to_dlq:
                    index.remove(queue, message)
                    queue.dead_letter_queue.add_message(message)
                left = deadline - _now()
                if result or left <= 0:
                    return result
                wait = left if upcoming is None else min(left, max(upcoming / 1000 - _now(), 0.001))
                queue._messages_lock.wait(timeout=min(wait, 1.0))

    def change_message_visibility(
        self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        if not _indexed(queue):
            return original_visibility(self, queue_name, receipt_handle, visibility_timeout)
        with queue._messages_lock:
            message = _index(queue).handles.get(receipt_handle)
            if message is None:
                return original_visibility(self, queue_name, receipt_handle, visibility_timeout)
            until = _now_ms() + int(visibility_timeout) * 1000
            if until - message.sent_timestamp > 43200 * 1000:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
                )
            message.change_visibility(visibility_timeout)
            if message.visible:
                queue.pending_messages.discard(message)
            _index(queue).push(message)
            queue._messages_lock.notify_all()
        return None

    def purge_queue(self: Any, queue_name: str) -> None:
        original_purge(self, queue_name)
        queue = self.get_queue(queue_name)
        queue.__dict__.pop("_hw_index", None)

    backend_class.receive_message = receive_message  # type: ignore[method-assign]
    backend_class.send_message = send_message  # type: ignore[method-assign]
    backend_class.change_message_visibility = change_message_visibility  # type: ignore[method-assign]
    backend_class.purge_queue = purge_queue  # type: ignore[method-assign]
    backend_class.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    queue_class.add_message = add_message  # type: ignore[method-assign]
    queue_class.delete_message = delete_message  # type: ignore[method-assign]


def _install_access_log() -> None:
    """A successful request's access-log line is not even formatted (the filter above would drop it)."""
    from werkzeug import serving

    original = serving.WSGIRequestHandler.log_request

    def log_request(self: Any, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith("2"):
            return
        original(self, code, size)

    serving.WSGIRequestHandler.log_request = log_request  # type: ignore[method-assign]


_writes = threading.RLock()


def _install_write_lock() -> None:
    """DynamoDB's writes one at a time, as DynamoDB applies each item write atomically.

    moto's server runs a thread per connection and its DynamoDB backend takes no lock: two transactions
    that ADD to the same counter item at once could each read it before the other wrote it, and one
    count was lost (8 threads of 60 counted transactions ended at 479, not 480), which made a fan-out's
    delivery summary short now and then. Every write (and a transaction as a whole) holds one lock; the
    serialization of the answer stays outside it.
    """
    from moto.dynamodb import models

    backend_class = models.DynamoDBBackend
    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
        original = getattr(backend_class, name, None)
        if original is None:
            continue

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _writes:
                return _original(self, *args, **kwargs)

        setattr(backend_class, name, locked)


def _install_items() -> None:
    """A new item checks its 400 KB limit with a running total, not by re-measuring itself per attribute.

    moto's ``LimitedSizeDict`` sums the size of every attribute already set on each set, so building an
    item of n attributes measures n^2/2 of them. ``Item.__init__`` (every PutItem, every item a
    transaction or a batch writes, every copy) sets attributes one by one into a new dict: the same sum,
    kept as it grows, gives the same answer (``ItemSizeTooLarge`` past the same 405,000 bytes). Sets on an
    existing item (UpdateItem) keep moto's own check.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    item_class, limited, dynamo = dynamo_type.Item, dynamo_type.LimitedSizeDict, dynamo_type.DynamoType

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = limited()
        total = 0
        for key, value in attrs.items():
            typed = dynamo(value)
            size = bytesize(key) + typed.size()
            if total + size > 405000:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)
            total += size

    item_class.__init__ = init  # type: ignore[method-assign]


_AV_TYPES = frozenset(("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"))
_GENERIC = object()


def attribute_value_json(value: Any, b64: Any) -> Any:
    """A DynamoDB attribute value as moto's JSON serializer writes it (``{"S": "x"}``, blobs in base64,
    nested maps and lists alike), or ``_GENERIC`` for anything unusual (the serializer's own walk then)."""
    if type(value) is not dict or len(value) != 1:
        return _GENERIC
    ((kind, inner),) = value.items()
    if kind not in _AV_TYPES or inner is None:
        return _GENERIC
    if kind in ("S", "N"):
        return {kind: inner} if type(inner) is str else _GENERIC
    if kind in ("NULL", "BOOL"):
        return {kind: inner} if type(inner) is bool else _GENERIC
    if kind == "B":
        return {kind: b64(inner)} if isinstance(inner, bytes | str) else _GENERIC
    if type(inner) is not (dict if kind == "M" else list):
        return _GENERIC
    if kind in ("SS", "NS"):
        return {kind: list(inner)} if all(type(v) is str for v in inner) else _GENERIC
    if kind == "BS":
        return {kind: [b64(v) for v in inner]} if all(isinstance(v, bytes | str) for v in inner) else _GENERIC
    if kind == "M":
        converted_map = {name: attribute_value_json(v, b64) for name, v in inner.items()}
        return _GENERIC if any(v is _GENERIC for v in converted_map.values()) else {kind: converted_map}
    converted = [attribute_value_json(v, b64) for v in inner]
    return _GENERIC if any(v is _GENERIC for v in converted) else {kind: converted}


def _install_serializer() -> None:
    """DynamoDB's attribute values are written straight to JSON, not through moto's model walk.

    moto serializes every response by walking botocore's model of its output: for each member of each
    structure, a value picker tries a handful of aliases of the member's name (``xform_name``, class and
    shape prefixes). An item's ``AttributeValue`` is a structure of ten members, so one endpoint item of
    16 attributes costs ~2,000 lookups: a BatchGetItem of 100 endpoints took ~0.1-0.5 s, a GetItem ~5 ms.
    An ``AttributeValue`` is already in its wire form here (``{"S": "x"}``, moto's ``dynamo_to_dict``),
    so it is copied as the walk would copy it: strings and booleans as they are, blobs in base64, maps
    and lists value by value. Anything else (a missing value, an unknown type, a response transformer
    registered by a handler) goes through the walk. ``tests/integration/test_moto_speedups.py`` compares
    both on every type.
    """
    from moto.core import serialize

    base = serialize.BaseJSONSerializer
    original = base._serialize

    def _serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and not self._value_picker.response_transformers:
            converted = attribute_value_json(value, self._base64)
            if converted is not _GENERIC:
                serialized[self.get_serialized_name(shape, key)] = converted
                return
        original(self, serialized, value, shape, key)

    base._serialize = _serialize  # type: ignore[method-assign]


def attribute_value_parsed(value: Any, blob: Any) -> Any:
    """A DynamoDB attribute value of a request's JSON as moto's model-driven parser reads it (the same
    dict, blobs decoded with ``blob``), or ``_GENERIC`` for anything unusual (the parser's own walk then:
    a missing or null value, an unknown or second type key, a value of the wrong JSON type)."""
    if type(value) is not dict or len(value) != 1:
        return _GENERIC
    ((kind, inner),) = value.items()
    if kind in ("S", "N"):
        return {kind: inner} if type(inner) is str else _GENERIC
    if kind in ("NULL", "BOOL"):
        return {kind: inner} if type(inner) is bool else _GENERIC
    if kind == "B":
        return {kind: blob(inner)} if type(inner) is str else _GENERIC
    if kind not in _AV_TYPES or type(inner) is not (dict if kind == "M" else list):
        return _GENERIC
    if kind in ("SS", "NS", "BS"):
        if not all(type(v) is str for v in inner):
            return _GENERIC
        return {kind: [blob(v) for v in inner] if kind == "BS" else list(inner)}
    if kind == "M":
        parsed_map = {name: attribute_value_parsed(v, blob) for name, v in inner.items()}
        return _GENERIC if any(v is _GENERIC for v in parsed_map.values()) else {kind: parsed_map}
    parsed = [attribute_value_parsed(v, blob) for v in inner]
    return _GENERIC if any(v is _GENERIC for v in parsed) else {kind: parsed}


def _install_parser() -> None:
    """DynamoDB's attribute values are read straight from a request's JSON, not through moto's model walk
    (``attribute_value_parsed``; the serializer's counterpart above). Every other structure keeps the
    walk. ``tests/integration/test_moto_speedups.py`` compares both on every type, nested."""
    from moto.core import parse

    base = parse.BaseJSONParser
    original = base._parse_structure

    def _parse_structure(self: Any, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue":
            parsed = attribute_value_parsed(value, self._blob_parser)
            if parsed is not _GENERIC:
                return parsed
        return original(self, shape, value)

    _parse_structure.original = original  # type: ignore[attr-defined]  # moto's own, for the tests
    base._parse_structure = _parse_structure  # type: ignore[method-assign]


def _install_dispatch() -> None:
    """A handler's method names are listed once per class, not on every request (``inspect.getmembers``
    of the whole class, ~1 ms a request): classes do not gain methods while the server runs."""
    import functools

    from moto.core import responses

    responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)  # type: ignore[assignment]


def _install_names() -> None:
    """``camelcase_to_underscores`` remembers its answers (a pure function of a short name): moto calls it
    for every attribute of a queue on every SendMessage. Modules already loaded get the remembering one
    too; those loaded later import it from ``moto.core.utils``."""
    import functools
    import sys

    from moto.core import utils

    original = utils.camelcase_to_underscores
    if getattr(original, "cache_info", None) is not None:
        return
    cached = functools.lru_cache(maxsize=4096)(original)
    utils.camelcase_to_underscores = cached  # type: ignore[assignment]
    for module in list(sys.modules.values()):
        if getattr(module, "camelcase_to_underscores", None) is original:
            module.camelcase_to_underscores = cached  # type: ignore[attr-defined]


_EXPRESSIONS = 2048  # distinct expression strings kept (a pipeline uses a few dozen)


def _install_expressions() -> None:
    """A condition's tokens and an update expression's syntax tree, kept per expression string.

    Both depend on the string alone: the lexer reads no names or values (they are bound by the parse
    that follows, on every request), and the update's tree is deep-copied by moto's validator before it
    substitutes anything, so the kept tree is never changed. Tokens are immutable tuples (a child list is
    only ever built anew)."""
    from collections import deque

    from moto.dynamodb import comparisons
    from moto.dynamodb.parsing import expressions

    parser_class = comparisons.ConditionExpressionParser
    lex = parser_class._lex_condition_expression
    tokens: dict[str, tuple[Any, ...]] = {}

    def lex_condition_expression(self: Any) -> Any:
        kept = tokens.get(self.condition_expression)
        if kept is None:
            kept = tuple(lex(self))
            if len(tokens) >= _EXPRESSIONS:
                tokens.clear()
            tokens[self.condition_expression] = kept
        return deque(kept)

    parser_class._lex_condition_expression = lex_condition_expression  # type: ignore[method-assign]

    update_parser = expressions.UpdateExpressionParser
    make = update_parser.make.__func__  # type: ignore[attr-defined]
    trees: dict[str, Any] = {}

    def make_tree(cls: Any, expression: str) -> Any:
        tree = trees.get(expression)
        if tree is None:
            tree = make(cls, expression)
            if len(trees) >= _EXPRESSIONS:
                trees.clear()
            trees[expression] = tree
        return tree

    update_parser.make = classmethod(make_tree)  # type: ignore[assignment,method-assign]


def _install_random_strings() -> None:
    """moto's random strings (request ids, receipt handles, ids) with one ``choices`` call per string
    instead of one ``choice`` call per character: the same generator (moto's, which its API can seed),
    the same alphabets and lengths."""
    import string

    from moto.moto_api._internal import mock_random
    from moto.moto_api._internal.moto_random import HEX_CHARS, MotoRandom
    from moto.sqs import models

    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        drawn = "".join(self.choices(pool, k=length))
        return drawn.lower() if lower_case else drawn

    def get_random_hex(self: Any, length: int = 8) -> str:
        return "".join(str(c) for c in self.choices(HEX_CHARS, k=length))

    def generate_receipt_handle() -> str:
        return "".join(mock_random.choices(string.ascii_lowercase, k=185))

    MotoRandom.get_random_string = get_random_string  # type: ignore[method-assign]
    MotoRandom.get_random_hex = get_random_hex  # type: ignore[method-assign]
    models.generate_receipt_handle = generate_receipt_handle  # type: ignore[attr-defined]
