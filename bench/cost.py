"""Figure 9: what a million webhooks cost on AWS, per front door, from measured counts and AWS's list prices.

A webhook here is received (the front door + the API Lambda), stored (router Lambda, DynamoDB) and
delivered once to one endpoint on the first try (sender Lambda), with a 1 KB JSON body. Three front doors:
the REST API (the default: WAF, mutual TLS), the HTTP API (the ``http_api`` option) and a Lambda function
URL (the ``function_url`` option: no request price). Every quantity is measured, none assumed, except the
bytes sent to the receiver:

* the AWS calls, the DynamoDB capacity units (table and indexes), the SQS 64 KB request chunks, the bytes
  written to the logs and the bytes the table holds per webhook: figure 8's run against moto
  (``bench.delivery_calls.measure``, shared with figure 8 when both run);
* the Lambda durations: figure 18's warm invocations of each function at the memory it is given, modelled
  on AWS (``bench.memory.warm_durations``): the function's own CPU time at that memory's share of a vCPU
  (measured) + its AWS calls on the critical path (counted) x ``memory.AWS_CALL_MS`` (assumed, in-region)
  + its POSTs x ``memory.RECEIVER_MS`` (assumed receiver answer time). The raw durations measured on moto
  (whose answers over loopback take what this machine's load makes them, not what AWS's take) are
  printed beside them, not priced. Shared
  with figure 18 when both run.

The bench-scope price leaves out storage; the all-in price adds the table's storage and point-in-time
recovery for the stage's retention (``HOOKWAY_RETENTION_SECONDS``, 30 days by default: the items' TTL) and
the data sent to the receivers. The monthly bill at 1,000/s and 10,000/s uses the front doors' volume tiers.
Still not included: free tiers, S3 for bodies over the claim-check size, CloudWatch metrics and alarms
(fixed per month), the event source mappings' empty polls while a queue is idle, the cold starts' SSM read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from bench import delivery_calls
from bench.delivery_calls import ESM_BATCH, KB, SQS_CHUNK, Counts
from bench.report import Row, say
from infra.stack import MEMORY

# us-east-1 list prices, as checked against AWS's pricing pages for the scale review of this date.
PRICES_AS_OF = "2026-12-07"
REGION = "us-east-1"
# $ per million requests by tier: a month's requests up to each cumulative bound at that price.
FRONT_DOOR_TIERS: dict[str, tuple[tuple[float, float], ...]] = {
    "REST API": ((333e6, 3.50), (1e9, 2.80), (20e9, 2.38), (math.inf, 1.51)),
    "HTTP API": ((300e6, 1.00), (math.inf, 0.90)),  # metered per 512 KB: a 1 KB webhook is one request
    "function URL": ((math.inf, 0.0),),  # Lambda's own request and duration prices only
}
TARGETS = {"REST API": 5.50, "HTTP API": 3.30, "function URL": 2.00}  # issue 16, bench scope
APIGW_REST_PER_M = FRONT_DOOR_TIERS["REST API"][0][1]
APIGW_HTTP_PER_M = FRONT_DOOR_TIERS["HTTP API"][0][1]
LAMBDA_REQUEST_PER_M = 0.20
LAMBDA_GB_SECOND = 0.0000133334  # arm64, every function's default architecture (x86_64: 0.0000166667)
SQS_STANDARD_PER_M = 0.40  # per million requests; each 64 KB chunk of a payload is one request
DYNAMODB_WRU_PER_M = 0.625  # on-demand, after the November 2024 price cut
DYNAMODB_RRU_PER_M = 0.125
DYNAMODB_GB_MONTH = 0.25  # standard table class storage
PITR_GB_MONTH = 0.20  # continuous backups (point-in-time recovery is on for every stage's table)
DATA_OUT_PER_GB = 0.09  # to the internet, first 10 TB a month
LOGS_INGESTION_PER_GB = 0.50
# Sent to the receiver per delivery: the 1 KB body, the signature and other headers, TLS framing. Assumed.
DELIVERY_BYTES = 2 * KB
SECONDS_PER_MONTH = 30.44 * 86400
RATES = (1_000, 10_000)  # webhooks per second, sustained for a month
RETENTIONS_DAYS = (7, 14, 30)  # the retention setting's effect on the all-in price

# infra/stack.py MEMORY, chosen from figure 18's measurements
MEMORY_GB = {
    "api": MEMORY["api_handler"] / 1024,
    "router": MEMORY["route_ingest"] / 1024,
    "sender": MEMORY["deliver"] / 1024,
}
# Used only when figure 18's measurement cannot run (said so in the output).
SECONDS = {"api": 0.020, "router": 0.030, "sender": 0.100}  # per invocation (router/sender: per batch)
# START, END and REPORT lines (about 300 B per invocation) are Lambda's INFO system lines: every function's
# LoggingConfig sets the system level to WARN, so none is written.
PLATFORM_LOG_BYTES = 0
LOG_BYTES_TARGET = 300  # per delivered webhook at the default level (issue 16)
BUDGET = TARGETS["REST API"]
HTTP_BUDGET = TARGETS["HTTP API"]  # what Hookdeck charges per million at volume
MILLION = 1_000_000

PRICE_TEXT = (
    f"AWS list prices, {REGION}, as of {PRICES_AS_OF}, check before relying on them: API Gateway REST API "
    "$3.50/$2.80/$2.38/$1.51 per million requests (first 333M/next 667M/next 19B/beyond a month), HTTP API "
    "$1.00/$0.90 (first 300M/beyond, per 512 KB), function URL no charge; Lambda "
    f"${LAMBDA_REQUEST_PER_M:.2f}/million requests + ${LAMBDA_GB_SECOND:.10f}/GB-s (arm64); SQS standard "
    f"${SQS_STANDARD_PER_M:.2f}/million requests (64 KB chunks); DynamoDB on-demand "
    f"${DYNAMODB_WRU_PER_M:.3f}/million write units, ${DYNAMODB_RRU_PER_M:.3f}/million read units, storage "
    f"${DYNAMODB_GB_MONTH:.2f}/GB-month, PITR ${PITR_GB_MONTH:.2f}/GB-month; data out "
    f"${DATA_OUT_PER_GB:.2f}/GB; CloudWatch Logs ingestion ${LOGS_INGESTION_PER_GB:.2f}/GB"
)


def front_door_per_m(door: str, monthly_requests: float = 0.0) -> float:
    """$ per million requests of a front door: its first tier, or blended over a month of that many."""
    tiers = FRONT_DOOR_TIERS[door]
    if monthly_requests <= 0:
        return tiers[0][1]
    left, dollars, below = monthly_requests, 0.0, 0.0
    for bound, price in tiers:
        take = min(left, bound - below) if math.isfinite(bound) else left
        dollars += take / MILLION * price
        left -= take
        below = bound
        if left <= 0:
            break
    return dollars / (monthly_requests / MILLION)


def storage_per_m(stored_bytes: float, retention_days: float) -> dict[str, float]:
    """$ per million webhooks to keep what each one stores for ``retention_days`` (steady state: a
    month's webhooks hold retention/month of a month's storage), table and point-in-time recovery."""
    gb_months = stored_bytes / 1e9 * MILLION * retention_days * 86400 / SECONDS_PER_MONTH
    return {"DynamoDB storage": gb_months * DYNAMODB_GB_MONTH, "PITR": gb_months * PITR_GB_MONTH}


@dataclass(frozen=True)
class Model:
    """Per-webhook quantities and dollars per million webhooks, by service."""

    batch: int
    api_requests: float
    invocations: float
    gb_seconds: float
    sqs_requests: float
    wru: float
    rru: float
    log_bytes: float
    api_price: float = APIGW_REST_PER_M  # the front door's price per million requests
    stored_bytes: float = 0.0  # what the table holds per webhook (items + index entries)
    retention_days: float = 30.0

    @property
    def dollars(self) -> dict[str, float]:
        """$ per million webhooks, by service (bench scope: no storage, no data out)."""
        return {
            "front door": self.api_requests * self.api_price,
            "Lambda": self.invocations * LAMBDA_REQUEST_PER_M + self.gb_seconds * MILLION * LAMBDA_GB_SECOND,
            "SQS": self.sqs_requests * SQS_STANDARD_PER_M,
            "DynamoDB": self.wru * DYNAMODB_WRU_PER_M + self.rru * DYNAMODB_RRU_PER_M,
            "CloudWatch Logs": self.log_bytes * MILLION / 1e9 * LOGS_INGESTION_PER_GB,
        }

    @property
    def total(self) -> float:
        """$ per million webhooks, bench scope."""
        return sum(self.dollars.values())

    @property
    def extras(self) -> dict[str, float]:
        """What the all-in price adds per million: storage and PITR for the retention, data out."""
        return {
            **storage_per_m(self.stored_bytes, self.retention_days),
            "data out": DELIVERY_BYTES * MILLION / 1e9 * DATA_OUT_PER_GB,
        }

    @property
    def all_in(self) -> float:
        """$ per million webhooks with storage for the retention, PITR and data out."""
        return self.total + sum(self.extras.values())

    def monthly(self, door: str, rate: float) -> float:
        """The month's bill at ``rate`` webhooks/s sustained, all in, with the front door's volume tiers."""
        requests = rate * SECONDS_PER_MONTH
        tiered = replace(self, api_price=front_door_per_m(door, requests * self.api_requests))
        return tiered.all_in * requests / MILLION


def model(
    counts: Counts,
    *,
    batch: int = ESM_BATCH,
    seconds: dict[str, float] = SECONDS,
    retention_days: float = 30.0,
    first_attempt: bool = False,
) -> Model:
    """The cost model for a batch size of the two SQS triggers, per-invocation durations and a retention.

    ``first_attempt``: counts measured with the router making first attempts (no sender invocation and no
    deliveries-queue trigger for a first-try success); the router's batch priced at ``seconds
    ["router_first"]`` (figure 18's router batch with the setting on), else its own time plus the sender's."""
    n = counts.n
    stages = counts.stages
    invocations = {"api": 1.0, "router": 1 / batch, "sender": 0.0 if first_attempt else 1 / batch}
    durations = dict(seconds)
    if first_attempt:
        # The router's batch making the first attempts, as figure 18 measured it; without that figure,
        # its own time plus the sender's (an overstatement: the sender's claims and reads are not made).
        durations["router"] = seconds.get("router_first", seconds["router"] + seconds["sender"])
    ours_sqs = sum(sum(s.sqs_chunks.values()) for s in stages.values()) / n
    envelope = _mean(counts, "ingest envelope")
    task = _mean(counts, "delivery task")
    # The trigger, per batch and queue: one ReceiveMessage (billed per 64 KB of what it returns) + one delete.
    deliveries = 0 if first_attempt else math.ceil(batch * task / SQS_CHUNK) + 1
    esm = (math.ceil(batch * envelope / SQS_CHUNK) + 1 + deliveries) / batch
    output = sum(s.stdout_bytes + s.log_bytes for s in stages.values()) / n
    return Model(
        batch=batch,
        api_requests=1.0,
        invocations=sum(invocations.values()),
        gb_seconds=sum(invocations[s] * durations[s] * MEMORY_GB[s] for s in invocations),
        sqs_requests=ours_sqs + esm,
        wru=sum(counts.total("wcu").values()) / n,
        rru=sum(counts.total("rcu").values()) / n,
        log_bytes=output + PLATFORM_LOG_BYTES * sum(invocations.values()),
        stored_bytes=sum(counts.stored.values()),
        retention_days=retention_days,
    )


def _mean(counts: Counts, what: str) -> float:
    values = counts.sizes.get(what) or [0]
    return sum(values) / len(values)


def _durations() -> tuple[dict[str, float], str]:
    """Seconds per invocation (api per request, router and sender per batch) and where they come from."""
    from bench import memory

    try:
        modelled = memory.warm_durations()
        raw = memory.raw_warm_durations()
    except Exception as exc:  # a figure that cannot measure says so and prices the old assumption
        say(f"   !! figure 18's durations could not be measured ({exc}); pricing the assumed ones")
        return dict(SECONDS), "assumed (figure 18 could not run)"
    return modelled, (
        "modelled on AWS from figure 18's warm invocations ("
        + memory.assumptions()
        + "); raw on moto, not priced: "
        + ", ".join(f"{role} {seconds * 1000:.1f} ms" for role, seconds in raw.items())
    )


def _ms(seconds: dict[str, float], role: str) -> str:
    return f"{seconds[role] * 1000:.1f} ms" if role in seconds else "not measured (router + sender)"


def _line_items(m: Model) -> str:
    return ", ".join(f"{name} ${dollars:.2f}" for name, dollars in m.dollars.items())


def _extras(m: Model) -> str:
    return ", ".join(f"{name} ${dollars:.2f}" for name, dollars in m.extras.items())


def _usd(dollars: float) -> str:
    return f"${dollars:.2f}"


def _money(dollars: float) -> str:
    return f"${dollars / 1000:,.1f}k" if dollars >= 10_000 else f"${dollars:,.0f}"


def default_retention_days() -> float:
    """The retention a stage gets unless it sets ``HOOKWAY_RETENTION_SECONDS`` (the items' TTL)."""
    from chalicelib.config import Settings

    return Settings().retention_seconds / 86400


def doors(base: Model) -> dict[str, Model]:
    """The same pipeline behind each front door (first-tier request price)."""
    return {door: replace(base, api_price=front_door_per_m(door)) for door in FRONT_DOOR_TIERS}


def run(quick: bool) -> list[Row]:
    """Compute and print figure 9; return its table rows."""
    say("== 9. cost of a million webhooks per front door (received, stored, delivered once to one endpoint)")
    # Priced as a stage deploys by default: the router makes first attempts (router_first_attempt); the
    # stage setting off is priced beside it (its counts: figure 8's first run).
    off_counts = delivery_calls.measure(quick)
    counts, _ = delivery_calls.measure_first(quick)
    seconds, durations_from = _durations()
    retention = default_retention_days()
    say(f"   {PRICE_TEXT}")
    base = model(counts, seconds=seconds, retention_days=retention, first_attempt=True)
    small = model(counts, batch=1, seconds=seconds, retention_days=retention, first_attempt=True)
    off = model(off_counts, seconds=seconds, retention_days=retention)
    summed = {k: v for k, v in seconds.items() if k != "router_first"}
    as_before = model(counts, seconds=summed, retention_days=retention, first_attempt=True)
    stored = ", ".join(f"{kind} {size:.0f} B" for kind, size in counts.stored.items())
    assumptions = (
        f"arm64 functions of api {MEMORY['api_handler']} MB, router {MEMORY['route_ingest']} MB, sender "
        f"{MEMORY['deliver']} MB (infra/stack.py, figure 18); durations priced: api "
        f"{seconds['api'] * 1000:.1f} ms per request, the router's batch making the first attempts "
        f"{_ms(seconds, 'router_first')} (priced before 2026-12-08 as the router's and the sender's batches "
        f"with the setting off added: {(seconds['router'] + seconds['sender']) * 1000:.1f} ms, "
        f"${as_before.total - base.total:.2f} more per million), "
        f"off: router {seconds['router'] * 1000:.1f} ms and sender "
        f"{seconds['sender'] * 1000:.1f} ms per batch; {durations_from}; both SQS triggers get full batches "
        f"of {ESM_BATCH}; "
        f"{PLATFORM_LOG_BYTES} B of Lambda platform log lines per invocation (system log level WARN); "
        "logs at the default level (INFO); 1 KB JSON body; free tiers and idle polling not included"
    )
    quantities = (
        f"per webhook: {base.api_requests:g} front-door request, {base.invocations:.2f} Lambda invocations, "
        f"{base.gb_seconds * 1000:.1f} GB-ms, {base.sqs_requests:.2f} SQS requests, {base.wru:.2f} DynamoDB "
        f"write units, {base.rru:.2f} read units, {base.log_bytes:.0f} B of logs; stored {stored} "
        f"({base.stored_bytes:.0f} B held for the retention); {DELIVERY_BYTES} B sent to the receiver (assumed)"
    )
    say(f"   {quantities}")
    say(f"   {assumptions}")
    by_door = doors(base)
    say(f"   {'':<26}" + "".join(f"{door:>14}" for door in by_door))
    for item in base.dollars:
        say(f"   {item:<26}" + "".join(f"{_usd(m.dollars[item]):>14}" for m in by_door.values()))
    say(f"   {'bench scope':<26}" + "".join(f"{_usd(m.total):>14}" for m in by_door.values()))
    say(f"   {'target':<26}" + "".join(f"{_usd(TARGETS[d]):>14}" for d in by_door))
    for item, dollars in base.extras.items():
        label = f"+ {item}" + (f" ({retention:g} d)" if item != "data out" else "")
        say(f"   {label:<26}" + f"{_usd(dollars):>14}" * len(by_door))
    say(f"   {'all in':<26}" + "".join(f"{_usd(m.all_in):>14}" for m in by_door.values()))
    for rate in RATES:
        say(
            f"   {f'a month at {rate:,}/s':<26}"
            + "".join(f"{_money(m.monthly(d, rate)):>14}" for d, m in by_door.items())
        )
    for days in RETENTIONS_DAYS:
        at = {d: replace(m, retention_days=days) for d, m in by_door.items()}
        say(f"   {f'all in, {days} d kept':<26}" + "".join(f"{_usd(m.all_in):>14}" for m in at.values()))
    say(f"   with batches of 1 (a trickle of traffic), REST API: ${small.total:.2f} ({_line_items(small)})")

    rows: list[Row] = []
    for door, m in by_door.items():
        rows.append(
            Row(
                f"cost per million webhooks ({door})",
                m.total,
                TARGETS[door],
                "$/M",
                1.0,
                note=f"reference: the ${TARGETS[door]:.2f} target of issue 16 (not a measurement); line items: "
                f"{_line_items(m)}. "
                + (
                    f"{quantities}. Counts measured by figure 8's run with router_first_attempt on (the default; "
                    f"N={counts.n}): no sender invocation for a first-try success; {assumptions}. {PRICE_TEXT}"
                    if door == "REST API"
                    else "the same pipeline and quantities, this front door's first-tier price"
                ),
            )
        )
    for door, m in by_door.items():
        rows.append(
            Row(
                f"  all in ({door}): {retention:g} d kept, PITR, data out",
                m.all_in,
                m.total,
                "$/M",
                note=f"reference: the bench-scope price; added: {_extras(m)} ({base.stored_bytes:.0f} B "
                f"stored per webhook for the stage's retention, HOOKWAY_RETENTION_SECONDS, the items' TTL; "
                f"{DELIVERY_BYTES} B out per delivery)",
            )
        )
    for rate in RATES:
        for door, m in by_door.items():
            monthly = m.monthly(door, rate)
            rows.append(
                Row(
                    f"  a month at {rate:,}/s ({door}), all in",
                    monthly,
                    None,
                    "$",
                    note=f"{rate * SECONDS_PER_MONTH / 1e9:.2f} B webhooks a month; the front door at its volume "
                    f"tiers (${front_door_per_m(door, rate * SECONDS_PER_MONTH):.2f}/M blended); "
                    f"{retention:g} days kept",
                )
            )
    reference_door = "function URL"
    for days in RETENTIONS_DAYS:
        if days == retention:
            continue
        kept = replace(by_door[reference_door], retention_days=days)
        rows.append(
            Row(
                f"  all in ({reference_door}), {days} d kept",
                kept.all_in,
                by_door[reference_door].all_in,
                "$/M",
                note=f"reference: the default retention ({retention:g} d); HOOKWAY_RETENTION_SECONDS per stage "
                f"(1 hour to 34 days) sets the items' TTL; storage and PITR: {_extras(kept)}",
            )
        )
    rows += [
        Row(
            "log bytes per delivered webhook",
            base.log_bytes,
            None,
            "B",
            LOG_BYTES_TARGET,
            at_most=True,
            note="what the api, the router and the sender write for one webhook at the default level (INFO), "
            f"measured by figure 8 with full batches: only the EMF metric lines, a batch's share each; plus "
            f"{PLATFORM_LOG_BYTES} B of Lambda's own lines (system log level WARN: no START/END/REPORT). A line "
            "per message or per attempt is DEBUG; WARNING lines (failures) carry their ids",
        ),
        Row(
            "  of which DynamoDB",
            base.dollars["DynamoDB"],
            BUDGET,
            "$/M",
            note=f"{base.wru:.2f} write units x ${DYNAMODB_WRU_PER_M}/M + {base.rru:.2f} read units x "
            f"${DYNAMODB_RRU_PER_M}/M (write units as measured in figure 8, indexes included); item sizes in "
            f"KB: message {_mean(counts, 'message item') / KB:.2f}, attempt {_mean(counts, 'attempt item') / KB:.2f}",
        ),
    ]
    say(
        f"   router_first_attempt off: {off.sqs_requests:.2f} SQS requests, {off.invocations:.2f} "
        f"invocations, {off.wru:.2f} write units per webhook; "
        + ", ".join(f"{d} ${m.total:.2f}" for d, m in doors(off).items())
    )
    for door, m in doors(off).items():
        rows.append(
            Row(
                f"cost per million webhooks ({door}), router_first_attempt off",
                m.total,
                by_door[door].total,
                "$/M",
                note=f"stage setting router_first_attempt off (every attempt on the sender); reference: the "
                f"same door by default (on); {off.sqs_requests:.2f} SQS requests (on {base.sqs_requests:.2f}), "
                f"{off.invocations:.2f} invocations (on {base.invocations:.2f}), {off.wru:.2f} write units "
                f"(on {base.wru:.2f}) per webhook, measured by figure 8's run with the setting off; line "
                f"items: {_line_items(m)}",
            )
        )
    rows += [
        Row(
            "cost per million, batches of 1",
            small.total,
            BUDGET,
            "$/M",
            note="the same with the triggers invoking per message (low traffic), REST API: 2 invocations and 2 "
            f"trigger SQS calls per webhook (the router makes the first attempt); {_line_items(small)}",
        ),
    ]
    return rows
