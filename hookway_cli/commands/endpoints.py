"""``hookway endpoints ...``: outbound endpoints, their state, their signing secret and a test event."""

from __future__ import annotations

from typing import Any

from hookway_cli.context import Context, listing, show
from hookway_cli.errors import ApiError, UsageError
from hookway_cli.inputs import read_json_arg
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()
endpoints = verbs.group("endpoints", "outbound endpoints (receivers Hookway delivers to)")

COLUMNS = [
    ("id", "id"),
    ("url", "url"),
    ("enabled", "enabled"),
    ("application", "application_id"),
    ("event types", "filter.event_types"),
    ("sources", "filter.sources"),
]
ENDPOINT_ID = arg("endpoint_id")
FLOW_ARGS = (
    arg("--throttle-rate", metavar="N|none", help="at most N attempts a second to it (none: no limit)"),
    arg("--ordering", choices=["none", "fifo"], help="delivery order (fifo: one at a time, in order)"),
    arg(
        "--circuit-breaker",
        metavar="FAILURES/SECONDS|default",
        help="open the circuit after FAILURES failures in a row, then probe every SECONDS (default: the deployment's)",
    ),
)


def flow_doc(a: Any) -> dict[str, Any]:
    """The flow-control fields of a create or update body, from the flags given (the API checks them)."""
    doc: dict[str, Any] = {}
    if a.throttle_rate is not None:
        rate = a.throttle_rate.strip().lower()
        doc["throttle_rate"] = None if rate in ("none", "off", "") else _whole(rate, "--throttle-rate")
    if a.ordering is not None:
        doc["ordering"] = a.ordering
    if a.circuit_breaker is not None:
        text = a.circuit_breaker.strip().lower()
        if text == "default":
            doc["circuit_breaker"] = None
        else:
            failures, _, seconds = text.partition("/")
            doc["circuit_breaker"] = {
                "failures": _whole(failures, "--circuit-breaker"),
                "probe_seconds": _whole(seconds, "--circuit-breaker"),
            }
    return doc


