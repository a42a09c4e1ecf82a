"""``hookway verify``: check a captured request against a scheme and its secrets, offline, with the pure
verification package (``chalicelib.verification``, shipped with the CLI); says what it compared."""

from __future__ import annotations

from hookway_cli.context import Context
from hookway_cli.errors import UsageError
from hookway_cli.inputs import pairs
from hookway_cli.verbs import Verbs, arg

verbs = Verbs()


@verbs.command(
    "verify",
    "check a captured request against a scheme and secret, offline",
    arg("--scheme", required=True),
    arg("--secret", action="append", default=[], required=True, help="repeatable (rotation)"),
    arg("--request", help="a raw HTTP dump: request line, headers, blank line, body"),
    arg("--headers", help="a file of `Name: value` lines"),
    arg("--body", help="a file with the body bytes"),
    arg("--request-url", help="the full URL the sender addressed (Twilio and Square sign it)"),
    arg("--tolerance", type=int, help="seconds (default: the scheme's)"),
    arg("--at", type=float, help="check as at this Unix time (a capture from the past)"),
    arg("--option", action="append", default=[], metavar="KEY=VALUE"),
)
def verify(ctx: Context) -> int:
    """Check a captured request offline. JSON: ``{"valid", "scheme", "reason", "message", "compared",
    "delivery_id", "timestamp", "event_type"}``; never the expected signature."""
    from hookway_cli import capture
    from hookway_cli.explain import compared

    a = ctx.args
    if a.request and (a.headers or a.body):
        raise UsageError("give either --request or --headers with --body, not both")
    if a.request:
        captured = capture.from_dump(a.request)
    elif a.headers and a.body:
        captured = capture.from_files(a.headers, a.body)
    else:
        raise UsageError("give --request DUMP, or --headers FILE and --body FILE")
    from chalicelib.verification import VerificationError
    from chalicelib.verification import verify as check

    url = a.request_url or (
        f"https://hooks.example.invalid{captured.target}"
        if captured.target
        else "https://hooks.example.invalid/"
    )
    now = a.at if a.at is not None else ctx.now()
    base = {
        "valid": False,
        "scheme": a.scheme,
        "compared": compared(a.scheme, captured, len(a.secret), now, a.tolerance),
        "delivery_id": None,
        "timestamp": None,
        "event_type": None,
    }
    try:
        verified = check(
            a.scheme,
            secrets=a.secret,
            method=captured.method,
            url=url,
            headers=captured.headers,
            body=captured.body,
            now=now,
            tolerance=a.tolerance,
            options=pairs(a.option, "--option"),
        )
    except VerificationError as exc:
        doc = {**base, "reason": exc.reason, "message": str(exc)}
        if ctx.out.as_json:
            ctx.out.json(doc)
        else:
            ctx.out.line(f"invalid: {exc.reason}: {exc}", style="bold red")
            for line in doc["compared"]:
                ctx.out.line(f"  {line}")
        return 1
    doc = {
        **base,
        "valid": True,
        "reason": None,
        "message": "the signature matches",
        "delivery_id": verified.delivery_id,
        "timestamp": verified.timestamp,
        "event_type": verified.event_type,
    }
    if ctx.out.as_json:
        ctx.out.json(doc)
    else:
        said = [
            f"{what} {value}"
            for what, value in (("delivery", verified.delivery_id), ("event", verified.event_type))
            if value not in (None, "")
        ]
        ctx.out.line(
            f"valid: {a.scheme} signature matches" + (f" ({', '.join(said)})" if said else ""),
            style="bold green",
        )
        for line in doc["compared"]:
            ctx.out.line(f"  {line}")
    return 0
