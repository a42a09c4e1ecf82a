"""Figure 9: what a million webhooks cost on AWS, from figure 8's counts and AWS's public prices.

A webhook here is received (API Gateway REST API + the API Lambda), stored (router Lambda, DynamoDB) and
delivered once to one endpoint on the first try (sender Lambda), with a 1 KB JSON body. The AWS calls, the
DynamoDB capacity units (table and ``gsi1``), the SQS 64 KB request chunks and the bytes written to the logs
are the ones figure 8 measured against moto (``bench.delivery_calls.measure``, shared with figure 8 when
both run). Durations and a few other quantities are assumptions, printed with the result.

Not included: free tiers, storage (DynamoDB GB-month and point-in-time recovery for 30 days of retention,
S3 for bodies over the claim-check size), data transfer out to the endpoints, CloudWatch metrics/alarms, the
event source mapping's empty long polls while a queue is idle, and the cold starts' SSM read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from bench import delivery_calls
from bench.delivery_calls import ESM_BATCH, KB, SQS_CHUNK, Counts
from bench.report import Row, say
from infra.stack import MEMORY

PRICES_AS_OF = "2024-11"
REGION = "us-east-1"
APIGW_REST_PER_M = 3.50  # REST API requests, first 333 million a month
APIGW_HTTP_PER_M = (
    1.00  # HTTP API requests, first 300 million a month (metered per 512 KB: a 1 KB webhook is 1)
)
LAMBDA_REQUEST_PER_M = 0.20
LAMBDA_GB_SECOND = 0.0000133334  # arm64, every function's default architecture (x86_64: 0.0000166667)
SQS_STANDARD_PER_M = 0.40  # per million requests; each 64 KB chunk of a payload is one request
DYNAMODB_WRU_PER_M = 0.625  # on-demand, after the November 2024 price cut
DYNAMODB_RRU_PER_M = 0.125
LOGS_INGESTION_PER_GB = 0.50

# infra/stack.py MEMORY, chosen from figure 18's measurements
MEMORY_GB = {
    "api": MEMORY["api_handler"] / 1024,
    "router": MEMORY["route_ingest"] / 1024,
    "sender": MEMORY["deliver"] / 1024,
}
SECONDS = {"api": 0.020, "router": 0.030, "sender": 0.100}  # per invocation (router/sender: per batch)
# START, END and REPORT lines (about 300 B per invocation) are Lambda's INFO system lines: every function's
# LoggingConfig sets the system level to WARN, so none is written.
PLATFORM_LOG_BYTES = 0
LOG_BYTES_TARGET = 300  # per delivered webhook at the default level (issue 16)
BUDGET = 5.50
HTTP_BUDGET = 3.30  # what Hookdeck charges per million at volume
MILLION = 1_000_000

PRICE_TEXT = (
    f"AWS list prices, {REGION}, as of {PRICES_AS_OF}, check before relying on them: API Gateway REST API "
    f"${APIGW_REST_PER_M:.2f}/million requests (first 333M), HTTP API ${APIGW_HTTP_PER_M:.2f}/million (first "
    f"300M, per 512 KB); Lambda ${LAMBDA_REQUEST_PER_M:.2f}/million "
    f"requests + ${LAMBDA_GB_SECOND:.10f}/GB-s (arm64); SQS standard ${SQS_STANDARD_PER_M:.2f}/million requests "
    f"(64 KB chunks); DynamoDB on-demand ${DYNAMODB_WRU_PER_M:.3f}/million write units, "
    f"${DYNAMODB_RRU_PER_M:.3f}/million read units; CloudWatch Logs ingestion ${LOGS_INGESTION_PER_GB:.2f}/GB"
)


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

    @property
    def dollars(self) -> dict[str, float]:
        """$ per million webhooks, by service."""
        return {
            "API Gateway": self.api_requests * self.api_price,
            "Lambda": self.invocations * LAMBDA_REQUEST_PER_M + self.gb_seconds * MILLION * LAMBDA_GB_SECOND,
            "SQS": self.sqs_requests * SQS_STANDARD_PER_M,
            "DynamoDB": self.wru * DYNAMODB_WRU_PER_M + self.rru * DYNAMODB_RRU_PER_M,
            "CloudWatch Logs": self.log_bytes * MILLION / 1e9 * LOGS_INGESTION_PER_GB,
        }

    @property
    def total(self) -> float:
        """$ per million webhooks."""
        return sum(self.dollars.values())


def model(counts: Counts, *, batch: int = ESM_BATCH, seconds: dict[str, float] = SECONDS) -> Model:
    """The cost model for a batch size of the two SQS triggers and per-invocation durations."""
    n = counts.n
    stages = counts.stages
    invocations = {"api": 1.0, "router": 1 / batch, "sender": 1 / batch}
    ours_sqs = sum(sum(s.sqs_chunks.values()) for s in stages.values()) / n
    envelope = _mean(counts, "ingest envelope")
    task = _mean(counts, "delivery task")
    # The trigger, per batch and queue: one ReceiveMessage (billed per 64 KB of what it returns) + one delete.
    esm = (math.ceil(batch * envelope / SQS_CHUNK) + 1 + math.ceil(batch * task / SQS_CHUNK) + 1) / batch
    output = sum(s.stdout_bytes + s.log_bytes for s in stages.values()) / n
    return Model(
        batch=batch,
        api_requests=1.0,
        invocations=sum(invocations.values()),
        gb_seconds=sum(invocations[s] * seconds[s] * MEMORY_GB[s] for s in invocations),
        sqs_requests=ours_sqs + esm,
        wru=sum(counts.total("wcu").values()) / n,
        rru=sum(counts.total("rcu").values()) / n,
        log_bytes=output + PLATFORM_LOG_BYTES * sum(invocations.values()),
    )


def _mean(counts: Counts, what: str) -> float:
    values = counts.sizes.get(what) or [0]
    return sum(values) / len(values)


def _breakdown(m: Model) -> str:
    return ", ".join(f"{name} ${dollars:.2f}" for name, dollars in m.dollars.items())


def run(quick: bool) -> list[Row]:
    """Compute and print figure 9; return its table rows."""
    say("== 9. cost of a million webhooks (received, stored, delivered once to one endpoint)")
    counts = delivery_calls.measure(quick)
    say(f"   {PRICE_TEXT}")
    base = model(counts)
    measured = {
        name: stage.seconds / stage.invocations for name, stage in counts.stages.items() if stage.invocations
    }
    on_moto = model(counts, seconds=measured)
    small = model(counts, batch=1)
    assumptions = (
        f"arm64 functions of api {MEMORY['api_handler']} MB, router {MEMORY['route_ingest']} MB, sender "
        f"{MEMORY['deliver']} MB (infra/stack.py, figure 18); durations assumed per invocation: api "
        f"{SECONDS['api'] * 1000:.0f} ms, router {SECONDS['router'] * 1000:.0f} ms and sender "
        f"{SECONDS['sender'] * 1000:.0f} ms per batch; both SQS triggers get full batches of {ESM_BATCH}; "
        f"{PLATFORM_LOG_BYTES} B of Lambda platform log lines per invocation (system log level WARN); "
        "logs at the default level (INFO); 1 KB JSON body; free tiers, "
        "storage, PITR, data transfer and idle polling not included"
    )
    quantities = (
        f"per webhook: {base.api_requests:g} API request, {base.invocations:.2f} Lambda invocations, "
        f"{base.gb_seconds * 1000:.1f} GB-ms, {base.sqs_requests:.2f} SQS requests, {base.wru:.2f} DynamoDB "
        f"write units, {base.rru:.2f} read units, {base.log_bytes:.0f} B of logs"
    )
    say(f"   {quantities}")
    say(f"   assumptions: {assumptions}")
    for name, dollars in base.dollars.items():
        say(f"   {name:<16} ${dollars:6.2f} per million webhooks")
    say(f"   total            ${base.total:6.2f} per million webhooks (target: under ${BUDGET:.2f})")
    say(
        f"   with the durations measured here against moto (api {measured['api'] * 1000:.0f} ms, router "
        f"{measured['router'] * 1000:.0f} ms, sender {measured['sender'] * 1000:.0f} ms per invocation): "
        f"${on_moto.total:.2f}; with batches of 1 (a trickle of traffic): ${small.total:.2f} ({_breakdown(small)})"
    )
    http = replace(base, api_price=APIGW_HTTP_PER_M)
    say(
        f"   front door HTTP API (the http_api option: POST /in on an HTTP API): ${http.total:.2f} per million "
        f"(target: under ${HTTP_BUDGET:.2f}); {_breakdown(http)}"
    )
    dynamo_share = base.dollars["DynamoDB"]
    return [
        Row(
            "cost per million webhooks (REST API)",
            base.total,
            BUDGET,
            "$/M",
            1.0,
            note=f"reference: the ${BUDGET:.2f} budget (not a measurement); by service: {_breakdown(base)}. "
            f"{quantities}. Counts measured by figure 8 (N={counts.n}); {assumptions}. {PRICE_TEXT}",
        ),
        Row(
            "cost per million webhooks (HTTP API)",
            http.total,
            HTTP_BUDGET,
            "$/M",
            1.0,
            note=f"reference: the ${HTTP_BUDGET:.2f} target (Hookdeck at volume; not a measurement); the same "
            f"pipeline with POST /in on an HTTP API at ${APIGW_HTTP_PER_M:.2f}/M; by service: {_breakdown(http)}",
        ),
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
            dynamo_share,
            BUDGET,
            "$/M",
            note=f"{base.wru:.2f} write units x ${DYNAMODB_WRU_PER_M}/M + {base.rru:.2f} read units x "
            f"${DYNAMODB_RRU_PER_M}/M (write units as measured in figure 8, gsi1 included); item sizes in "
            f"KB: message {_mean(counts, 'message item') / KB:.2f}, attempt {_mean(counts, 'attempt item') / KB:.2f}",
        ),
        Row(
            "cost per million, batches of 1",
            small.total,
            BUDGET,
            "$/M",
            note="the same with the triggers invoking per message (low traffic): 3 invocations and 4 trigger "
            f"SQS calls per webhook; {_breakdown(small)}",
        ),
    ]
