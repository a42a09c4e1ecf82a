"""Figure 17: the scale model: every DynamoDB write by the partition key it lands on, table and indexes.

``python -m bench.scale [--quick]`` runs it alone; ``make bench`` runs it as figure 17.

moto runs as a child process with the stack deployed from ``infra/stack.py``, as for figure 8, and the
app's boto3 clients are watched (``WriteRecorder`` on top of figure 8's ``CapacityCounter``). Two loads go
through the whole pipeline (``POST /in/{source}`` in-process, then the router and the sender fed by
``local.worker.Worker`` in batches of ten, delivering to a real receiver on loopback):

* **mixed**: N webhooks spread over eight owners (six applications and the operator twice), each with its
  own source and endpoint;
* **hot**: N webhooks into one source of one application with one endpoint (the provider that bursts
  5,000/s into one source, the application that sends 5,000/s, the endpoint that receives them).

For each load and each key kind (a partition key with its ids, dates and shard replaced by their names),
it prints the writes per webhook, how many keys took them, and the busiest key's share of the load's
webhooks turned into a rate: at 10,000 webhooks/s for the mixed load, at 5,000/s for the hot one, against
DynamoDB's 1,000 write units/s per partition key. With only eight owners the mixed load overstates every
per-owner key (each owner takes 1,250/s of the 10,000); with a few hundred webhooks the busiest of 16
hashed shards holds more than its 1/16 by sampling (the expected share is printed beside it). It also
prints the largest item written and the AWS calls and write units per delivered webhook. Figures only:
nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.delivery_calls import GSI_PROJECTIONS, KB, CapacityCounter, counted_output, item_size
from bench.report import Row, say
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.endpoints import parse_create as parse_create_endpoint
from chalicelib.api.sources import parse_update as parse_update_source

PARTITION_LIMIT = 1000  # DynamoDB write units per second on one partition key (table or index)
SPREAD_RATE = 10_000
HOT_RATE = 5_000
OWNERS = 8

# How a partition key becomes its kind: ids, dates, hours and the write shard by name.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"msg_[0-9a-f]+"), "{message}"),
    (re.compile(r"ep_[0-9a-f]+"), "{endpoint}"),
    (re.compile(r"src_[0-9a-f]+"), "{source}"),
    (re.compile(r"app_[0-9a-f]+"), "{application}"),
    (re.compile(r"rb_[0-9a-f]+"), "{batch}"),
    (re.compile(r"lb_[0-9a-f]+"), "{batch}"),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}"), "{hour}"),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "{day}"),
    (re.compile(r"#A[0-9]{1,3}$"), "#A{k}"),
    (re.compile(r"#[0-9]{1,3}$"), "#{s}"),
)
_SET = re.compile(r"(#?\w+)\s*=\s*(:\w+)")


def key_kind(key: str) -> str:
    """A partition key with its ids, dates and shard replaced by their names: ``DAY#{day}#{s}``."""
    for pattern, name in _SHAPES:
        key = pattern.sub(name, key)
    return key


