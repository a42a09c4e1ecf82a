"""``hookway listen``: pull a listen session's deliveries and forward them to a local URL.

Two things make it survive a laptop's life:

* **It remembers its session.** The session id is kept in the config directory
  (``listen-sessions.json``, mode 0600), keyed by the API, the profile, the forward URL and the filters.
  Run the same command again (after Ctrl-C, a crash, a reboot) and it resumes that session while it is
  alive, so the deliveries that waited meanwhile arrive; ``--new`` opens a fresh one, ``--session ep_...``
  names one.
* **It rides out transient errors.** A reset or refused connection, a timeout, a 5xx or a 429 while
  polling or reporting is retried with capped exponential backoff and jitter (0.5 s doubling to 30 s,
  each wait between half and all of its step), saying so on stderr, until it works again or Ctrl-C. Other
  answers (401, 403, the session's end) stop it with the API's sentence.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from hookway_cli.backoff import Backoff, transient
from hookway_cli.errors import ApiError, CliError, ConnectionFailed, UsageError
from hookway_cli.output import when
from hookway_cli.sessions import SessionMemory

if TYPE_CHECKING:
    from hookway_cli.context import Context

T = TypeVar("T")

RESUME_MARGIN = 60.0  # a session ending sooner than this is not resumed: a fresh one is opened


class Listener:
    """One ``hookway listen`` run; see the module docstring."""

    def __init__(self, ctx: Context, backoff: Backoff | None = None) -> None:
        self.ctx = ctx
        self.a = ctx.args
        self.backoff = backoff or Backoff()
        self.memory = SessionMemory(ctx.env)
        self.key = ""

    def run(self) -> int:
        """Open or resume the session, then pull, forward and report until ``--count`` or Ctrl-C."""
        a, out = self.a, self.ctx.out
        if not a.forward.startswith(("http://", "https://")):
            raise UsageError("--forward is an http:// or https:// URL")
        if a.session and a.new:
            raise UsageError("give --session or --new, not both")
        self.key = SessionMemory.key(self.ctx.connection(), a.forward, a.events, a.source, a.application)
        session = self._session()
        try:
            return self._loop(session)
        except KeyboardInterrupt:
            out.note(
                f"stopped; deliveries wait for session {session['id']} until {when(session['expires_at'])}:"
                " run the same command again to receive them (--new starts afresh)"
            )
            return 130
        except ApiError as exc:
            if exc.code in ("session_expired", "session_not_found"):
                self.memory.forget(self.key)
            raise

    def _session(self) -> dict[str, Any]:
        a, out, client = self.a, self.ctx.out, self.ctx.client
        wanted = a.session or (None if a.new else self.memory.recall(self.key))
        if wanted:
            session = self._alive(wanted, explicit=bool(a.session))
            if session is not None:
                secret = self._secret(session["id"])
                out.note(
                    f"resumed listen session {session['id']} (open until {when(session['expires_at'])});"
                    f" forwarding to {a.forward}"
                    + (f"; deliveries are signed with {secret}" if secret else "")
                )
                self._remember(session)
                return session
        doc: dict[str, Any] = {"expires_in": a.expires_in}
        if a.events or a.source:
            doc["filter"] = {"event_types": a.events, "sources": a.source}
        if a.application:
            doc["application"] = a.application
        session = dict(client.open_listen_session(doc))
        out.note(
            f"listen session {session['id']} open until {time.strftime('%H:%M:%S', time.localtime(session['expires_at']))}"
            f"; forwarding to {a.forward}; deliveries are signed with {session['secret']}"
            " (the same command resumes it; --new starts afresh)"
        )
        self._remember(session)
        return session

    def _alive(self, session_id: str, *, explicit: bool) -> dict[str, Any] | None:
        """The session if it can be resumed; ``None`` (open a new one) if a remembered one has ended."""
        try:
            session = self.ctx.client.get_endpoint(session_id)
        except ApiError as exc:
            if explicit or exc.status not in (404, 410):
                raise
            self.memory.forget(self.key)
            return None
        if session.get("kind") != "listen":
            raise UsageError(f"{session_id} is not a listen session")
        expires_at = session.get("expires_at") or 0
        if expires_at - self.ctx.now() < (0 if explicit else RESUME_MARGIN):
            if explicit:
                raise UsageError(f"listen session {session_id} has ended; open a new one (drop --session)")
            self.memory.forget(self.key)
            self.ctx.out.note(f"listen session {session_id} has ended; opening a new one")
            return None
        return dict(session)

    def _secret(self, session_id: str) -> str | None:
        try:
            doc = self.ctx.client.get_endpoint_secret(session_id)
        except CliError:
            return None
        return doc.get("secret") if isinstance(doc, dict) else None

    def _remember(self, session: Mapping[str, Any]) -> None:
        try:
            self.memory.remember(self.key, session["id"], session.get("expires_at"), self.ctx.now())
        except OSError as exc:
            self.ctx.out.note(
                f"cannot remember the session in {self.memory.file} ({exc.strerror or exc});"
                f" resume it with --session {session['id']}"
            )

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, tried again after transient errors with backoff, saying so."""
        while True:
            try:
                result = call()
            except CliError as exc:
                if not transient(exc):
                    raise
                delay = self.backoff.next()
                self.ctx.out.note(f"{what}: {exc}; reconnecting in {delay:.1f} s (Ctrl-C stops)")
                self.ctx.wait(delay)
                continue
            if self.backoff.failures:
                self.ctx.out.note("reconnected")
                self.backoff.reset()
            return result

    def _loop(self, session: Mapping[str, Any]) -> int:
        a, ctx = self.a, self.ctx
        session_id = str(session["id"])
        cursor: str | None = None
        done = 0
        while True:
            query = {"cursor": cursor, "wait": a.poll_wait}
            page: dict[str, Any] = self._retrying(
                "polling failed", functools.partial(ctx.client.listen_deliveries, session_id, query)
            )
            cursor = page.get("next_cursor") or cursor
            for item in page.get("data", []):
                self._deliver(session_id, item)
                done += 1
                if a.count is not None and done >= a.count:
                    return 0

    def _deliver(self, session_id: str, item: Mapping[str, Any]) -> None:
        a, ctx = self.a, self.ctx
        body = base64.b64decode(item["body_base64"])
        started = time.monotonic()
        report: dict[str, Any]
        try:
            resp = ctx.client.post_raw(a.forward, item["headers"], body)
        except ConnectionFailed as exc:
            report = {"status": None, "error_class": "connect_error", "error": str(exc)[:300]}
        else:
            report = {"status": resp.status, "body_base64": base64.b64encode(resp.body[:4096]).decode()}
            if resp.headers.get("retry-after"):
                report["retry_after"] = resp.headers["retry-after"][:300]
        report["duration_ms"] = int((time.monotonic() - started) * 1000)
        try:
            answer = self._retrying(
                "reporting failed",
                functools.partial(ctx.client.report_listen_result, session_id, str(item["id"]), report),
            )
            outcome = answer.get("outcome")
        except ApiError as exc:
            # reported already (a retry after a lost answer), or ended meanwhile: nothing left to do
            if exc.code not in ("delivery_not_pending", "delivery_not_found"):
                raise
            outcome = exc.code
        line = {
            "time": time.strftime("%H:%M:%S"),
            "event_type": item.get("event_type"),
            "message_id": item["message_id"],
            "attempt": item["attempt"],
            "status": report["status"],
            "error_class": report.get("error_class"),
            "duration_ms": report["duration_ms"],
            "outcome": outcome,
        }
        if ctx.out.as_json:
            ctx.out.json_line(line)
            return
        shown = report["status"] if report["status"] is not None else report.get("error_class")
        ok = isinstance(report["status"], int) and 200 <= report["status"] < 300
        ctx.out.line(
            f"{line['time']}  {line['event_type'] or '-'}  {line['message_id']}  {shown}  {line['duration_ms']} ms",
            style="green" if ok else "red",
        )
