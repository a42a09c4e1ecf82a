"""``hookway send`` (publish an event) and ``hookway trigger`` (a sample provider webhook, signed, to a
source's ingest URL): the two ways to put a message in from the command line."""

from __future__ import annotations

from typing import Any

from hookway_cli.context import Context
from hookway_cli.errors import ApiError, UsageError
from hookway_cli.inputs import read_json_arg
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()


@verbs.command(
    "send",
    "publish an event",
    arg("--event-type", required=True),
    arg("--data", required=True, help="the payload: @file.json, @- for stdin, or inline JSON"),
    arg("--application"),
    arg("--idempotency-key"),
)
def send(ctx: Context) -> int:
    """Publish an event; prints the message id (``--json``: the API's answer)."""
    a = ctx.args
    doc: dict[str, Any] = {"event_type": a.event_type, "payload": read_json_arg(a.data, ctx.stdin, "--data")}
    if a.application:
        doc["application"] = a.application
    answer = ctx.client.publish(doc, a.idempotency_key)
    ctx.out.result(answer, text=answer["id"])
    return 0


@verbs.command(
    "trigger",
    "send a sample provider webhook, signed, to a source",
    arg("scheme", help="any verification scheme: each has a signed sample"),
    arg("event", nargs="?", help="the provider's event name (the scheme's sample event by default)"),
    arg("--source", required=True, help="the source to send it to"),
    arg("--secret", help="the source's secret (else HOOKWAY_TRIGGER_SECRET); the API never shows it"),
)
def trigger(ctx: Context) -> int:
    """Send a signed sample webhook to a source's ingest URL. JSON: ``{"source_id", "scheme", "event",
    "delivery_id", "status", "message_id", "reason"}`` (reason: the rejection code, if rejected)."""
    from chalicelib.verification import VerificationError, canonical_scheme
    from hookway_cli.signers import default_event, sign

    a = ctx.args
    event = a.event or default_event(a.scheme)  # an unknown scheme is a usage error here
    secret = a.secret or ctx.env.get("HOOKWAY_TRIGGER_SECRET")
    if not secret:
        raise UsageError(
            "give the source's secret with --secret or HOOKWAY_TRIGGER_SECRET (the API never shows it)"
        )
    source = ctx.client.get_source(a.source)
    verification = source.get("verification") or {}
    scheme = verification.get("scheme")
    try:
        same = canonical_scheme(str(scheme)) == canonical_scheme(a.scheme)
    except VerificationError:
        same = False
    if not same:
        raise UsageError(f"source {a.source} verifies {scheme!r}, not {a.scheme!r}")
    options = verification.get("options") or {}
    # A scheme that signs the URL signs the one the provider was configured with (signed_url), else the ingest's.
    url = options.get("signed_url") or source["ingest_url"]
    sample = sign(a.scheme, secret, event, int(ctx.now()), url, options)
    resp = ctx.client.post_raw(source["ingest_url"], sample.headers, sample.body)
    answer: Any
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    reason = (answer.get("error") or {}).get("code") if resp.status >= 400 else None
    doc = {
        "source_id": a.source,
        "scheme": a.scheme,
        "event": sample.event,
        "delivery_id": sample.delivery_id,
        "status": resp.status,
        "message_id": answer.get("id"),
        "reason": reason,
    }
    if resp.status >= 400:
        if ctx.out.as_json:
            ctx.out.json(doc)
        message = (answer.get("error") or {}).get("message") or f"HTTP {resp.status}"
        raise ApiError(
            resp.status, reason or "rejected", f"the source rejected the webhook ({reason}): {message}"
        )
    ctx.out.result(
        doc,
        text=f"{resp.status} {answer.get('id')} ({a.scheme} {sample.event}, delivery {sample.delivery_id})",
    )
    return 0