def _whole(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a whole number") from None


@endpoints.command(
    "list",
    "list one owner's endpoints",
    arg("--application", help="that application's endpoints (else the operator's own)"),
)
def list_endpoints(ctx: Context) -> int:
    """One owner's endpoints, as a table."""
    return listing(ctx, ctx.client.list_endpoints, COLUMNS, {"application": ctx.args.application})


@endpoints.command(
    "create",
    "create an endpoint",
    arg("endpoint_url", metavar="URL", help="where to deliver"),
    arg("--application"),
    arg("--description"),
    arg("--event-type", action="append", default=[], help="event-type filter (repeatable, * allowed)"),
    arg("--source", action="append", default=[], help="source filter (repeatable)"),
    arg("--payload-filter", metavar="JSON", help="an EventBridge event pattern (inline, @file or @-)"),
    arg("--signing", help="standard (default), standard-ed25519, github, passthrough"),
    arg("--secret", help="the signing secret to use (whsec_...; default: Hookway makes one)"),
    *FLOW_ARGS,
)
def create(ctx: Context) -> int:
    """Create an endpoint; prints it."""
    a = ctx.args
    doc: dict[str, Any] = {"url": a.endpoint_url}
    for key, value in (
        ("application", a.application),
        ("description", a.description),
        ("signing", a.signing),
        ("secret", a.secret),
    ):
        if value:
            doc[key] = value
    if a.event_type or a.source or a.payload_filter:
        doc["filter"] = {"event_types": a.event_type, "sources": a.source}
    if a.payload_filter:
        from hookway_cli.inputs import read_json_arg

        doc["filter"]["payload"] = read_json_arg(a.payload_filter, ctx.stdin, "--payload-filter")
    doc.update(flow_doc(a))
    return show(ctx, ctx.client.create_endpoint(doc))


@endpoints.command(
    "update",
    "change an endpoint's flow control (throttle, ordering, circuit breaker)",
    ENDPOINT_ID,
    *FLOW_ARGS,
)
def update(ctx: Context) -> int:
    """PATCH the flow-control flags given; prints the endpoint (with its circuit's state)."""
    doc = flow_doc(ctx.args)
    if not doc:
        raise UsageError("give --throttle-rate, --ordering or --circuit-breaker")
    return show(ctx, ctx.client.update_endpoint(ctx.args.endpoint_id, doc))


@endpoints.command("show", "one endpoint", ENDPOINT_ID)
def show_endpoint(ctx: Context) -> int:
    """One endpoint."""
    return show(ctx, ctx.client.get_endpoint(ctx.args.endpoint_id))


@endpoints.command("enable", "enable an endpoint (clears its failure clock)", ENDPOINT_ID)
def enable(ctx: Context) -> int:
    """Enable an endpoint; prints it."""
    return show(ctx, ctx.client.enable_endpoint(ctx.args.endpoint_id))


@endpoints.command("disable", "disable an endpoint", ENDPOINT_ID)
def disable(ctx: Context) -> int:
    """Disable an endpoint; prints it."""
    return show(ctx, ctx.client.disable_endpoint(ctx.args.endpoint_id))


@endpoints.command(
    "rotate-secret",
    "rotate the signing secret",
    ENDPOINT_ID,
    arg("--retire-old-after", type=int, help="seconds the old secret keeps signing (default 1 day)"),
)
def rotate_secret(ctx: Context) -> int:
    """Rotate the signing secret; prints the API's answer."""
    doc = {} if ctx.args.retire_old_after is None else {"retire_old_after": ctx.args.retire_old_after}
    return show(ctx, ctx.client.rotate_endpoint_secret(ctx.args.endpoint_id, doc))


@endpoints.command(
    "transform",
    "set, switch off, remove or simulate an endpoint's JavaScript transformation",
    ENDPOINT_ID,
    arg("--file", metavar="CODE.js", help="the code: function handler(webhook) {...} (- for stdin)"),
    arg("--simulate", action="store_true", help="run it (or the endpoint's own) without sending anything"),
    arg("--message", metavar="MESSAGE_ID", help="--simulate on this stored message"),
    arg("--payload", help="--simulate on this payload: @file.json, @- for stdin, or inline JSON"),
    arg("--disable", action="store_true", help="keep the code but stop running it"),
    arg("--remove", action="store_true", help="remove the transformation"),
)
def transform(ctx: Context) -> int:
    """Set (``--file``), switch off (``--disable``) or remove (``--remove``) the endpoint's transformation,
    or ``--simulate`` it on ``--message`` or ``--payload``: prints the request that would be sent, the
    cancel or the error (exit 1 for an error)."""
    a = ctx.args
    code = _code(ctx, a.file) if a.file else None
    if a.simulate:
        if (a.message is None) == (a.payload is None):
            raise UsageError("--simulate takes one of --message and --payload")
        doc: dict[str, Any] = {"message_id": a.message} if a.message else {}
        if a.payload is not None:
            doc["payload"] = read_json_arg(a.payload, ctx.stdin, "--payload")
        if code is not None:
            doc["code"] = code
        result = ctx.client.simulate_transformation(a.endpoint_id, doc)
        outcome = result.get("outcome")
        if outcome == "request":
            request = result["request"]
            text = f"{request['method']} {request['url']}\n" + "".join(
                f"{k}: {v}\n" for k, v in request["headers"].items()
            )
            text += f"\n{request['body']}"
        elif outcome == "cancelled":
            text = "cancelled: the delivery would end skipped (cancelled_by_transformation)"
        else:
            text = f"transformation_error: {result.get('error')}"
        ctx.out.result(result, text=text)
        return 1 if outcome == "failed" else 0
    if a.remove:
        change: Any = None
    elif code is not None or a.disable:
        if code is None:
            current = ctx.client.get_endpoint(a.endpoint_id).get("transformation")
            if current is None:
                raise UsageError("the endpoint has no transformation to disable")
            code = current["code"]
        change = {"code": code, "enabled": not a.disable}
    else:
        raise UsageError("give --file, --disable, --remove or --simulate")
    return show(ctx, ctx.client.update_endpoint(a.endpoint_id, {"transformation": change}))


def _code(ctx: Context, name: str) -> str:
    from hookway_cli.capture import read_bytes

    raw = ctx.stdin.read().encode() if name == "-" else read_bytes(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None


@endpoints.command(
    "test",
    "send a test event to this endpoint only",
    ENDPOINT_ID,
    arg("--event-type", help="the event type (default: the first exact type in its filter)"),
    arg("--wait", type=float, default=0, metavar="SECONDS", help="wait for the delivery's outcome"),
)
def test(ctx: Context) -> int:
    """Send a test event to this one endpoint (``POST /v1/endpoints/{id}/test``), whatever its filter.

    ``--event-type`` picks the type (checked against the catalog like a publish); the default is
    ``hookway.test``. JSON: ``{"message_id", "endpoint_id", "event_type", "delivery"}`` (delivery: null
    unless ``--wait``).
    """
    endpoint_id = ctx.args.endpoint_id
    body: dict[str, Any] = {"payload": {"test": True, "endpoint_id": endpoint_id, "sent_at": int(ctx.now())}}
    if ctx.args.event_type:
        body["event_type"] = ctx.args.event_type
    sent = ctx.client.send_test_event(endpoint_id, body)
    message_id, endpoint_id = sent["id"], sent["endpoint_id"]
    delivery = _wait_delivery(ctx, message_id, endpoint_id, ctx.args.wait) if ctx.args.wait else None
    doc = {
        "message_id": message_id,
        "endpoint_id": endpoint_id,
        "event_type": ctx.args.event_type or "hookway.test",
        "delivery": delivery,
    }
    status = f": {delivery['status']}" if delivery else ""
    ctx.out.result(doc, text=f"sent test event {message_id} to {endpoint_id} only{status}")
    return 0 if delivery is None or delivery.get("status") == "succeeded" else 1


@endpoints.command(
    "test-filter",
    "does a filter take a message? (exit 0: it matches, 1: it does not)",
    arg("endpoint_id", nargs="?", help="use this endpoint's filter (the flags below replace its parts)"),
    arg("--payload-filter", metavar="JSON", help="an EventBridge event pattern (inline, @file or @-)"),
    arg("--event-type", action="append", default=None, help="event-type filter (repeatable, * allowed)"),
    arg("--source", action="append", default=None, help="source filter (repeatable)"),
    arg("--message-id", help="a stored message to match"),
    arg("--message", metavar="JSON", help='a message document {"event_type", "payload", ...} (@file, @-)'),
)
def test_filter(ctx: Context) -> int:
    """``POST /v1/filters/test``: prints whether the filter matches and, if not, the part that did not.

    JSON: the API's answer ``{"match", "document", "part"?, "path"?}``.
    """
    from hookway_cli.errors import UsageError
    from hookway_cli.inputs import read_json_arg

    a = ctx.args
    if (a.message_id is None) == (a.message is None):
        raise UsageError("give exactly one of --message-id and --message")
    flt: dict[str, Any] = {}
    if a.endpoint_id:
        flt = dict(ctx.client.get_endpoint(a.endpoint_id).get("filter") or {})
    if a.payload_filter is not None:
        flt["payload"] = read_json_arg(a.payload_filter, ctx.stdin, "--payload-filter")
    if a.event_type is not None:
        flt["event_types"] = a.event_type
    if a.source is not None:
        flt["sources"] = a.source
    doc: dict[str, Any] = {"filter": flt}
    if a.message_id is not None:
        doc["message_id"] = a.message_id
    else:
        doc["message"] = read_json_arg(a.message, ctx.stdin, "--message")
    answer = ctx.client.test_filter(doc)
    if answer.get("match"):
        text = "match"
    else:
        text = f"no match: {answer.get('part')}" + (f" ({answer['path']})" if answer.get("path") else "")
    ctx.out.result(answer, text=text)
    return 0 if answer.get("match") else 1


def _wait_delivery(ctx: Context, message_id: str, endpoint_id: str, timeout: float) -> dict[str, Any] | None:
    deadline = ctx.now() + timeout
    last: dict[str, Any] | None = None
    while True:
        try:
            message = ctx.client.get_message(message_id)
            last = next(
                (d for d in message.get("deliveries", []) if d.get("endpoint_id") == endpoint_id), last
            )
        except ApiError as exc:
            if exc.code != "message_not_yet_stored":
                raise
        if (last and last.get("status") != "pending") or ctx.now() >= deadline:
            return last
        ctx.wait(0.5)
