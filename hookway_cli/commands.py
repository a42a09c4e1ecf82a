"""One function per verb. Each gets a ``Context`` (the parsed arguments, a ``Client``, an ``Output``).

``--json`` prints the API's own answer unchanged for the verbs that make one call (its fields are the
API's, documented in docs/openapi.yaml); the verbs that compose calls (``whoami``, ``login``,
``trigger``, ``replay``, ``recover``, ``endpoints test``, ``verify``) print the fields named in their
function's docstring.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from hookway_cli import profiles
from hookway_cli.client import ApiError, Client, CliError, UsageError, path, urllib_transport
from hookway_cli.output import Output


@dataclass
class Context:
    """Everything a command may use; tests inject the transport, the clock and ``sleep``."""

    args: Any
    env: dict[str, str]
    stdout: IO[str]
    stderr: IO[str]
    stdin: IO[str]
    transport: Any = None
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], None] | None = None
    _client: Client | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.out = Output(self.stdout, self.stderr, as_json=self.opt("json", False), env=self.env)
        self.now = self.clock or time.time
        self.wait = self.sleep or time.sleep

    def opt(self, name: str, default: Any = None) -> Any:
        """An argument that may be absent (the common flags are SUPPRESSed until given)."""
        return getattr(self.args, name, default)

    def connection(self) -> profiles.Connection:
        """Where to connect (flags, environment, profile)."""
        return profiles.resolve(
            self.env, url=self.opt("url"), key=self.opt("key"), profile=self.opt("profile")
        )

    @property
    def client(self) -> Client:
        """The API client, made on first use."""
        if self._client is None:
            conn = self.connection()
            self._client = Client(conn.url, conn.key, self.transport or urllib_transport())
        return self._client


def run(ctx: Context) -> int:
    """Run the parsed command: 0 ok, 1 the API said no, 2 usage."""
    handler = globals()[ctx.args.handler]
    try:
        result = handler(ctx)
    except CliError as exc:
        ctx.out.error(_sentence(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.out.error("interrupted")
        return 130
    return int(result or 0)


def _sentence(text: str) -> str:
    text = text.strip() or "the API refused the request"
    return text if text.endswith((".", "!", "?")) else text + "."


# ----------------------------------------------------------------------------------------- helpers


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float) -> float:
    """``2h`` / ``30m`` / ``1d`` ago, Unix seconds, or ISO 8601 (UTC unless it says otherwise)."""
    from datetime import UTC, datetime

    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is not a time: use 2h, 30m, 1d, Unix seconds or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_json_arg(value: str, stdin: IO[str], what: str) -> Any:
    """``@file.json``, ``@-`` (stdin) or inline JSON."""
    from hookway_cli.capture import read_bytes

    if value == "@-":
        text = stdin.read()
    elif value.startswith("@"):
        raw = read_bytes(value[1:])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{value[1:]} is not UTF-8 text") from None
    else:
        text = value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def pairs(items: list[str], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` arguments as a dict (a value that parses as JSON is taken as JSON)."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE")
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def _show(ctx: Context, doc: Any) -> int:
    ctx.out.result(doc)
    return 0


SOURCE_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("scheme", "verification.scheme"),
    ("enabled", "enabled"),
    ("ingest url", "ingest_url"),
]
ENDPOINT_COLUMNS = [
    ("id", "id"),
    ("url", "url"),
    ("enabled", "enabled"),
    ("application", "application_id"),
    ("event types", "filter.event_types"),
    ("sources", "filter.sources"),
]
APPLICATION_COLUMNS = [("id", "id"), ("uid", "uid"), ("name", "name"), ("created", "created_at")]
EVENT_TYPE_COLUMNS = [("name", "name"), ("description", "description"), ("deprecated", "deprecated")]
MESSAGE_COLUMNS = [
    ("id", "id"),
    ("received", "received_at"),
    ("source", "source_id"),
    ("event type", "event_type"),
    ("deliveries", "deliveries"),
]
STATUSES = ("succeeded", "failed", "pending", "skipped")  # a delivery summary's order in words
ATTEMPT_COLUMNS = [
    ("started", "started_at"),
    ("endpoint", "endpoint_id"),
    ("#", "attempt"),
    ("status", "status"),
    ("code", "response_status"),
    ("ms", "duration_ms"),
    ("error", "error"),
]


def _listing(ctx: Context, route: str, columns: Any, query: Mapping[str, Any] | None = None) -> int:
    items = ctx.client.pages(route, query)
    ctx.out.table(items, columns, {"data": items})
    return 0


# ------------------------------------------------------------------------------------- connection


def login(ctx: Context) -> int:
    """Save a profile after checking the key works; the profile is ``--name`` or ``--profile`` (the same
    thing; default ``default``). JSON: ``{"profile", "url", "file"}``."""
    import getpass

    from hookway_cli.client import ConnectionFailed

    name, flag_profile = ctx.args.name, ctx.opt("profile")
    if name and flag_profile and name != flag_profile:
        raise UsageError(f"--name {name} and --profile {flag_profile} differ: give one")
    name = name or flag_profile or "default"
    # the profile may not exist yet: its saved URL is a default only when it does
    env = {k: v for k, v in ctx.env.items() if k != "HOOKWAY_PROFILE"}
    known = name in profiles.load(env)["profiles"]
    conn = profiles.resolve(env, url=ctx.opt("url"), key=None, profile=name if known else None)
    key = ctx.opt("key") or ctx.env.get("HOOKWAY_ADMIN_KEY")
    if not key:
        if not getattr(ctx.stdin, "isatty", lambda: False)():
            raise UsageError("give the key with --key or HOOKWAY_ADMIN_KEY")
        key = getpass.getpass("admin key or portal token: ").strip()
    ctx._client = Client(conn.url, key, ctx.transport or urllib_transport())
    shown = profiles.key_hint(key)
    try:
        ctx.client.call("GET", "/v1/event-types", query={"limit": 1})  # any key may read the catalog
    except ApiError as exc:
        if exc.status in (401, 403):
            said = str(exc).rstrip(".") or exc.code
            raise ApiError(
                exc.status,
                exc.code,
                f"the API at {conn.url} did not accept the {shown} ({said});"
                f" check the key and run login again: profile {name} was not saved",
            ) from None
        raise
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"{exc}; the key was not checked and profile {name} was not saved") from None
    file = profiles.save(ctx.env, name, conn.url, key)
    ctx.out.result(
        {"profile": name, "url": conn.url, "file": str(file)},
        text=f"saved profile {name} for {conn.url} in {file}",
    )
    return 0


def whoami(ctx: Context) -> int:
    """Which API and key, and where each came from. JSON: ``{"url", "url_from", "key", "key_from",
    "profile", "role", "reachable"}`` (the key as kind and last four characters only)."""
    conn = ctx.connection()
    role, reachable = "unknown", False
    try:
        ctx.client.call("GET", "/v1/sources", query={"limit": 1})
        role, reachable = "operator", True
    except ApiError as exc:
        reachable = True
        role = {403: "application (portal token)", 401: "not accepted"}.get(exc.status, f"error {exc.code}")
    except CliError:
        role = "unreachable"
    doc = {
        "url": conn.url,
        "url_from": conn.url_from,
        "key": profiles.key_hint(conn.key),
        "key_from": conn.key_from,
        "profile": conn.profile,
        "role": role,
        "reachable": reachable,
    }
    ctx.out.result(doc)
    return 0 if role in ("operator", "application (portal token)") else 1


# -------------------------------------------------------------------------------------- sources


def sources_list(ctx: Context) -> int:
    return _listing(ctx, "/v1/sources", SOURCE_COLUMNS)


def sources_create(ctx: Context) -> int:
    a = ctx.args
    doc: dict[str, Any] = {"name": a.name, "verification": {"scheme": a.scheme, "secrets": a.secret}}
    if a.option:
        doc["verification"]["options"] = pairs(a.option, "--option")
    if a.application:
        doc["application"] = a.application
    return _show(ctx, ctx.client.call("POST", "/v1/sources", body=doc))


def sources_show(ctx: Context) -> int:
    return _show(ctx, ctx.client.call("GET", path("/v1/sources/{}", ctx.args.source_id)))


def sources_add_secret(ctx: Context) -> int:
    doc: dict[str, Any] = {"secret": ctx.args.secret}
    if ctx.args.retire_others_after is not None:
        doc["retire_others_after"] = ctx.args.retire_others_after
    answer = ctx.client.call("POST", path("/v1/sources/{}/secrets", ctx.args.source_id), body=doc)
    ctx.out.result(answer, text=f"added secret {answer['secret'].get('id')} to {answer['source_id']}")
    return 0


def sources_retire_secret(ctx: Context) -> int:
    a = ctx.args
    ctx.client.call("DELETE", path("/v1/sources/{}/secrets/{}", a.source_id, a.secret_id))
    ctx.out.result(
        {"source_id": a.source_id, "secret_id": a.secret_id, "retired": True},
        text=f"retired secret {a.secret_id} of {a.source_id}",
    )
    return 0


def sources_rejections(ctx: Context) -> int:
    doc = ctx.client.call("GET", path("/v1/sources/{}/rejections", ctx.args.source_id))
    if ctx.out.as_json:
        ctx.out.json(doc)
        return 0
    counts = doc.get("counts") or {}
    ctx.out.line("counts: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    items = doc.get("data") or doc.get("rejections") or []
    ctx.out.table(items, [("at", "at"), ("reason", "code"), ("ip", "source_ip"), ("message", "message")])
    return 0


# ------------------------------------------------------------------------------------ endpoints


def endpoints_list(ctx: Context) -> int:
    return _listing(ctx, "/v1/endpoints", ENDPOINT_COLUMNS, {"application": ctx.args.application})


def endpoints_create(ctx: Context) -> int:
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
    if a.event_type or a.source:
        doc["filter"] = {"event_types": a.event_type, "sources": a.source}
    return _show(ctx, ctx.client.call("POST", "/v1/endpoints", body=doc))


def endpoints_show(ctx: Context) -> int:
    return _show(ctx, ctx.client.call("GET", path("/v1/endpoints/{}", ctx.args.endpoint_id)))


def endpoints_enable(ctx: Context) -> int:
    return _show(ctx, ctx.client.call("POST", path("/v1/endpoints/{}/enable", ctx.args.endpoint_id)))


def endpoints_disable(ctx: Context) -> int:
    return _show(ctx, ctx.client.call("POST", path("/v1/endpoints/{}/disable", ctx.args.endpoint_id)))


def endpoints_rotate_secret(ctx: Context) -> int:
    doc = {} if ctx.args.retire_old_after is None else {"retire_old_after": ctx.args.retire_old_after}
    return _show(
        ctx, ctx.client.call("POST", path("/v1/endpoints/{}/secret/rotate", ctx.args.endpoint_id), body=doc)
    )


def endpoints_test(ctx: Context) -> int:
    """Send a test event to this one endpoint (``POST /v1/endpoints/{id}/test``), whatever its filter.

    ``--event-type`` picks the type (checked against the catalog like a publish); the default is
    ``hookway.test``. JSON: ``{"message_id", "endpoint_id", "event_type", "delivery"}`` (delivery: null
    unless ``--wait``).
    """
    endpoint_id = ctx.args.endpoint_id
    body: dict[str, Any] = {"payload": {"test": True, "endpoint_id": endpoint_id, "sent_at": int(ctx.now())}}
    if ctx.args.event_type:
        body["event_type"] = ctx.args.event_type
    sent = ctx.client.call("POST", path("/v1/endpoints/{}/test", endpoint_id), body=body)
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


def _wait_delivery(ctx: Context, message_id: str, endpoint_id: str, timeout: float) -> dict[str, Any] | None:
    deadline = ctx.now() + timeout
    last: dict[str, Any] | None = None
    while True:
        try:
            message = ctx.client.call("GET", path("/v1/messages/{}", message_id))
            last = next(
                (d for d in message.get("deliveries", []) if d.get("endpoint_id") == endpoint_id), last
            )
        except ApiError as exc:
            if exc.code != "message_not_yet_stored":
                raise
        if (last and last.get("status") != "pending") or ctx.now() >= deadline:
            return last
        ctx.wait(0.5)


# --------------------------------------------------------------------------------- applications


def applications_list(ctx: Context) -> int:
    return _listing(ctx, "/v1/applications", APPLICATION_COLUMNS)


def applications_create(ctx: Context) -> int:
    a = ctx.args
    doc: dict[str, Any] = {"name": a.name}
    if a.uid:
        doc["uid"] = a.uid
    if a.metadata:
        doc["metadata"] = {
            k: str(v) if not isinstance(v, str) else v for k, v in pairs(a.metadata, "--metadata").items()
        }
    return _show(ctx, ctx.client.call("POST", "/v1/applications", body=doc))


def applications_delete(ctx: Context) -> int:
    """Delete an application now, and its endpoints by a job the API runs (``--wait`` follows it)."""
    job = ctx.client.call("DELETE", path("/v1/applications/{}", ctx.args.application_id))
    return _job_result(ctx, job, f"endpoints of {ctx.args.application_id} deleted")


def applications_portal_url(ctx: Context) -> int:
    a = ctx.args
    doc = ctx.client.call(
        "POST",
        path("/v1/applications/{}/portal-access", a.application_id),
        body={"expires_in": a.expires_in, "read_only": a.read_only},
    )
    ctx.out.result(doc, text=doc["url"])
    return 0


# ---------------------------------------------------------------------------------- event types


def event_types_list(ctx: Context) -> int:
    return _listing(ctx, "/v1/event-types", EVENT_TYPE_COLUMNS)


def event_types_show(ctx: Context) -> int:
    return _show(ctx, ctx.client.call("GET", path("/v1/event-types/{}", ctx.args.name)))


def event_types_create(ctx: Context) -> int:
    doc: dict[str, Any] = {"name": ctx.args.name, "description": ctx.args.description}
    if ctx.args.schema:
        doc["schema"] = read_json_arg(ctx.args.schema, ctx.stdin, "--schema")
    return _show(ctx, ctx.client.call("POST", "/v1/event-types", body=doc))


# ------------------------------------------------------------------------------ send and trigger


def send(ctx: Context) -> int:
    a = ctx.args
    doc: dict[str, Any] = {"event_type": a.event_type, "payload": read_json_arg(a.data, ctx.stdin, "--data")}
    if a.application:
        doc["application"] = a.application
    headers = {"Idempotency-Key": a.idempotency_key} if a.idempotency_key else None
    answer = ctx.client.call("POST", "/v1/messages", body=doc, headers=headers)
    ctx.out.result(answer, text=answer["id"])
    return 0


def _canonical_or_none(scheme: str) -> str | None:
    from chalicelib.verification import VerificationError, canonical_scheme

    try:
        return canonical_scheme(scheme)
    except VerificationError:
        return None


def trigger(ctx: Context) -> int:
    """Send a signed sample webhook to a source's ingest URL. JSON: ``{"source_id", "scheme", "event",
    "delivery_id", "status", "message_id", "reason"}`` (reason: the rejection code, if rejected)."""
    from chalicelib.verification import canonical_scheme
    from hookway_cli.signers import default_event, sign

    a = ctx.args
    event = a.event or default_event(a.scheme)  # an unknown scheme is a usage error here
    secret = a.secret or ctx.env.get("HOOKWAY_TRIGGER_SECRET")
    if not secret:
        raise UsageError(
            "give the source's secret with --secret or HOOKWAY_TRIGGER_SECRET (the API never shows it)"
        )
    source = ctx.client.call("GET", path("/v1/sources/{}", a.source))
    verification = source.get("verification") or {}
    scheme = verification.get("scheme")
    if _canonical_or_none(str(scheme)) != canonical_scheme(a.scheme):
        raise UsageError(f"source {a.source} verifies {scheme!r}, not {a.scheme!r}")
    options = verification.get("options") or {}
    # Schemes that sign the URL sign the one the provider was configured with (signed_url), else the ingest's.
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


# ------------------------------------------------------------------------------------- messages


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


def _with_deliveries(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**m, "deliveries": deliveries_text(m)} for m in messages]


def messages_list(ctx: Context) -> int:
    if ctx.args.limit < 1:
        raise UsageError("--limit must be at least 1")
    query = {**_search_query(ctx), "limit": min(ctx.args.limit, 200)}
    items = ctx.client.pages("/v1/messages", query, limit=ctx.args.limit)
    ctx.out.table(_with_deliveries(items), MESSAGE_COLUMNS, {"data": items})
    return 0


def messages_show(ctx: Context) -> int:
    doc = ctx.client.call("GET", path("/v1/messages/{}", ctx.args.message_id))
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


def messages_body(ctx: Context) -> int:
    """The bytes as stored. JSON: ``{"id", "content_type", "sha256", "body_base64"}``."""
    import base64

    resp = ctx.client.call("GET", path("/v1/messages/{}/body", ctx.args.message_id), raw=True)
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


def messages_attempts(ctx: Context) -> int:
    return _listing(ctx, path("/v1/messages/{}/attempts", ctx.args.message_id), ATTEMPT_COLUMNS)


def messages_tail(ctx: Context) -> int:
    """Follow new messages: one line (or one JSON object per line with ``--json``) per message."""
    query = _search_query(ctx)
    since = query["after"] or int(ctx.now())
    seen: set[str] = set()
    shown = 0
    if not ctx.out.as_json:
        ctx.out.line("\t".join(h for h, _ in MESSAGE_COLUMNS))
    while True:
        page = ctx.client.call("GET", "/v1/messages", query={**query, "after": since, "limit": 200})
        fresh = [m for m in reversed(page.get("data", [])) if m["id"] not in seen]
        for message in fresh:
            seen.add(message["id"])
            if ctx.out.as_json:
                ctx.out.json_line(message)
            else:
                from hookway_cli.output import cell

                row = {**message, "deliveries": deliveries_text(message)}
                ctx.out.line("\t".join(cell(row, key) for _, key in MESSAGE_COLUMNS))
            shown += 1
            if ctx.args.count is not None and shown >= ctx.args.count:
                return 0
        ctx.wait(ctx.args.interval)


# -------------------------------------------------------------------------------------- recovery


def resend(ctx: Context) -> int:
    body = {"endpoint_ids": ctx.args.endpoint} if ctx.args.endpoint else {}
    answer = ctx.client.call("POST", path("/v1/messages/{}/resend", ctx.args.message_id), body=body)
    ctx.out.result(
        answer, text=f"queued {answer['id']} again to {', '.join(answer['endpoint_ids']) or 'no endpoint'}"
    )
    return 0


def recover(ctx: Context) -> int:
    """Start a job that queues again what an endpoint missed since a time; ``--wait`` follows the job with
    a progress bar. JSON: the job (``{"id", "kind", "state", "done", "total", ...}``), as it ended with
    ``--wait``."""
    since = int(parse_time(ctx.args.since, ctx.now()))
    body: dict[str, Any] = {"since": since}
    if ctx.args.include_unmatched:
        body["include_unmatched"] = True
    job = ctx.client.call("POST", path("/v1/endpoints/{}/recover", ctx.args.endpoint), body=body)
    return _job_result(ctx, job, f"deliveries to {ctx.args.endpoint} queued again")


class _Progress:
    """A rich progress bar on a terminal; a line per change when piped; nothing with ``--json``."""

    def __init__(self, ctx: Context, total: int | None, label: str = "delivering") -> None:
        self.ctx, self.total, self.last = ctx, total, -1
        self.bar: Any = None
        if ctx.out.rich:
            from rich.progress import Progress

            self.bar = Progress(console=ctx.out.console())
            self.task = self.bar.add_task(label, total=total)
            self.bar.start()

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=self.total)
        elif done != self.last and not self.ctx.out.as_json:
            self.ctx.out.note(f"{done}/{self.total if self.total is not None else '?'} done")
        self.last = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


JOB_ENDED = ("succeeded", "failed")


def _job_text(job: Mapping[str, Any], what: str) -> str:
    total = job.get("total")
    count = f"{job.get('done', 0)}/{total}" if total is not None else str(job.get("done", 0))
    text = f"{job.get('id')} {job.get('kind')} {job.get('state')}: {count} {what}"
    error = job.get("error")
    if isinstance(error, dict):
        text += f" ({error.get('code')}: {error.get('message')})"
    return text


def _job_result(ctx: Context, job: dict[str, Any], what: str) -> int:
    """Show a started job; with ``--wait SECONDS`` follow it until it ends (progress on stderr). Exit
    status 1 if it failed, 0 otherwise (a job still running when the wait is over included)."""
    wait = float(ctx.opt("wait", 0) or 0)
    if wait > 0 and job.get("state") not in JOB_ENDED:
        job = _follow_job(ctx, str(job["id"]), wait)
    ctx.out.result(job, text=_job_text(job, what))
    return 1 if job.get("state") == "failed" else 0


def _follow_job(ctx: Context, job_id: str, timeout: float) -> dict[str, Any]:
    """Poll a job until it ends (or time runs out), showing its progress."""
    deadline = ctx.now() + timeout
    progress: _Progress | None = None
    try:
        while True:
            job: dict[str, Any] = ctx.client.call("GET", path("/v1/jobs/{}", job_id))
            if progress is None:
                progress = _Progress(ctx, job.get("total"), "job")  # never an API string: rich renders markup
            progress.update(int(job.get("done") or 0), job.get("total"))
            if job.get("state") in JOB_ENDED or ctx.now() >= deadline:
                return job
            ctx.wait(0.5)
    finally:
        if progress is not None:
            progress.close()


def jobs_show(ctx: Context) -> int:
    """One background job; ``--wait SECONDS`` follows it until it ends."""
    job = ctx.client.call("GET", path("/v1/jobs/{}", ctx.args.job_id))
    return _job_result(ctx, job, "done")


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
    ctx.client.call("GET", path("/v1/endpoints/{}", a.endpoint))  # a clear 404 before any work
    messages = ctx.client.pages(
        "/v1/messages", {"source": a.source, "after": since, "before": until, "limit": 200}
    )
    if not ctx.out.as_json:
        ctx.out.line(
            f"{len(messages)} messages from {a.source} in that range"
            + (" (dry run: nothing sent)" if a.dry_run else "")
        )
    job: dict[str, Any] | None = None
    if not a.dry_run:
        job = ctx.client.call(
            "POST",
            path("/v1/endpoints/{}/replay", a.endpoint),
            body={"since": since, "until": until, "source": a.source},
        )
        if float(ctx.opt("wait", 0) or 0) > 0:
            job = _follow_job(ctx, str(job["id"]), float(a.wait))
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
        ctx.out.line(_job_text(job, f"messages queued to {a.endpoint}"))
    return 1 if job is not None and job.get("state") == "failed" else 0


# ---------------------------------------------------------------------------------------- listen


def listen(ctx: Context) -> int:
    """Pull a listen session's deliveries and POST each to ``--forward`` with its headers (Standard
    Webhooks signature included) and body, then report the local answer as the attempt's outcome. The
    same command run again resumes its session (``hookway_cli/listen.py``). One line per delivery; JSON:
    one object per line ``{"time", "event_type", "message_id", "attempt", "status", "error_class",
    "duration_ms", "outcome"}``."""
    from hookway_cli.listen import Listener

    return Listener(ctx).run()


# ---------------------------------------------------------------------------------------- verify


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
