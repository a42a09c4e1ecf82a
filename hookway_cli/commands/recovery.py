"""``hookway resend``, ``recover`` and ``replay``: sending again what was stored, one message, what an
endpoint missed, or a source's time range."""

from __future__ import annotations

from typing import Any

from hookway_cli.commands.jobs import follow_job, job_result, job_text, wait_arg
from hookway_cli.context import Context
from hookway_cli.errors import UsageError
from hookway_cli.inputs import parse_time
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()


@verbs.command(
    "resend",
    "one more attempt of a message to its endpoints",
    arg("message_id"),
    arg("--endpoint", action="append", default=[], help="only this endpoint (repeatable)"),
)
def resend(ctx: Context) -> int:
    """Queue one more attempt; prints where it went (``--json``: the API's answer)."""
    body = {"endpoint_ids": ctx.args.endpoint} if ctx.args.endpoint else {}
    answer = ctx.client.resend_message(ctx.args.message_id, body)
    ctx.out.result(
        answer, text=f"queued {answer['id']} again to {', '.join(answer['endpoint_ids']) or 'no endpoint'}"
    )
    return 0


@verbs.command(
    "recover",
    "send again what an endpoint missed (failed or skipped)",
    arg("--endpoint", required=True),
    arg("--since", required=True, help="2h, 30m, 1d ago, Unix seconds or ISO 8601"),
    arg(
        "--include-unmatched",
        action="store_true",
        help="also send messages since then that matched no endpoint and that its filter takes",
    ),
    wait_arg("follow the job, with progress"),
)
def recover(ctx: Context) -> int:
    """Start a job that queues again what an endpoint missed since a time; ``--wait`` follows the job with
    a progress bar. JSON: the job (``{"id", "kind", "state", "done", "total", ...}``), as it ended with
    ``--wait``."""
    since = int(parse_time(ctx.args.since, ctx.now()))
    body: dict[str, Any] = {"since": since}
    if ctx.args.include_unmatched:
        body["include_unmatched"] = True
    job = ctx.client.recover_endpoint(ctx.args.endpoint, body)
    return job_result(ctx, job, f"deliveries to {ctx.args.endpoint} queued again")


@verbs.command(
    "replay",
    "send a source's messages of a time range to an endpoint again",
    arg("--source", required=True),
    arg("--since", required=True),
    arg("--until", help="default: now"),
    arg("--endpoint", required=True),
    arg("--dry-run", action="store_true", help="count only"),
    wait_arg("follow the job, with progress"),
)
def replay(ctx: Context) -> int:
    """A source's messages received in [since, until) sent again to one endpoint, by a job the API runs:
    the count first, then the job (the count only with ``--dry-run``). JSON: ``{"source_id",
    "endpoint_id", "since", "until", "count", "dry_run", "job"}`` (``job`` null on a dry run)."""
    a = ctx.args
    now = ctx.now()
    since = int(parse_time(a.since, now))
    until = int(parse_time(a.until, now)) if a.until else int(now) + 1
    if until <= since:
        raise UsageError("--until must be later than --since")
    ctx.client.get_endpoint(a.endpoint)  # a clear 404 before any work
    messages = ctx.client.pages(
        ctx.client.list_messages, {"source": a.source, "after": since, "before": until, "limit": 200}
    )
    if not ctx.out.as_json:
        ctx.out.line(
            f"{len(messages)} messages from {a.source} in that range"
            + (" (dry run: nothing sent)" if a.dry_run else "")
        )
    job: dict[str, Any] | None = None
    if not a.dry_run:
        job = ctx.client.replay_to_endpoint(a.endpoint, {"since": since, "until": until, "source": a.source})
        if float(ctx.opt("wait", 0) or 0) > 0:
            job = follow_job(ctx, str(job["id"]), float(a.wait))
    doc = {
        "source_id": a.source,
        "endpoint_id": a.endpoint,
        "since": since,
        "until": until,
        "count": len(messages),
        "dry_run": a.dry_run,
        "job": job,
    }
    if ctx.out.as_json:
        ctx.out.json(doc)
    elif job is not None:
        ctx.out.line(job_text(job, f"messages queued to {a.endpoint}"))
    return 1 if job is not None and job.get("state") == "failed" else 0