class WriteRecorder:
    """Every DynamoDB write, by the partition key of the table or index it lands on, in write units.

    Fed the parameters of each successful write call (``record``): a ``PutItem`` costs the table one unit
    per started KB of the larger of the old and new item, and each keys-only index one unit for a new
    entry (two when its key moves: a delete and a put, each on its own partition key); an ``UpdateItem``
    or ``DeleteItem`` at least one unit on the table, plus the index entries it sets or removes.
    """

    def __init__(self, indexes: tuple[str, ...] = tuple(GSI_PROJECTIONS)) -> None:
        self._indexes = indexes
        self._known: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        self.units: Counter[tuple[str, str]] = Counter()  # (table or index, partition key) -> write units
        self.largest: tuple[int, str] = (0, "")

    def reset(self) -> None:
        """Forget the counted writes (what the table holds is remembered, to price overwrites)."""
        self.units.clear()
        self.largest = (0, "")

    def record(self, op: str, params: dict[str, Any]) -> None:
        """Account one successful write call."""
        if op == "PutItem":
            self._put(params["Item"])
        elif op == "UpdateItem":
            self._update(params)
        elif op == "DeleteItem":
            self._delete(params["Key"])
        elif op == "TransactWriteItems":
            for entry in params["TransactItems"]:
                if "Put" in entry:
                    self._put(entry["Put"]["Item"])
                elif "Update" in entry:
                    self._update(entry["Update"])
                elif "Delete" in entry:
                    self._delete(entry["Delete"]["Key"])
        elif op == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    if "PutRequest" in request:
                        self._put(request["PutRequest"]["Item"])
                    else:
                        self._delete(request["DeleteRequest"]["Key"])

    def _index_keys(self, item: dict[str, Any]) -> dict[str, str]:
        return {i: item[f"{i}pk"]["S"] for i in self._indexes if f"{i}pk" in item}

    def _move(self, old: dict[str, str], new: dict[str, str]) -> None:
        for index in self._indexes:
            before, after = old.get(index), new.get(index)
            if before == after:
                continue  # an overwrite that keeps the (keys-only) entry writes nothing to the index
            if before is not None:
                self.units[(index, before)] += 1
            if after is not None:
                self.units[(index, after)] += 1

    def _put(self, item: dict[str, Any]) -> None:
        key = (item["pk"]["S"], item["sk"]["S"])
        size = item_size(item)
        old_size, old_indexes = self._known.get(key, (0, {}))
        indexes = self._index_keys(item)
        self._known[key] = (size, indexes)
        self.units[("table", key[0])] += math.ceil(max(size, old_size) / KB)
        self.largest = max(self.largest, (size, key_kind(key[0]) + " / " + key_kind(key[1])))
        self._move(old_indexes, indexes)

    def _update(self, params: dict[str, Any]) -> None:
        key = (params["Key"]["pk"]["S"], params["Key"]["sk"]["S"])
        size, old = self._known.get(key, (0, {}))
        names = params.get("ExpressionAttributeNames") or {}
        values = params.get("ExpressionAttributeValues") or {}
        expression = params.get("UpdateExpression", "")
        new = dict(old)
        for name, value in _SET.findall(expression):
            attribute = names.get(name, name)
            if attribute.endswith("pk") and attribute[:-2] in self._indexes:
                new[attribute[:-2]] = values[value]["S"]
        if " REMOVE " in f" {expression} ":
            removed = expression.split("REMOVE", 1)[1]
            for index in self._indexes:
                if f"{index}pk" in removed:
                    new.pop(index, None)
        self._known[key] = (size, new)
        self.units[("table", key[0])] += max(1, math.ceil(size / KB))
        self._move(old, new)

    def _delete(self, key_item: dict[str, Any]) -> None:
        key = (key_item["pk"]["S"], key_item["sk"]["S"])
        size, old = self._known.pop(key, (0, {}))
        self.units[("table", key[0])] += max(1, math.ceil(size / KB))
        self._move(old, {})

    def kinds(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(table or index, key kind) -> (write units in all, keys written, units of the busiest key)."""
        out: dict[tuple[str, str], tuple[int, int, int]] = {}
        for (target, key), units in self.units.items():
            total, keys, busiest = out.get((target, key_kind(key)), (0, 0, 0))
            out[(target, key_kind(key))] = (total + units, keys + 1, max(busiest, units))
        return out


class ScaleCounter(CapacityCounter):
    """Figure 8's counter (calls, capacity, sizes) that also records every write by partition key."""

    def __init__(self) -> None:
        super().__init__()
        self.recorder = WriteRecorder()

    def _dynamodb(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        super()._dynamodb(op, params, parsed)
        self.recorder.record(op, params)

    def reset(self) -> None:
        super().reset()
        self.recorder.reset()


@dataclass
class Load:
    """What one load did: N webhooks delivered, the writes by key, the calls and units."""

    name: str
    n: int
    recorder: WriteRecorder
    calls: float
    write_units: float


# ---------------------------------------------------------------------------- the data-model table

# Lambda containers busy at 10,000 webhooks/s (api ~250, router ~200, sender ~1,000: reference/scale.md),
# each writing the hourly counters at most once a second.
CONTAINERS_AT_PEAK = 1_500

# Every partition key of the table and its indexes: (where, key, written by, writes per webhook, scope).
# scope "all": every webhook of the platform lands on the key (a day, an hour): both loads put 10,000/s
# on it. "one": one entity's webhooks (a source, an endpoint, an application): 10,000/s when one takes
# everything (the published `api` source, the internal endpoint that receives every webhook, a
# single-tenant platform), 5,000/s for the hot one. "own": a key per message; "batch": a key per sender
# batch; "mgmt": management only.
DATA_MODEL_KEYS: tuple[tuple[str, str, str, float, str], ...] = (
    (
        "table",
        "MSG#{message}",
        "router: the message (1 unit at 1 KB, packed); sender: the claim (1) of each delivery of a "
        "message with its endpoints inline (at most 100), and its result (1) unless its sender batch "
        "records it (a success)",
        2.0,
        "own",
    ),
    (
        "table",
        "RES#{batch}",
        "sender: the successes of one sender batch, one item (about 0.5 KB for ten 1 KB webhooks)",
        0.1,
        "batch",
    ),
    (
        "table",
        "MSG#{message}#A{k}",
        "sender: claim + result (1 + 1) of each delivery of a message that fanned out in pages; k: a hash "
        "of the endpoint id over one partition per fan-out page (at most 128), so ~500 deliveries a key",
        2.0,
        "fanout",
    ),
    (
        "table",
        "LIST#DAY#{day}#{s}",
        "router: one packed item per batch listing its messages of that day (about 50 bytes each); "
        "s: a hash of the batch id. Rates at the worst case, batches of one (1 per webhook)",
        0.1,
        "packed-all",
    ),
    (
        "table",
        "LIST#SRC#{source}#{s}",
        "router: one packed item per batch and source (as above)",
        0.1,
        "packed-one",
    ),
    (
        "table",
        "LIST#APP#{application}#{s}",
        "router: one packed item per batch and application (as above)",
        0.1,
        "packed-one",
    ),
    (
        "table",
        "LIST#EP#{endpoint}#{s}",
        "sender: one packed item per batch and endpoint, with its result item (its recorded successes)",
        0.1,
        "packed-one",
    ),
    (
        "table",
        "STATS#{hour}#{s}",
        "a flush of `chalicelib.tally`: at most one a second per container (router, sender, dead-letter, "
        "api rejections); share picked at random",
        0.0,
        "container",
    ),
    (
        "table",
        "SRC#{source}",
        "management; `STATS` and `REJ#{slot}` per rejected request (a burst on one source: issue 14 item 5 "
        "aggregates them per container)",
        0.0,
        "mgmt",
    ),
    ("table", "EP#{endpoint}", "management; health transitions (failing, disabled)", 0.0, "mgmt"),
    (
        "table",
        "APP#, APPUID#, ET#, SESSION#, IDEM#{key}, LISTEN#{endpoint}",
        "management, sign-in, keyed publishes, listen sessions: one key per object",
        0.0,
        "mgmt",
    ),
    (
        "gsi1",
        "SRC#{source}#{s}",
        "nothing since the packed listings (messages stored before them: read until they expire)",
        0.0,
        "old",
    ),
    (
        "gsi1",
        "EP#{endpoint}#{s}",
        "sender: an attempt whose outcome is written on its own item (a failure, a retry, a skip, a "
        "straggler; not a success its sender batch records): at most 1 per attempt, 0 for a first-try "
        "success (shard of its message)",
        1.0,
        "one",
    ),
    ("gsi1", "SOURCES, APPS, EVENT_TYPES, ENDPOINTS, APP#{application}#EP", "management", 0.0, "mgmt"),
    ("gsi2", "DAY#{day}#{s}", "nothing since the packed listings (as above)", 0.0, "old"),
    (
        "gsi2",
        "END#{failed\\|skipped}#{day}#{s}",
        "the attempt that ends a delivery failed or skipped (at most one per delivery)",
        1.0,
        "all",
    ),
    ("gsi3", "APP#{application}#MSG#{s}", "nothing since the packed listings (as above)", 0.0, "old"),
    (
        "gsi3",
        "EP_ATTENTION#{s}",
        "an endpoint turning failing, disabled or healthy (shard of the endpoint): a mass incident of "
        "833 changes/s is 52 per shard",
        0.0,
        "mgmt",
    ),
)


# ---------------------------------------------------------------- one message to 50,000 endpoints

FANOUT_ENDPOINTS = 50_000
# The senders' rate by docs/fanout.md's model of AWS: from idle the deliveries mapping starts at 5 batches
# and adds 5 a second, a batch of 10 taking ~0.3 s, so deliveries by T seconds are (10 / 0.3)(5T + 2.5T^2)
# (50,000 by T = 23.5 s, at 4,083/s then: the cold peak); warm, 1,000 concurrent batches: 33,333/s.
BATCH_DELIVERIES_PER_S = 10 / 0.3
WARM_DELIVERIES_PER_S = 1_000 * BATCH_DELIVERIES_PER_S
# The busiest attempt key's write units/s in that model, cold peak and warm (``fanout_attempt_model``
# computes them from the adapter's writes; the data-model table shows these, a test checks they agree).
FANOUT_MODEL_KEY_RATES = (92.0, 751.0)


def cold_ramp_seconds(endpoints: int) -> float:
    """When the last first attempt of a ``endpoints`` fan-out starts, senders ramping up from idle."""
    # (10 / 0.3)(5T + 2.5T^2) = endpoints
    a, b, c = 2.5 * BATCH_DELIVERIES_PER_S, 5 * BATCH_DELIVERIES_PER_S, -float(endpoints)
    return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


def cold_peak_rate(endpoints: int) -> float:
    """The senders' delivery rate when the last first attempt starts (the ramp's highest)."""
    return BATCH_DELIVERIES_PER_S * (5 + 5 * cold_ramp_seconds(endpoints))


@dataclass
class FanoutModel:
    """Every first attempt (claim and result) of one message to ``endpoints``, by partition key."""

    shards: int
    keys: int
    units: int  # write units in all
    busiest: int  # write units on the busiest key
    endpoints: int

    def rate(self, deliveries_per_s: float) -> float:
        """The busiest key's write units/s while the senders deliver at that rate."""
        return self.busiest / self.endpoints * deliveries_per_s

    def capped_seconds(self) -> float:
        """How long the busiest key alone needs at DynamoDB's 1,000 write units/s per partition key."""
        return self.busiest / PARTITION_LIMIT


def fanout_attempt_model(endpoints: int = FANOUT_ENDPOINTS, shards: int | None = None) -> FanoutModel:
    """Run the DynamoDB adapter's claim and result writes of every first attempt of one message to
    ``endpoints`` endpoints on a client that only records (no network), every write by partition key.

    ``shards`` None: as the router stores such a message now (one attempt partition per fan-out page,
    ``attempt_shards_for``); 0: as before, every attempt under ``MSG#{id}``.
    """
    import hashlib
    from dataclasses import replace

    from chalicelib.aws.dynamo import DynamoStore
    from chalicelib.aws.dynamodb.keys import SUBSCRIPTION_PAGE
    from chalicelib.models import Attempt, attempt_shards_for

    pages = math.ceil(endpoints / SUBSCRIPTION_PAGE)
    count = attempt_shards_for(pages) if shards is None else shards
    recorder = WriteRecorder()

    class Recording:
        def put_item(self, **params: Any) -> dict[str, Any]:
            recorder.record("PutItem", params)
            return {}

    store = DynamoStore(Recording(), "t", lambda: 1.8e9)  # type: ignore[arg-type]
    message_id = "msg_" + "5" * 32
    for i in range(endpoints):
        endpoint_id = "ep_" + hashlib.sha256(str(i).encode()).hexdigest()[:32]
        claim = Attempt(
            message_id=message_id,
            endpoint_id=endpoint_id,
            number=1,
            claim_id="clm_" + "0" * 32,
            started_at=1.8e9,
            status="in_flight",
            delivery_status="pending",
            lease_until=1.8e9 + 60,
            expires_at=1.8e9 + 30 * 86400,
            generation="a1b2c3d4e5f6",
            shards=count,
        )
        store.claim_attempt(claim, 1.8e9)
        store.finish_attempt(
            replace(
                claim,
                status="succeeded",
                delivery_status="succeeded",
                duration_ms=180,
                response_status=200,
                response_body='{"ok":true}',
            )
        )
    table = {key: units for (where, key), units in recorder.units.items() if where == "table"}
    return FanoutModel(count, len(table), sum(table.values()), max(table.values()), endpoints)


def _print_fanout(endpoints: int) -> list[FanoutModel]:
    """Print the big fan-out's attempt keys, before and after attempt shards; returns both models."""
    cold, warm = cold_peak_rate(endpoints), WARM_DELIVERIES_PER_S
    say(
        f"   big fan-out: one message to {endpoints:,} endpoints, every first attempt (claim + result) "
        "written by the DynamoDB adapter, by partition key"
    )
    say(
        f"   senders by the model: cold ramp, last first attempt at {cold_ramp_seconds(endpoints):.1f} s, "
        f"{cold:,.0f} deliveries/s then; warm, {warm:,.0f}/s"
    )
    say(
        f"   {'attempt key':<26} {'keys':>5} {'units':>8} {'busiest':>8} {'cold peak/s':>16} "
        f"{'warm/s':>16} {'busiest key alone at 1,000/s':>29}"
    )
    models = [fanout_attempt_model(endpoints, 0), fanout_attempt_model(endpoints)]
    for name, model in zip(("MSG#{message} (before)", "MSG#{message}#A{k}"), models, strict=True):
        rates = []
        for rate in (cold, warm):
            value = model.rate(rate)
            rates.append(f"{value:,.0f}" + (" OVER" if value > PARTITION_LIMIT else ""))
        say(
            f"   {name:<26} {model.keys:>5} {model.units:>8,} {model.busiest:>8,} {rates[0]:>16} "
            f"{rates[1]:>16} {model.capped_seconds():>27.1f} s"
        )
    say(
        "   busiest key alone: the seconds DynamoDB's 1,000 write units/s per partition key needs for the "
        "busiest key's writes (a floor on the last first attempt; split-for-heat aside)."
    )
    return models


def items_markdown() -> str:
    """The data-model document's item table, from the key catalogue the adapter modules declare."""
    from chalicelib.aws.dynamodb import catalogue

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| item | `pk` / `sk` | gsi1 | gsi2 | gsi3 |", "|---|---|---|---|---|"]
    for kind in catalogue():
        key = f"`{cell(kind.pk)}` / `{cell(kind.sk)}`" + (f" ({cell(kind.note)})" if kind.note else "")
        indexes = [
            f"`{cell(g.split(' / ')[0])}` / {cell(g.split(' / ', 1)[1])}" if g else ""
            for g in (kind.gsi1, kind.gsi2, kind.gsi3)
        ]
        lines.append(f"| {kind.item} | {key} | " + " | ".join(indexes) + " |")
    return "\n".join(lines) + "\n"


def key_rates_markdown(shards: int) -> str:
    """The data-model document's table of write rates per partition key (``docs/data-model.md``)."""
    lines = [
        "| where | partition key | written by | writes per webhook | at 10,000/s spread | at 5,000/s on one "
        "source, endpoint or application |",
        "|---|---|---|---:|---:|---:|",
    ]
    for where, key, writer, per_webhook, scope in DATA_MODEL_KEYS:
        over = shards if key.endswith("#{s}") else 1
        if scope == "own":
            spread = hot = f"{per_webhook:g} per message, once"
        elif scope == "batch":
            spread = hot = "1 per sender batch, once"
        elif scope == "fanout":
            cold, warm = FANOUT_MODEL_KEY_RATES
            spread = hot = (
                f"2 per delivery: one message to 50,000 endpoints, {cold:,.0f}/s cold, {warm:,.0f}/s warm"
            )
        elif scope == "mgmt":
            spread = hot = "management rate"
        elif scope == "old":
            spread = hot = "none"
        elif scope == "container":
            spread = hot = (
                f"1 per container a second: ~{CONTAINERS_AT_PEAK:,} busy at 10,000/s, "
                f"{CONTAINERS_AT_PEAK / over:,.0f} per share"
            )
        elif scope.startswith("packed"):
            # at the worst case, one item per webhook (batches of one); 0.1 with full batches
            spread = f"{SPREAD_RATE / over:,.0f}"
            hot = f"{(SPREAD_RATE if scope == 'packed-all' else HOT_RATE) / over:,.0f}"
        else:
            spread = f"{per_webhook * SPREAD_RATE / over:,.0f}"
            hot = f"{per_webhook * (SPREAD_RATE if scope == 'all' else HOT_RATE) / over:,.0f}"
        shown = "" if scope in ("mgmt", "fanout", "old") else f"{per_webhook:g}"
        if scope.startswith("packed"):
            shown = f"{per_webhook:g} (1 for a batch of one)"
        elif scope == "container":
            shown = "~0"
        lines.append(f"| {where} | `{key}` | {writer} | {shown} | {spread} | {hot} |")
    return "\n".join(lines) + "\n"


def _run_load(name: str, owners: int, n: int, env: dict[str, str], endpoint: str, receivers: Any) -> Load:
    from bench.aws_calls import _create_source, _wired_app
    from bench.fixtures import ingest_event, json_body, lambda_context
    from chalicelib.scope import OPERATOR
    from local.worker import Worker
    from testkit import aws

    counter = ScaleCounter()
    app_module, container = _wired_app(counter)
    app, context = app_module.app, lambda_context()
    esm_sqs = aws.client("sqs", endpoint)
    failures: list[int] = []
    workers = {
        stage: Worker(
            esm_sqs, env[queue], handler, on_invoke=lambda size, ok: None if ok else failures.append(size)
        )
        for stage, queue, handler in (
            ("router", "HOOKWAY_INGEST_QUEUE_URL", app_module.route_ingest),
            ("sender", "HOOKWAY_DELIVERIES_QUEUE_URL", app_module.deliver),
        )
    }

    # With the router's first attempts (the default) a first-try success never rides the deliveries queue.
    queued = 0 if container.settings.router_first_attempt else 1

    def drain(stage: str, expected: int) -> None:
        seen, deadline = 0, time.monotonic() + 120
        while seen < expected and time.monotonic() < deadline and not failures:
            seen += workers[stage].poll_once()
        if failures or seen != expected:
            raise AssertionError(f"{name} {stage}: {seen} of {expected} went through, failures {failures}")

    body = json_body(1024)
    paths: list[tuple[str, str]] = []
    with counted_output():
        for i in range(owners):
            source_id = _create_source(app, context)
            owner: dict[str, str] = {}
            if i % 4 != 3:  # most owners are applications; every fourth is the operator's own
                application = container.applications.create(
                    parse_create_application({"name": f"scale {i}"}), OPERATOR
                )
                container.sources.update(source_id, parse_update_source({"application": application.id}))
                owner = {"application": application.id}
            path = f"/scale-{name}-{i}-{uuid.uuid4().hex[:6]}"
            container.endpoints.create(
                parse_create_endpoint(
                    {"url": receivers.url(path), "filter": {"sources": [source_id]}, **owner}
                ),
                OPERATOR,
            )
            paths.append((source_id, path))
        for source_id, _ in paths:  # warm-up: clients, caches and connections, one webhook per owner
            app(ingest_event(source_id, body, "warm-up"), context)
        drain("router", owners)
        drain("sender", owners * queued)
    counter.reset()
    with counted_output():
        for i in range(n):
            source_id = paths[i % owners][0]
            # A body of its own per webhook: body-only schemes deduplicate on the body's hash.
            unique = body.replace(b"li_00000", f"u{i:07d}".encode(), 1)
            reply = app(ingest_event(source_id, unique, str(uuid.uuid4())), context)
            if reply["statusCode"] != 202:
                raise AssertionError(f"{name}: a webhook was not accepted: {reply['statusCode']}")
        drain("router", n)
        drain("sender", n * queued)
    got = sum(len(receivers.at(path)) for _, path in paths)
    if got != n + owners:
        raise AssertionError(f"{name}: the receivers got {got} deliveries, expected {n + owners}")
    return Load(
        name=name,
        n=n,
        recorder=counter.recorder,
        calls=sum(counter.calls.values()) / n,
        write_units=sum(counter.wcu.values()) / n,
    )


# How long a DynamoDB transaction holds its items (two to three times a single write's ~5-10 ms: a
# prepare and a commit round). Another transaction or write on an item held meanwhile is cancelled
# (TransactionConflict). Both ends are printed; AWS publishes no figure.
TRANSACTION_HOLD_SECONDS = (0.010, 0.025)


@dataclass
class CounterContention:
    """The delivery counters (``MSG#{id}#C{k}`` / ``SUM#{generation}``) of one big fan-out, as the
    adapter writes them: one transaction per counted ending (the attempt's outcome and the ADD)."""

    endpoints: int
    shards: int
    transactions: int  # counted endings written, one transaction each
    busiest: int  # transactions on the busiest counter item
    items: int  # counter items written

    def item_rate(self, deliveries_per_s: float) -> float:
        """Transactions/s on the busiest counter item while the senders deliver at that rate."""
        return self.busiest / self.transactions * deliveries_per_s

    @staticmethod
    def conflict_share(item_rate: float, hold: float) -> float:
        """The share of an item's transactions that find another one holding it (Poisson arrivals at
        ``item_rate``, each holding the item ``hold`` seconds: 1 - e^(-rate x hold)); each is cancelled
        and its task retried (``count_due``), which adds to the same item's load."""
        return 1 - math.exp(-item_rate * hold)


def counter_contention(endpoints: int = FANOUT_ENDPOINTS) -> CounterContention:
    """Run the adapter's ``finish_counted`` for every first attempt of one message to ``endpoints`` on a
    client that only records (no network): which counter item each transaction lands on."""
    import hashlib

    from chalicelib.aws.dynamo import DynamoStore
    from chalicelib.aws.dynamodb.keys import SUBSCRIPTION_PAGE
    from chalicelib.models import Attempt, attempt_shards_for

    shards = attempt_shards_for(math.ceil(endpoints / SUBSCRIPTION_PAGE))
    counters: Counter[str] = Counter()

    class Recording:
        def transact_write_items(self, **params: Any) -> dict[str, Any]:
            for entry in params["TransactItems"]:
                if "Update" in entry:
                    counters[entry["Update"]["Key"]["pk"]["S"] + "/" + entry["Update"]["Key"]["sk"]["S"]] += 1
            return {}

    store = DynamoStore(Recording(), "t", lambda: 1.8e9)  # type: ignore[arg-type]
    for i in range(endpoints):
        store.finish_counted(
            Attempt(
                message_id="msg_" + "5" * 32,
                endpoint_id="ep_" + hashlib.sha256(str(i).encode()).hexdigest()[:32],
                number=1,
                claim_id="clm_" + "0" * 32,
                started_at=1.8e9,
                status="succeeded",
                delivery_status="succeeded",
                lease_until=1.8e9 + 60,
                expires_at=1.8e9 + 30 * 86400,
                generation="a1b2c3d4e5f6",
                shards=shards,
            )
        )
    return CounterContention(endpoints, shards, sum(counters.values()), max(counters.values()), len(counters))


def _print_counters(endpoints: int) -> CounterContention:
    """Print the delivery counters' contention for the big fan-out, cold and warm senders."""
    model = counter_contention(endpoints)
    say(
        f"   delivery counters of that fan-out: {model.transactions:,} counted endings (one transaction each: "
        f"outcome + ADD) over {model.items} counter items; the busiest takes {model.busiest:,}"
    )
    say(
        f"   {'senders':<8} {'deliveries/s':>12} {'tx/s on busiest':>16} {'its WCU/s (2/tx)':>17} "
        + " ".join(f"{'conflicts @' + format(h * 1000, '.0f') + ' ms':>17}" for h in TRANSACTION_HOLD_SECONDS)
    )
    for name, rate in (("cold", cold_peak_rate(endpoints)), ("warm", WARM_DELIVERIES_PER_S)):
        item_rate = model.item_rate(rate)
        units = 2 * item_rate
        shares = " ".join(f"{model.conflict_share(item_rate, h):>16.0%} " for h in TRANSACTION_HOLD_SECONDS)
        say(
            f"   {name:<8} {rate:>12,.0f} {item_rate:>16,.0f} "
            f"{format(units, ',.0f') + (' OVER' if units > PARTITION_LIMIT else ''):>17} {shares}"
        )
    say(
        "   conflicts: the share of the busiest counter item's transactions that meet another one in progress "
        "(cancelled, TransactionConflict: the outcome is kept with a count_due mark and the task counts it on "
        "its retry, seconds later). moto serializes transactions (no conflicts there): this is the model."
    )
    return model


def _on_moto(n: int) -> list[Load]:
    from bench.aws_calls import _environment
    from bench.fixtures import emulated_env
    from local import emulator
    from testkit.receivers import Receivers

    port = emulator.free_port()
    moto = emulator.start_moto(port)
    receivers = Receivers()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = emulated_env(endpoint, HOOKWAY_LOG_LEVEL="WARNING")
        with _environment(env):
            return [
                _run_load("mixed", OWNERS, n, env, endpoint, receivers),
                _run_load("hot", 1, n, env, endpoint, receivers),
            ]
    finally:
        receivers.close()
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()


_SHARD = re.compile(r"#[0-9]{1,3}$")


def long_run_rate(
    recorder: WriteRecorder, target: str, kind: str, n: int, rate: int, shards: int
) -> float | None:
    """The write rate on the busiest key of a kind once the load runs at ``rate`` webhooks/s for long.

    Keys are grouped by their base (the key without its write shard): the busiest base's share of the
    load's webhooks times ``rate``, divided over the shards a hash spreads it on. None for a kind with a
    key per message (``MSG#{message}``) or per sender batch (``RES#{batch}``): its writes are bounded
    per message or batch, whatever the rate.
    """
    if "{message}" in kind or "{batch}" in kind:
        return None
    sharded = kind.endswith("#{s}")
    bases: Counter[str] = Counter()
    for (where, key), units in recorder.units.items():
        if where == target and key_kind(key) == kind:
            bases[_SHARD.sub("", key) if sharded else key] += units
    busiest = max(bases.values(), default=0)
    return busiest / n * rate / (shards if sharded else 1)


def _print(load: Load, rate: int, what: str) -> float:
    """Print one load's table; returns the highest long-run rate on one key."""
    from chalicelib.aws.dynamodb.keys import INDEX_SHARDS

    say(f"   {load.name} load, N={load.n}: {what}")
    at = f"at {rate:,}/s"
    say(
        f"   {'target':<6} {'key kind':<30} {'writes/msg':>10} {'keys':>5} {'busiest':>7} "
        f"{'sample ' + at:>19} {'long run ' + at:>21}"
    )
    worst = 0.0
    for (target, kind), (total, keys, busiest) in sorted(load.recorder.kinds().items()):
        sample = busiest / load.n * rate
        steady = long_run_rate(load.recorder, target, kind, load.n, rate, INDEX_SHARDS)
        if steady is None:
            shown = f"{busiest} per message"
        else:
            worst = max(worst, steady)
            shown = f"{steady:,.0f}" + (" OVER 1,000" if steady > PARTITION_LIMIT else "")
        say(
            f"   {target:<6} {kind:<30} {total / load.n:>10.2f} {keys:>5} {busiest:>7} "
            f"{'' if steady is None else format(sample, ',.0f'):>19} {shown:>21}"
        )
    size, kind = load.recorder.largest
    say(
        f"   largest item written: {size:,} B ({kind}); per delivered webhook: {load.calls:.2f} AWS calls, "
        f"{load.write_units:.2f} DynamoDB write units"
    )
    return worst


def run(quick: bool) -> list[Row]:
    """Run both loads on moto and print the model; return its table rows (information only)."""
    from chalicelib.aws.dynamodb.keys import INDEX_SHARDS

    n = 64 if quick else 320
    say(f"== 17. Scale model: writes by partition key (table and indexes), {INDEX_SHARDS} write shards")
    loads = _on_moto(n)
    mixed = _print(loads[0], SPREAD_RATE, f"{OWNERS} owners, each its own source and endpoint")
    say()
    hot = _print(loads[1], HOT_RATE, "one application's source and endpoint take everything")
    say()
    before, after = _print_fanout(FANOUT_ENDPOINTS)
    counters = _print_counters(FANOUT_ENDPOINTS)
    say(
        "   busiest: write units on the kind's busiest key in this sample; sample: that key's share of the "
        "webhooks times the rate (a few hundred webhooks over 16 hashed shards overstate the busiest); "
        f"long run: the busiest base key's share times the rate, over {INDEX_SHARDS} shards when sharded. "
        f"Limit: {PARTITION_LIMIT:,} write units/s per partition key."
    )
    return [
        Row(
            "busiest partition key at 10,000 webhooks/s spread",
            mixed,
            None,
            "WRU/s",
            note=f"scale model, mixed load of {n} webhooks over {OWNERS} owners through the pipeline on moto; "
            f"DynamoDB's limit is {PARTITION_LIMIT:,} per partition key",
        ),
        Row(
            "busiest partition key at 5,000 webhooks/s on one entity",
            hot,
            None,
            "WRU/s",
            note=f"scale model, {n} webhooks into one source, one application, one endpoint",
        ),
        Row(
            "busiest attempt key, one message to 50,000 endpoints (warm senders)",
            after.rate(WARM_DELIVERIES_PER_S),
            None,
            "WRU/s",
            note=f"{after.keys - 1} attempt partitions (+ the message's own key, unused); before: "
            f"{before.rate(WARM_DELIVERIES_PER_S):,.0f} WRU/s on MSG#{{message}}, "
            f"{before.capped_seconds():.0f} s at 1,000/s",
        ),
        Row(
            "busiest delivery counter item, one message to 50,000 endpoints (warm senders)",
            counters.item_rate(WARM_DELIVERIES_PER_S),
            None,
            "tx/s",
            note=f"{counters.items} counter items, 2 WCU per transaction; share of its transactions meeting "
            "another in progress: "
            + ", ".join(
                f"{counters.conflict_share(counters.item_rate(WARM_DELIVERIES_PER_S), h):.0%} at "
                f"{h * 1000:.0f} ms held"
                for h in TRANSACTION_HOLD_SECONDS
            ),
        ),
        Row(
            "DynamoDB write units per delivered webhook (scale model, mixed)",
            loads[0].write_units,
            None,
            "WRU",
            note=f"AWS calls per delivered webhook {loads[0].calls:.2f}; hot load {loads[1].calls:.2f} calls, "
            f"{loads[1].write_units:.2f} WRU",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.scale [--quick]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer webhooks per load")
    parser.add_argument("--doc", action="store_true", help="print the data-model document's rate table")
    parser.add_argument("--items", action="store_true", help="print the data-model document's item table")
    parser.add_argument(
        "--counters", action="store_true", help="print the delivery counters' contention only"
    )
    args = parser.parse_args(argv)
    if args.counters:
        _print_counters(FANOUT_ENDPOINTS)
        return 0
    if args.items:
        print(items_markdown(), end="")
        return 0
    if args.doc:
        from chalicelib.aws.dynamodb.keys import INDEX_SHARDS

        print(key_rates_markdown(INDEX_SHARDS), end="")
        return 0
    run(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
