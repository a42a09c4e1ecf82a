"""``hookway messages ...``: search, show, body, attempts and tail of stored messages."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from hookway_cli.context import Context, listing
from hookway_cli.errors import UsageError
from hookway_cli.inputs import parse_time
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()
messages = verbs.group("messages", "messages (inbound webhooks and published events)")

COLUMNS = [
    ("id", "id"),
    ("received", "received_at"),
    ("source", "source_id"),
    ("event type", "event_type"),
    ("deliveries", "deliveries"),
]
ATTEMPT_COLUMNS = [
    ("started", "started_at"),
    ("endpoint", "endpoint_id"),
    ("#", "attempt"),
    ("status", "status"),
    ("code", "response_status"),
    ("ms", "duration_ms"),
    ("error", "error"),
]
STATUSES = ("succeeded", "failed", "pending", "skipped")  # a delivery summary's order in words
MESSAGE_ID = arg("message_id")
SEARCH_FILTERS = (
    arg("--application", help="application id or uid"),
    arg("--source", help="source id (api: published, hookway: operational)"),
    arg("--endpoint", help="endpoint id"),
    arg("--event-type", help="exact, or a prefix ending in .* (order.*)"),
    arg(
        "--status",
        choices=("pending", "succeeded", "failed", "skipped"),
        help="at least one delivery in this state",
    ),
    arg("--provider-id", help="the provider's delivery id"),
    arg("--after", help="received at or after: 2h, 30m, 1d ago, Unix seconds or ISO 8601"),
    arg("--before", help="received before (same forms)"),
)


def _search_query(ctx: Context) -> dict[str, Any]:
    a = ctx.args
    now = ctx.now()
    return {
        "application": a.application,
        "source": a.source,
        "endpoint": a.endpoint,
        "event_type": a.event_type,
        "status": a.status,
        "provider_id": a.provider_id,
        "after": int(parse_time(a.after, now)) if a.after else None,
        "before": int(parse_time(a.before, now)) if a.before else None,
    }


def deliveries_text(message: Mapping[str, Any]) -> str:
    """A message's delivery summary in words: ``2 succeeded, 1 pending``; ``no endpoint`` when none."""
    summary = message.get("delivery_summary") or {}
    parts = [f"{n} {status}" for status in STATUSES if (n := summary.get(status))]
    return ", ".join(parts) or ("no endpoint" if summary else "-")


@messages.command(
    "list",
    "search messages, newest first",
    *SEARCH_FILTERS,
    arg("--limit", type=int, default=50, help="at most this many (default 50)"),
)
def list_messages(ctx: Context) -> int:
    """A search, newest first, as a table (``--json``: ``{"data": [...]}`` as the API gave them)."""
    if ctx.args.limit < 1:
        raise UsageError("--limit must be at least 1")
    query = {**_search_query(ctx), "limit": min(ctx.args.limit, 200)}
    items = ctx.client.pages(ctx.client.list_messages, query, limit=ctx.args.limit)
    ctx.out.table([{**m, "deliveries": deliveries_text(m)} for m in items], COLUMNS, {"data": items})
    return 0


@messages.command("show", "one message with its deliveries", MESSAGE_ID)
def show_message(ctx: Context) -> int:
    """One message as fields, then its deliveries as a table."""
    doc = ctx.client.get_message(ctx.args.message_id)
    if ctx.out.as_json:
        ctx.out.json(doc)
        return 0
    shown = {k: v for k, v in doc.items() if k not in ("deliveries", "delivery_summary")}
    ctx.out.fields({**shown, "deliveries": deliveries_text(doc)})
    ctx.out.line("")
    ctx.out.table(
        doc.get("deliveries", []),
        [("endpoint", "endpoint_id"), ("status", "status"), ("attempts", "attempts")],
    )
    return 0


@messages.command(
    "body",
    "the stored body, byte for byte",
    MESSAGE_ID,
    arg("-o", "--output", help="write to this file (else stdout)"),
)
def body(ctx: Context) -> int:
    """The bytes as stored. JSON: ``{"id", "content_type", "sha256", "body_base64"}``."""
    import base64

    resp = ctx.client.message_body(ctx.args.message_id)
    if ctx.out.as_json:
        ctx.out.json(
            {
                "id": ctx.args.message_id,
                "content_type": resp.headers.get("hookway-content-type"),
                "sha256": resp.headers.get("hookway-body-sha256"),
                "body_base64": base64.b64encode(resp.body).decode(),
            }
        )
    elif ctx.args.output:
        try:
            with open(ctx.args.output, "wb") as out:
                out.write(resp.body)
        except OSError as exc:
            raise UsageError(f"cannot write {ctx.args.output}: {exc.strerror}") from None
    else:
        ctx.out.body(resp.body)
    return 0


@messages.command("attempts", "every attempt to deliver a message", MESSAGE_ID)
def attempts(ctx: Context) -> int:
    """Every attempt, as a table."""
    return listing(ctx, functools.partial(ctx.client.list_attempts, ctx.args.message_id), ATTEMPT_COLUMNS)


@messages.command(
    "tail",
    "follow new messages as they are stored",
    *SEARCH_FILTERS,
    arg("--interval", type=float, default=2.0, help="seconds between polls (default 2)"),
    arg("--count", type=int, help="stop after this many messages"),
)
def tail(ctx: Context) -> int:
    """Follow new messages: one line (or one JSON object per line with ``--json``) per message."""
    from hookway_cli.output import cell

    query = _search_query(ctx)
    since = query["after"] or int(ctx.now())
    seen: set[str] = set()
    shown = 0
    if not ctx.out.as_json:
        ctx.out.line("\t".join(h for h, _ in COLUMNS))
    while True:
        page = ctx.client.list_messages({**query, "after": since, "limit": 200})
        fresh = [m for m in reversed(page.get("data", [])) if m["id"] not in seen]
        for message in fresh:
            seen.add(message["id"])
            if ctx.out.as_json:
                ctx.out.json_line(message)
            else:
                row = {**message, "deliveries": deliveries_text(message)}
                ctx.out.line("\t".join(cell(row, key) for _, key in COLUMNS))
            shown += 1
            if ctx.args.count is not None and shown >= ctx.args.count:
                return 0
        ctx.wait(ctx.args.interval)
